// One family's turn of the RuleKeeper: read the kernel (unless `nft monitor` vouches that nothing
// changed, quiet-rules.ts), and when our part differs — or at start, where Flannel's bootstrap
// re-appends its rules whatever it finds — write it back and read again to confirm.
import type { IpFamily } from "../../net/ip.ts";
import type { QuietRules } from "./quiet-rules.ts";
import type { FamilyRuleWriter, RulesLog, RulesMode } from "./rule-set.ts";

export interface FamilyRepair {
  readonly family: IpFamily;
  /** What differed before the repair (empty when the family was in sync). */
  readonly differences: readonly string[];
}

export interface FamilySync {
  run(writer: FamilyRuleWriter, force: boolean, maySkip: boolean, signal: AbortSignal): Promise<FamilyRepair>;
  /** Reads skipped so far because the feed vouched that nothing changed. */
  skippedReads(): number;
}

/**
 * Another agent of the node writing the same chains between our read and our write makes the
 * transaction fail as a whole (a rule to delete is gone, a chain to create exists): read again.
 */
const attempts = 3;

export function familySync(options: { readonly mode: RulesMode; readonly log: RulesLog; readonly quiet: QuietRules }): FamilySync {
  const { mode, log, quiet } = options;
  let lastPersistent = "";
  let skipped = 0;

  const run = async (writer: FamilyRuleWriter, force: boolean, maySkip: boolean, signal: AbortSignal): Promise<FamilyRepair> => {
    const fields = { mode, family: writer.family };
    if (maySkip && !force && (await quiet.canSkip(writer))) {
      skipped += 1;
      return { family: writer.family, differences: [] };
    }
    const before = quiet.stamp(writer);
    let found = await writer.check(signal);
    if (found.differences.length === 0 && !force) {
      quiet.clean(writer, before);
      return { family: writer.family, differences: [] };
    }
    if (force && found.stale.length > 0) {
      log.info("network or subnet changed since the previous subnet.env; removing the old rules", { ...fields, stale: found.stale });
    }
    if (found.differences.length > 0 && !force) {
      log.info("firewall rules differ from the desired set; re-applying them", {
        ...fields,
        repaired: found.differences.length,
        differences: found.differences.slice(0, 10),
      });
    }
    const differences = found.differences;
    for (let attempt = 1; ; attempt++) {
      try {
        await found.repair(signal, force);
        break;
      } catch (error) {
        signal.throwIfAborted();
        if (attempt >= attempts) throw error;
        found = await writer.check(signal);
      }
    }
    const confirmed = quiet.stamp(writer);
    const after = await writer.check(signal);
    if (after.differences.length === 0) {
      quiet.clean(writer, confirmed);
      lastPersistent = "";
    } else {
      quiet.forget(writer);
      // Applied, yet read back differently: another writer raced us, or this nft/iptables prints
      // the rules in a form we do not expect. Say so once per distinct difference, not every tick.
      const text = after.differences.join("\n");
      if (text !== lastPersistent) {
        lastPersistent = text;
        log.warn("firewall rules still differ after re-applying them", { ...fields, differences: after.differences.slice(0, 10) });
      }
    }
    return { family: writer.family, differences: force ? [] : differences };
  };

  return { run, skippedReads: () => skipped };
}
