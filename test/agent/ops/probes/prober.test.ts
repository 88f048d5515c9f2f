// The prober's scheduling and bookkeeping on a simulated clock, with an in-memory transport that
// plays the network: the rate stays bounded whatever the peer count, a silent peer turns
// unreachable once past the threshold and reachable again (each logged once), and only replies
// that match our identifier, an outstanding sequence and the probed address count.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, mock, test } from "node:test";
import { createProber, probeSpacingMs, type Prober, type ProberOptions, type ReceiveListener } from "../../../../agent/ops/probes/prober.ts";
import type { ProbeTarget } from "../../../../agent/ops/probes/targets.ts";
import { createMemoryLog, type MemoryLog } from "../../../support/memory-log.ts";
import { replyTo } from "./echo-replies.ts";

interface Sent {
  readonly family: 4 | 6;
  readonly address: string;
  readonly message: Buffer;
  readonly at: number;
}

/** The network: records every request; answers at once from the probed address unless told not to. */
function simulatedNetwork() {
  const sent: Sent[] = [];
  const down = new Set<string>();
  const refused = new Set<string>();
  let receive: ReceiveListener = () => {};
  let closed = 0;
  return {
    sent,
    down,
    refused,
    get closed() {
      return closed;
    },
    deliver: (family: 4 | 6, source: string, packet: Buffer) => receive(family, source, packet),
    open: (listener: ReceiveListener) => {
      receive = listener;
      return {
        send(family: 4 | 6, address: string, message: Buffer, done: (error: Error | undefined) => void) {
          sent.push({ family, address, message, at: Date.now() });
          if (refused.has(address)) return done(new Error("ENETUNREACH"));
          done(undefined);
          if (!down.has(address)) receive(family, address, replyTo(family, message));
        },
        close: async () => void (closed += 1),
      };
    },
  };
}

/**
 * Advances the simulated clock in 10 ms steps: one big MockTimers.tick() runs every due timer with
 * Date.now() already at the end of the whole step, which would smear the send times.
 */
function advance(ms: number): void {
  for (let left = ms; left > 0; left -= 10) mock.timers.tick(Math.min(10, left));
}

const target = (n: number): ProbeTarget => ({ peer: `10.244.${n}.0/24`, family: 4, address: `10.244.${n}.0` });
const targets = (count: number): ProbeTarget[] => Array.from({ length: count }, (_, i) => target(i + 1));

