// The peer prober: one echo request at a time, round-robin over the targets, spaced so that a
// round over all of them takes `intervalMs` — but never closer than 1/maxPerSecond, so the rate
// stays bounded whatever the peer count (a round then takes count/maxPerSecond seconds). Replies
// are matched by identifier, marker, outstanding sequence number and source address; anything
// else the raw socket sees is ignored. The socket itself is the transport's (icmp-socket.ts):
// this file holds no library and runs with any transport, which the unit tests use.
import { randomInt } from "node:crypto";
import type { IpFamily } from "../../../backends/net/ip.ts";
import { formatIp, parseIp } from "../../../backends/net/ip.ts";
import type { Log } from "../log.ts";
import { buildEchoRequest, parseEchoReply } from "./icmp.ts";
import { createPeerState, type PeerProbeStats, type PeerState } from "./peer-state.ts";
import type { ProbeTarget } from "./targets.ts";

/** Sends echo requests and hands back every ICMP packet received, as raw bytes. */
export interface ProbeTransport {
  /** `done` gets the kernel's refusal (no route, …) or undefined once the request is out. */
  send(family: IpFamily, address: string, message: Buffer, done: (error: Error | undefined) => void): void;
  close(): Promise<void>;
}

/** Called by the transport for every packet its sockets receive. */
export type ReceiveListener = (family: IpFamily, source: string, packet: Uint8Array) => void;

export interface ProberOptions {
  /** A full round over every target, when the rate bound allows (flag --peer-probe-interval). */
  readonly intervalMs: number;
  /** Silence after which a target is reported unreachable (--peer-probe-unreachable-after). */
  readonly unreachableAfterMs: number;
  /** Upper bound on probes per second, whatever the target count. Default 50. */
  readonly maxPerSecond?: number;
  /** How long a probe waits for its answer. Default min(2 s, intervalMs). */
  readonly timeoutMs?: number;
  readonly log: Log;
  /** Milliseconds since the epoch, fractional (RTTs are sub-millisecond on a LAN). */
  readonly now?: () => number;
  /** The echo identifier; random by default. */
  readonly identifier?: number;
  /**
   * Where the targets come from, read again at the start of every round (and on every idle tick):
   * the daemon's lease events cost the prober nothing, and a new peer is probed within a round.
   */
  readonly targets?: () => readonly ProbeTarget[];
}

export interface ProbeStats {
  /** One entry per target (a dual-stack peer has two), in the peers' order. */
  peers(): readonly PeerProbeStats[];
  /** Every answered probe (for an RTT histogram without a per-peer label). */
  onRtt(listener: (peer: string, rttSeconds: number) => void): void;
}

export interface Prober extends ProbeStats {
  /** Replaces the target set now; a target that stays keeps its counts and state. */
  setTargets(targets: readonly ProbeTarget[]): void;
  /** Stops probing and closes the transport. Idempotent. */
  close(): Promise<void>;
}

/** Spacing between two probes for `count` targets. */
export function probeSpacingMs(count: number, intervalMs: number, maxPerSecond: number): number {
  return Math.max(intervalMs / Math.max(count, 1), 1000 / maxPerSecond);
}

interface Outstanding {
  readonly key: string;
  readonly address: string;
  readonly sentAt: number;
  readonly timer: NodeJS.Timeout;
}

const keyOf = (target: ProbeTarget): string => `${target.peer} ${target.address}`;

