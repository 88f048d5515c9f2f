// The real raw-socket transport under the prober, in namespaces joined by a veth underlay, IPv4
// and IPv6: every target answers; a peer whose link is set down is reported unreachable within
// the probe window, per family, while the others stay reachable; it is reported reachable again
// once the link is back; another program's pings in the same namespace change nothing.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createUnderlay, type Underlay } from "../../../support/netns.ts";
import { waitFor } from "../../../support/process.ts";
import type { ManagedProcess } from "../../../support/process.ts";
import { lastStats, loggedLines, sentAddresses, startProbeRunner } from "./probe-output.ts";

const v6 = (i: number): string => `fd00:198:18::${i}`;
const intervalMs = 1000;
const unreachableAfterMs = 2000;
const timeoutMs = 500;
/** Unreachable is reported when a probe is lost after the threshold: at most one round + a timeout later. */
const windowMs = unreachableAfterMs + intervalMs + timeoutMs + 2000;

describe("peer probes over raw ICMP sockets in namespaces", () => {
  let underlay: Underlay | undefined;
  let runner: ManagedProcess | undefined;
  let addresses: string[] = [];
  before(async () => {
    underlay = await createUnderlay(3, { defaultRoute: false });
    for (const [i, node] of underlay.nodes.entries()) await node.ns.ip("addr", "add", `${v6(i + 1)}/64`, "dev", "eth0", "nodad");
    addresses = [underlay.nodes[1]!.address, v6(2), underlay.nodes[2]!.address, v6(3)];
    runner = startProbeRunner(underlay.nodes[0]!.ns.name, { backend: "vxlan", peers: [], addresses, intervalMs, unreachableAfterMs, timeoutMs });
  });
  after(async () => {
    await runner?.stop("SIGTERM", 3000);
    await underlay?.remove();
  });
  const output = (): string => runner?.output() ?? "";

  test("every target answers, in both families", async () => {
    const stats = await waitFor(
      () => {
        const current = lastStats(output());
        return addresses.every((address) => current.get(address)?.rttSeconds !== undefined) ? current : undefined;
      },
      { what: "an answer from every target", timeoutMs: 10_000, intervalMs: 100, process: runner! },
    );
    for (const address of addresses) {
      const entry = stats.get(address)!;
      assert.equal(entry.family, address.includes(":") ? 6 : 4);
      assert.ok(entry.rttSeconds! > 0 && entry.rttSeconds! < 0.5, `${address} rtt ${entry.rttSeconds}`);
      assert.equal(entry.unreachableSinceMs, undefined);
    }
  });

  test("a peer whose link goes down is reported unreachable within the probe window, per family, and alone", async () => {
    const node3 = underlay!.nodes[2]!;
    const downAt = Date.now();
    // Someone else pinging from the same namespace: their replies reach our raw socket too.
    const pinging = underlay!.nodes[0]!.ns.exec(["ping", "-c", "20", "-i", "0.2", underlay!.nodes[1]!.address], { allowFailure: true });
    await node3.ns.ip("link", "set", "eth0", "down");
    const warned = await waitFor(
      () => {
        const lines = loggedLines(output()).filter((line) => line.level === "warn" && line.message.includes("unreachable for"));
        return lines.length >= 2 ? lines : undefined;
      },
      { what: "both of node3's addresses reported unreachable", timeoutMs: windowMs + 2000, intervalMs: 100, process: runner! },
    );
    const elapsed = Date.now() - downAt;
    assert.ok(elapsed <= windowMs, `reported after ${elapsed} ms (window ${windowMs} ms)`);
    assert.deepEqual(warned.map((line) => line.address).sort(), [node3.address, v6(3)].sort());
    assert.match(warned[0]!.message, /^peer \S+ unreachable for [2-4] s$/);
    await pinging;
    const stats = lastStats(output());
    for (const address of [underlay!.nodes[1]!.address, v6(2)]) {
      assert.equal(stats.get(address)!.lost, 0, `${address} lost nothing`);
      assert.equal(stats.get(address)!.unreachableSinceMs, undefined);
    }
    assert.ok(stats.get(node3.address)!.unreachableSinceMs! >= downAt - intervalMs);
  });

  test("it is reported reachable again once the link is back, once", async () => {
    const node3 = underlay!.nodes[2]!;
    await node3.ns.ip("link", "set", "eth0", "up");
    // IPv6 drops the addresses of a link set down (keep_addr_on_down is 0 by default): put it back.
    await node3.ns.ip("addr", "replace", `${v6(3)}/64`, "dev", "eth0", "nodad");
    // The log line comes at the transition, the stats line a moment later (the runner prints them
    // on its own beat): wait for both.
    await waitFor(
      () =>
        (loggedLines(output()).filter((line) => line.message.includes("reachable again")).length >= 2 &&
          lastStats(output()).get(node3.address)?.unreachableSinceMs === undefined) ||
        undefined,
      { what: "node3 reachable again", timeoutMs: 10_000, intervalMs: 100, process: runner! },
    );
    assert.equal(loggedLines(output()).filter((line) => line.message.includes("unreachable for")).length, 2, "each transition logged once");
  });

  test("probes went to the targets and nowhere else", () => {
    assert.deepEqual([...sentAddresses(output())].sort(), [...addresses].sort());
  });

  test("without CAP_NET_RAW the probes refuse to start, naming the reason, rather than report every peer lost", async () => {
    const dropped = startProbeRunner(
      underlay!.nodes[0]!.ns.name,
      { backend: "vxlan", peers: [{ subnet: "10.244.3.0/24", publicIP: underlay!.nodes[2]!.address }], intervalMs, unreachableAfterMs },
      ["setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw"],
    );
    const exit = await dropped.exited;
    assert.equal(exit.code, 1);
    assert.match(dropped.output(), /FlannelError: cannot open a raw ICMPv4 socket for the peer probes: .*Operation not permitted/);
    assert.doesNotMatch(dropped.output(), /^SENT /m);
  });

  test("close releases the sockets and timers: the process ends by itself after SIGTERM", async () => {
    const exit = await runner!.stop("SIGTERM", 5000);
    assert.deepEqual(exit, { code: 0, signal: null }, output().split("\n").slice(-3).join("\n"));
    assert.ok(output().includes("CLOSED"));
  });
});