describe("peer prober", () => {
  let log: MemoryLog;
  let prober: Prober | undefined;
  beforeEach(() => {
    mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
    log = createMemoryLog();
  });
  afterEach(async () => {
    await prober?.close();
    prober = undefined;
    mock.timers.reset();
  });
  const start = (network: ReturnType<typeof simulatedNetwork>, options: Partial<ProberOptions> = {}): Prober => {
    prober = createProber(network.open, { intervalMs: 10_000, unreachableAfterMs: 30_000, log, now: () => Date.now(), identifier: 0x4242, ...options });
    return prober;
  };

  test("the spacing spreads a round over the interval, but never exceeds maxPerSecond", () => {
    assert.equal(probeSpacingMs(5, 10_000, 50), 2000);
    assert.equal(probeSpacingMs(500, 10_000, 50), 20);
    assert.equal(probeSpacingMs(5000, 10_000, 50), 20);
    assert.equal(probeSpacingMs(0, 10_000, 50), 10_000);
  });

  test("a few peers are each probed once per interval, evenly spread", () => {
    const network = simulatedNetwork();
    start(network).setTargets(targets(5));
    advance(30_000);
    const perPeer = new Map<string, number[]>();
    for (const s of network.sent) perPeer.set(s.address, [...(perPeer.get(s.address) ?? []), s.at]);
    assert.equal(perPeer.size, 5);
    for (const [address, times] of perPeer) {
      assert.ok(times.length >= 3 && times.length <= 4, `${address}: ${times.length} probes in 3 intervals`);
      for (let i = 1; i < times.length; i++) assert.equal(times[i]! - times[i - 1]!, 10_000, `${address} probed every 10 s`);
    }
    const gaps = network.sent.slice(1).map((s, i) => s.at - network.sent[i]!.at);
    assert.ok(gaps.every((gap) => gap === 2000), `one probe every 2 s: ${gaps.join(",")}`);
  });

  test("5000 peers: never more than 50 probes in any second, and every peer is reached within a stretched round", () => {
    const network = simulatedNetwork();
    start(network).setTargets(targets(5000));
    advance(101_000);
    const times = network.sent.map((s) => s.at);
    for (let i = 50; i < times.length; i++) assert.ok(times[i]! - times[i - 50]! >= 1000, `51 probes within a second at index ${i}`);
    assert.ok(times.length >= 5000 && times.length <= 5051, `${times.length} probes in 101 s`);
    assert.equal(new Set(network.sent.map((s) => s.address)).size, 5000);
  });

  test("replacing the targets keeps the rate bound: no burst, and a kept peer keeps its counts", () => {
    const network = simulatedNetwork();
    const p = start(network);
    p.setTargets(targets(100));
    advance(3000);
    for (let i = 0; i < 20; i++) p.setTargets(targets(100 + i));
    advance(1000);
    const times = network.sent.map((s) => s.at);
    for (let i = 50; i < times.length; i++) assert.ok(times[i]! - times[i - 50]! >= 1000);
    const first = p.peers().find((s) => s.peer === "10.244.1.0/24")!;
    assert.ok(first.sent >= 1);
    p.setTargets([target(1)]);
    assert.equal(p.peers()[0]!.sent, first.sent);
  });

  test("a first peer after an idle start is probed at once, not after a whole interval", () => {
    const network = simulatedNetwork();
    const p = start(network);
    advance(100);
    p.setTargets([target(1)]);
    assert.equal(network.sent.length, 1);
  });

  test("targets read from a getter are read again each round: a new peer is probed within a round, a removed one is dropped", () => {
    const network = simulatedNetwork();
    let current = targets(2);
    let reads = 0;
    const p = start(network, {
      targets: () => {
        reads += 1;
        return current;
      },
    });
    advance(10_000);
    assert.ok(reads >= 2 && reads <= 3, `${reads} reads in one interval: once per round, not per probe`);
    current = [target(2), target(3)];
    // The round under way finishes on the old set; the next one takes the new set.
    advance(20_000);
    assert.deepEqual(p.peers().map((s) => s.address), ["10.244.2.0", "10.244.3.0"]);
    assert.ok(network.sent.some((s) => s.address === "10.244.3.0"), "the new peer, within two intervals");
    const before = network.sent.length;
    current = [];
    advance(20_000);
    assert.ok(network.sent.length - before <= 2, "nothing probed once the peers are gone (a round in progress may finish)");
    assert.deepEqual(p.peers(), []);
    current = [target(4)];
    advance(10_000);
    assert.ok(network.sent.some((s) => s.address === "10.244.4.0"), "picked up again on an idle tick");
  });

  test("answered probes give an RTT and no loss; onRtt sees each", () => {
    const network = simulatedNetwork();
    const p = start(network);
    const rtts: string[] = [];
    p.onRtt((peer, rtt) => rtts.push(`${peer} ${rtt}`));
    p.setTargets([target(1)]);
    advance(20_000);
    const [stats] = p.peers();
    assert.deepEqual({ ...stats, sent: stats!.sent >= 3 }, { peer: "10.244.1.0/24", address: "10.244.1.0", family: 4, sent: true, lost: 0, rttSeconds: 0, unreachableSinceMs: undefined });
    assert.equal(rtts.length, stats!.sent);
  });

  test("a silent peer is reported unreachable once past the threshold, and reachable again once it answers", () => {
    const network = simulatedNetwork();
    const p = start(network);
    p.setTargets([target(1), target(2)]);
    advance(10_000);
    network.down.add("10.244.2.0");
    const silentFrom = Date.now() + 5000; // target 2's next probe (every 10 s, offset 5 s)
    advance(30_000);
    assert.equal(log.find("unreachable").length, 0, "not yet: the threshold needs 30 s of silence");
    assert.equal(p.peers()[1]!.unreachableSinceMs, undefined);
    advance(10_000);
    const warnings = log.find("unreachable", "warn");
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.message, "peer 10.244.2.0/24 unreachable for 32 s");
    assert.equal(warnings[0]!.fields.peer, "10.244.2.0/24");
    const stats = p.peers()[1]!;
    assert.equal(stats.unreachableSinceMs, silentFrom);
    assert.equal(stats.lost, 4);
    assert.equal(p.peers()[0]!.unreachableSinceMs, undefined, "the other peer is unaffected");
    advance(60_000);
    assert.equal(log.find("unreachable", "warn").length, 1, "logged once, not on every loss");
    network.down.delete("10.244.2.0");
    advance(10_000);
    const recovered = log.find("reachable again", "info");
    assert.equal(recovered.length, 1);
    assert.match(recovered[0]!.message, /^peer 10\.244\.2\.0\/24 reachable again after 10[0-9] s$/);
    assert.equal(p.peers()[1]!.unreachableSinceMs, undefined);
    advance(30_000);
    assert.equal(log.find("reachable again").length, 1);
  });

  test("a send the kernel refuses counts as sent and lost, and leads to unreachable too", () => {
    const network = simulatedNetwork();
    network.refused.add("10.244.1.0");
    const p = start(network, { intervalMs: 1000, unreachableAfterMs: 3000 });
    p.setTargets([target(1)]);
    advance(4000);
    const stats = p.peers()[0]!;
    assert.equal(stats.sent, stats.lost);
    assert.ok(stats.unreachableSinceMs !== undefined);
    assert.equal(log.find("unreachable for 3 s", "warn").length, 1);
    assert.equal(log.find("probe not sent", "warn").length, 1, "the same refusal is a warning once, then debug");
    assert.ok(log.find("probe not sent", "debug").length >= 2);
  });

  test("a target getter that throws leaves the previous targets probed, with a warning", () => {
    const network = simulatedNetwork();
    let fail = false;
    start(network, {
      targets: () => {
        if (fail) throw new Error("lease set unavailable");
        return [target(1)];
      },
    });
    advance(10_000);
    fail = true;
    const before = network.sent.length;
    advance(30_000);
    assert.equal(network.sent.length - before, 3);
    assert.ok(log.find("could not read the probe targets", "warn").length >= 1);
  });

  test("replies that are not ours are ignored: other identifier, unknown or late sequence, other source address", () => {
    const network = simulatedNetwork();
    network.down.add("10.244.1.0");
    const p = start(network, { timeoutMs: 1000 });
    p.setTargets([target(1)]);
    const request = network.sent[0]!.message;
    const other = Buffer.from(request);
    other.writeUInt16BE(0x4243, 4);
    network.deliver(4, "10.244.1.0", replyTo(4, other));
    const unknown = Buffer.from(request);
    unknown.writeUInt16BE((request.readUInt16BE(6) + 7) & 0xffff, 6);
    network.deliver(4, "10.244.1.0", replyTo(4, unknown));
    network.deliver(4, "10.244.9.9", replyTo(4, request));
    network.deliver(4, "not an address", replyTo(4, request));
    assert.equal(p.peers()[0]!.rttSeconds, undefined, "none of these answered the probe");
    advance(1000);
    assert.equal(p.peers()[0]!.lost, 1);
    network.deliver(4, "10.244.1.0", replyTo(4, request));
    assert.equal(p.peers()[0]!.rttSeconds, undefined, "a reply after the timeout is not counted");
    advance(9000);
    const second = network.sent[1]!.message;
    advance(200);
    network.deliver(4, "10.244.1.0", replyTo(4, second));
    assert.equal(p.peers()[0]!.rttSeconds, 0.2, "the matching reply, 200 ms later");
    network.deliver(4, "10.244.1.0", replyTo(4, second));
    assert.equal(p.peers()[0]!.lost, 1, "a duplicate changes nothing");
  });

  test("a removed peer's state goes, and its outstanding probe's reply is ignored", () => {
    const network = simulatedNetwork();
    network.down.add("10.244.1.0");
    const p = start(network);
    p.setTargets([target(1)]);
    const request = network.sent[0]!.message;
    p.setTargets([]);
    network.deliver(4, "10.244.1.0", replyTo(4, request));
    assert.deepEqual(p.peers(), []);
    p.setTargets([target(1)]);
    assert.equal(p.peers()[0]!.rttSeconds, undefined);
  });

  test("close stops probing, closes the transport once and is idempotent", async () => {
    const network = simulatedNetwork();
    const p = start(network);
    p.setTargets(targets(3));
    await Promise.all([p.close(), p.close()]);
    const count = network.sent.length;
    advance(60_000);
    assert.equal(network.sent.length, count);
    assert.equal(network.closed, 1);
  });
});
