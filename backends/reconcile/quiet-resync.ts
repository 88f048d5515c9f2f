// When a resync may skip reading the kernel altogether: the peers are the very objects of the last
// clean run, the kernel's change feed (kernel/change-feed.ts) vouches that nothing was filed under
// the backend's devices since the stamp taken before that run's dumps, and that run is less than
// five minutes old. The five minutes bound what a change the feed could not see (none is known: it
// turns untrusted on any line it cannot file) would cost; with 5000 peers the dumps the feed saves
// were most of an idle agent's CPU, and one full read a minute still cost an idle agent 0.55 % of
// a core (0.18 % without it, probes off). A full reconcile (start-up, after a failure) never skips.
import type { Peer, ReconcileDepth } from "../backend.ts";
import type { ChangeFeed, FeedStamp } from "../kernel/change-feed.ts";
import { samePeers } from "./peers.ts";

/** How long a resync may rely on the change feed alone before it reads the kernel anyway. */
export const kernelReadEveryMs = 300_000;

/**
 * An apply of this many lease changes is a burst: the change feed is suspended for it, since the
 * monitor reading every entry written slowed the writes by half (ChangeFeed.suspend); the first
 * resync after the burst reads the kernel and starts the feed again. Resyncs wait while changes
 * flow (reconcile-loop.ts), so a burst costs one or two full reads, not one per apply.
 */
export const burstChanges = 100;

export interface QuietResync {
  /** True when this run may skip reading the kernel (see the header). */
  canSkip(depth: ReconcileDepth, peers: readonly Peer[], own: unknown, keys: readonly string[]): Promise<boolean>;
  /** Take before the run's first read. */
  stamp(): FeedStamp;
  /** After a run that read everything and left the kernel as wanted. */
  clean(stamp: FeedStamp, peers: readonly Peer[], own: unknown): void;
  /** After a failed or partial run, or when what the run rests on changed (prepare). */
  forget(): void;
  /** Before an apply of `changes` lease changes: forget(), and for a burst suspend the feed. */
  beforeApply(changes: number): Promise<void>;
}

/** `feed` is asked for the kernel's change feed only when first needed (building a backend touches no kernel). */
export function quietResync(feedOf: () => ChangeFeed, now: () => number = () => performance.now()): QuietResync {
  let last: { readonly stamp: FeedStamp; readonly at: number; readonly peers: readonly Peer[]; readonly own: unknown } | undefined;
  return {
    async canSkip(depth, peers, own, keys) {
      if (depth !== "resync" || last === undefined) return false;
      if (last.own !== own || !samePeers(last.peers, peers) || now() - last.at >= kernelReadEveryMs) return false;
      // Changes made before this tick are filed before it decides (see ChangeFeed.drain).
      await feedOf().drain();
      return !feedOf().changedSince(last.stamp, keys);
    },
    stamp: () => feedOf().stamp(),
    clean(stamp, peers, own) {
      last = stamp.trusted ? { stamp, at: now(), peers, own } : undefined;
    },
    forget() {
      last = undefined;
    },
    async beforeApply(changes) {
      last = undefined;
      if (changes >= burstChanges) await feedOf().suspend();
    },
  };
}
