// When a timer resync of one family may skip reading the kernel: `nft monitor` (ruleset-feed.ts)
// vouches that none of the tables the family's check reads changed since the stamp taken before
// its last clean check, and that check is less than a minute old. The minute bounds what a change
// the feed could not see would cost (none is known: it turns untrusted on anything it cannot file),
// as the vxlan resync does with its own feed (backends/reconcile/quiet-resync.ts). Start-up, an
// explicit checkNow() and any run after a failure always read.
import type { FamilyRuleWriter } from "./rule-set.ts";
import type { FeedStamp } from "../event-ledger.ts";
import type { RulesetFeed } from "./ruleset-feed.ts";

/** How long a resync may rely on the feed alone before it reads the kernel anyway. */
export const rulesReadEveryMs = 60_000;

export interface QuietRules {
  /** True when this timer run may skip reading `writer`'s tables. */
  canSkip(writer: FamilyRuleWriter): Promise<boolean>;
  /**
   * Take before the read a later clean() vouches for; undefined without a feed or when the feed
   * cannot see `writer`'s tables (iptables-legacy) — the monitor is then never started at all.
   */
  stamp(writer: FamilyRuleWriter): FeedStamp | undefined;
  /** After a read that found (or a repair that left) the family exactly as wanted. */
  clean(writer: FamilyRuleWriter, stamp: FeedStamp | undefined): void;
  /** After a failed run. */
  forget(writer: FamilyRuleWriter): void;
}

export function quietRules(feed: RulesetFeed | undefined, now: () => number = () => performance.now()): QuietRules {
  const last = new Map<FamilyRuleWriter, { readonly stamp: FeedStamp; readonly at: number }>();
  return {
    async canSkip(writer) {
      const clean = last.get(writer);
      if (feed === undefined || writer.watchTables === undefined || clean === undefined) return false;
      if (now() - clean.at >= rulesReadEveryMs) return false;
      // Changes made before this tick are filed before it decides.
      await feed.drain();
      return !feed.changedSince(clean.stamp, writer.watchTables);
    },
    stamp: (writer) => (writer.watchTables === undefined ? undefined : feed?.stamp()),
    clean(writer, stamp) {
      if (stamp?.trusted === true && writer.watchTables !== undefined) last.set(writer, { stamp, at: now() });
      else last.delete(writer);
    },
    forget(writer) {
      last.delete(writer);
    },
  };
}
