// What the agent says about peers coming and going. Like Flannel ("Subnet added: …"), one line per
// peer — while they come slowly. A burst (a node restarting into a 5000-node cluster, a re-list,
// thousands of nodes joining) gets one summary line per window instead, with the counts and the
// first few subnets: 5000 log lines cost the agent about a tenth of its CPU for the burst and
// tell the operator nothing the counts don't.
//
// The budget is per time window, not per batch: etcd delivers a burst of puts as thousands of
// one-event batches, which a per-batch rule logged line by line. Within a window the first
// `perPeerLogLimit` changes get their own lines; the rest are counted and summed up when the
// window ends (a timer, so the summary never waits for the next change) or at close().
import { formatCidr, formatIp } from "../../backends/net/ip.ts";
import type { LeaseChange } from "../subnet/lease-set.ts";
import type { Log } from "./log.ts";

/** Changes logged peer by peer within one window; the rest of the window is summed up. */
export const perPeerLogLimit = 10;
export const peerLogWindowMs = 1000;
const namedInSummary = 5;

export interface PeerChangeLog {
  record(changes: readonly LeaseChange[]): void;
  /** Logs the summary of the current window now, if anything was held back. Idempotent. */
  close(): void;
}

export interface PeerChangeLogOptions {
  readonly windowMs?: number;
  readonly now?: () => number;
}

interface Held {
  added: number;
  removed: number;
  firstAdded: string[];
  firstRemoved: string[];
}

const subnetOf = (change: LeaseChange): string => (change.lease.subnet === undefined ? "" : formatCidr(change.lease.subnet));

export function createPeerChangeLog(log: Log, options: PeerChangeLogOptions = {}): PeerChangeLog {
  const windowMs = options.windowMs ?? peerLogWindowMs;
  const now = options.now ?? (() => performance.now());
  let windowEnds = Number.NEGATIVE_INFINITY;
  let logged = 0;
  let held: Held | undefined;
  let timer: NodeJS.Timeout | undefined;

  const summarize = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (held === undefined) return;
    const { added, removed, firstAdded, firstRemoved } = held;
    held = undefined;
    log.info("peers changed", {
      added,
      removed,
      ...(added === 0 ? {} : { firstAdded }),
      ...(removed === 0 ? {} : { firstRemoved }),
    });
  };

  const hold = (change: LeaseChange): void => {
    if (held === undefined) {
      held = { added: 0, removed: 0, firstAdded: [], firstRemoved: [] };
      // The window's summary is due when it ends, whether or not another change comes.
      timer = setTimeout(summarize, Math.max(0, windowEnds - now()));
      timer.unref();
    }
    const names = change.kind === "added" ? held.firstAdded : held.firstRemoved;
    if (change.kind === "added") held.added += 1;
    else held.removed += 1;
    if (names.length < namedInSummary) names.push(subnetOf(change));
  };

  return {
    record(changes) {
      for (const change of changes) {
        if (now() >= windowEnds) {
          summarize();
          windowEnds = now() + windowMs;
          logged = 0;
        }
        if (logged < perPeerLogLimit) {
          logged += 1;
          log.info(change.kind === "added" ? "peer added" : "peer removed", { peer: subnetOf(change), publicIP: formatIp(change.lease.attrs.publicIP) });
        } else {
          hold(change);
        }
      }
    },
    close: summarize,
  };
}