export function createProber(openTransport: (receive: ReceiveListener) => ProbeTransport, options: ProberOptions): Prober {
  const now = options.now ?? (() => performance.timeOrigin + performance.now());
  const maxPerSecond = options.maxPerSecond ?? 50;
  const timeoutMs = options.timeoutMs ?? Math.min(2000, options.intervalMs);
  const identifier = options.identifier ?? randomInt(0, 0x10000);
  const states = new Map<string, PeerState>();
  let order: PeerState[] = [];
  const outstanding = new Map<number, Outstanding>();
  const rttListeners: ((peer: string, rttSeconds: number) => void)[] = [];
  let sequence = randomInt(0, 0x10000);
  let cursor = 0;
  let timer: NodeJS.Timeout | undefined;
  /** The last tick found no target: the next probe may go at once without breaking the rate bound. */
  let idle = true;
  let closing: Promise<void> | undefined;
  const sendErrors = new Set<string>();

  const settle = (seq: number): Outstanding | undefined => {
    const entry = outstanding.get(seq);
    if (entry === undefined) return undefined;
    outstanding.delete(seq);
    clearTimeout(entry.timer);
    return entry;
  };
  const lose = (seq: number): void => {
    const entry = settle(seq);
    if (entry !== undefined) states.get(entry.key)?.lost(now());
  };

  const probe = (state: PeerState): void => {
    // 16 bits of sequence: at most maxPerSecond × timeout probes are ever outstanding.
    do sequence = (sequence + 1) & 0xffff;
    while (outstanding.has(sequence));
    const seq = sequence;
    const { family, address } = state.target;
    const sentAt = now();
    state.sent(sentAt);
    outstanding.set(seq, { key: keyOf(state.target), address, sentAt, timer: setTimeout(() => lose(seq), timeoutMs) });
    transport.send(family, address, buildEchoRequest(family, identifier, seq), (error) => {
      if (error === undefined) return;
      // The kernel's refusals (no route yet, a family without sockets) repeat every round: each
      // distinct one is worth a warning once, the rest are debug.
      const first = !sendErrors.has(error.message) && sendErrors.size < 100;
      if (first) sendErrors.add(error.message);
      options.log[first ? "warn" : "debug"]("probe not sent", { peer: state.target.peer, address, error: error.message });
      lose(seq);
    });
  };

  const replaceTargets = (targets: readonly ProbeTarget[]): void => {
    const next = new Map<string, PeerState>();
    for (const target of targets) {
      const key = keyOf(target);
      next.set(key, states.get(key) ?? next.get(key) ?? createPeerState(target, options.unreachableAfterMs, options.log));
    }
    states.clear();
    for (const [key, state] of next) states.set(key, state);
    order = [...next.values()];
  };

  const tick = (): void => {
    timer = undefined;
    if (closing !== undefined) return;
    if (cursor >= order.length) {
      cursor = 0;
      try {
        if (options.targets !== undefined) replaceTargets(options.targets());
      } catch (error) {
        // Keep probing the previous set: a timer callback must never throw out of the agent.
        options.log.warn("could not read the probe targets", { error: String(error) });
      }
    }
    idle = order.length === 0;
    if (!idle) {
      probe(order[cursor]!);
      cursor += 1;
    }
    timer = setTimeout(tick, probeSpacingMs(order.length, options.intervalMs, maxPerSecond));
  };

  const receive: ReceiveListener = (family, source, packet) => {
    const reply = parseEchoReply(family, packet);
    if (reply === undefined || reply.identifier !== identifier) return;
    const entry = outstanding.get(reply.sequence);
    const from = parseIp(source);
    // A reply from another address than the one probed is not an answer (a spoof, or a router's).
    if (entry === undefined || from === undefined || formatIp(from) !== entry.address) return;
    settle(reply.sequence);
    const state = states.get(entry.key);
    if (state === undefined) return;
    const at = now();
    const rtt = Math.max(0, at - entry.sentAt) / 1000;
    state.answered(at, rtt);
    for (const listener of rttListeners) listener(state.target.peer, rtt);
  };

  const transport = openTransport(receive);
  tick();
  return {
    setTargets(targets) {
      replaceTargets(targets);
      // A first target while idle: probe it now rather than after a whole idle interval.
      if (idle && order.length > 0 && closing === undefined) {
        clearTimeout(timer);
        tick();
      }
    },
    peers: () => order.map((state) => state.stats()),
    onRtt: (listener) => void rttListeners.push(listener),
    close() {
      closing ??= (async () => {
        clearTimeout(timer);
        for (const seq of [...outstanding.keys()]) settle(seq);
        await transport.close();
      })();
      return closing;
    },
  };
}
