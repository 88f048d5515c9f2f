// One probe target's record: counts, last round-trip time, and the reachable → unreachable →
// reachable transitions, decided from explicit times (the prober passes its clock's readings), so
// the rule is testable on its own. The rule: a target becomes unreachable when a probe is lost
// and nothing has answered since the first unanswered probe was sent, `unreachableAfterMs` ago
// or more; any answer makes it reachable again. Each transition is logged once.
import type { Log } from "../log.ts";
import type { ProbeTarget } from "./targets.ts";

/** What the metrics export per probe target (plain numbers; the prober keeps no metrics library). */
export interface PeerProbeStats {
  readonly peer: string;
  readonly address: string;
  readonly family: 4 | 6;
  /** Echo requests sent (a send the kernel refused counts, as sent and lost). */
  readonly sent: number;
  /** Requests not answered within the probe timeout, or refused by the kernel. */
  readonly lost: number;
  /** The last answered probe's round-trip time; undefined until one is answered. */
  readonly rttSeconds: number | undefined;
  /** While unreachable: when the silence began (ms since the epoch, the first unanswered send). */
  readonly unreachableSinceMs: number | undefined;
}

export interface PeerState {
  readonly target: ProbeTarget;
  sent(atMs: number): void;
  answered(atMs: number, rttSeconds: number): void;
  lost(atMs: number): void;
  stats(): PeerProbeStats;
}

const seconds = (ms: number): number => Math.round(ms / 1000);

export function createPeerState(target: ProbeTarget, unreachableAfterMs: number, log: Log): PeerState {
  let sent = 0;
  let lost = 0;
  let rttSeconds: number | undefined;
  /** When the first probe not answered since the last answer was sent; undefined while answered. */
  let silentSince: number | undefined;
  let unreachable = false;
  const fields = (): Record<string, unknown> => ({ peer: target.peer, address: target.address, sent, lost });

  return {
    target,
    sent(atMs) {
      sent += 1;
      silentSince ??= atMs;
    },
    answered(atMs, rtt) {
      rttSeconds = rtt;
      if (unreachable && silentSince !== undefined) {
        log.info(`peer ${target.peer} reachable again after ${seconds(atMs - silentSince)} s`, { ...fields(), rttSeconds: rtt });
      }
      unreachable = false;
      silentSince = undefined;
    },
    lost(atMs) {
      lost += 1;
      if (unreachable || silentSince === undefined) return;
      const silentMs = atMs - silentSince;
      if (silentMs < unreachableAfterMs) return;
      unreachable = true;
      log.warn(`peer ${target.peer} unreachable for ${seconds(silentMs)} s`, fields());
    },
    stats: () => ({
      peer: target.peer,
      address: target.address,
      family: target.family,
      sent,
      lost,
      rttSeconds,
      unreachableSinceMs: unreachable ? silentSince : undefined,
    }),
  };
}
