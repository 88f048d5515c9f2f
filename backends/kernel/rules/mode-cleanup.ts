// Start-up cleanup of the traffic manager not in use (F:main.go step 8): iptables mode deletes
// the nftables tables, nftables mode removes the iptables chains. Best effort, as in Flannel: a
// host without the other tool simply has nothing to clean.
import type { CommandRunner } from "../command-runner.ts";
import { removeIptablesChains } from "./iptables-mode.ts";
import { deleteNftTables } from "./nft-mode.ts";
import type { RulesLog, RulesMode } from "./rule-set.ts";

/** Cleans what the *other* mode left; never throws except when `signal` aborts. */
export async function cleanUpOtherMode(
  runner: CommandRunner,
  mode: RulesMode,
  log: RulesLog,
  signal: AbortSignal,
): Promise<void> {
  try {
    if (mode === "iptables") {
      const deleted = await deleteNftTables(runner, signal);
      if (deleted.length > 0) log.info("deleted nftables tables left by nftables mode", { tables: deleted });
    } else {
      // Both families, whatever is enabled now: a previous run may have had the other one.
      for (const family of [4, 6] as const) {
        const removed = await removeIptablesChains(runner, family, signal);
        if (removed.length > 0) log.info("removed iptables chains left by iptables mode", { family, chains: removed });
      }
    }
  } catch (error) {
    signal.throwIfAborted();
    log.info("skipped cleaning up the other firewall mode", { mode, error: String(error) });
  }
}
