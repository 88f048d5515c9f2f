// Keeps the readiness conditions that need a look at the kernel fresh, every `periodMs` (the
// resync period): the backend's devices exist, and the rule keeper's last check succeeded. After
// each look it logs when readiness changed — one line when the node turns unready, naming every
// failing condition, and one when it is ready again — so an operator reading the log sees what
// kubelet sees. Looks never overlap (periodic.ts).
import type { LinkQuery } from "../../backends/kernel/link-query.ts";
import type { RuleKeeperStats } from "../../backends/kernel/rules/rule-keeper.ts";
import { errorCode } from "../subnet/datastore-observer.ts";
import type { Log } from "./log.ts";
import type { OpsRecord } from "./ops-record.ts";
import { repeatEvery } from "./periodic.ts";
import type { Readiness } from "./readiness.ts";

export interface ReadinessMonitorOptions {
  readonly record: OpsRecord;
  readonly readiness: Readiness;
  readonly links: LinkQuery;
  readonly devices: () => readonly string[];
  /** The rule keeper's counters, once it runs. */
  readonly rules?: (() => RuleKeeperStats) | undefined;
  readonly periodMs: number;
  readonly log: Log;
}

export interface ReadinessMonitor {
  /** Looks now (also what the timer runs); resolves when the look is done. */
  checkNow(): Promise<void>;
  /** Stops the timer after the look in progress. Idempotent. */
  close(): Promise<void>;
}

/**
 * The rule keeper reports checks and its last error, never cleared: a check that raised the count
 * without a new error succeeded. (Exact while the keeper checks at most once per look.)
 */
function ruleWatcher(stats: () => RuleKeeperStats, record: OpsRecord): () => void {
  let seen = stats();
  return () => {
    const now = stats();
    if (now.checks === seen.checks) return;
    const failed = now.lastError !== undefined && now.lastError !== seen.lastError;
    if (failed) record.kernelError("rules", errorCode(now.lastError));
    record.rulesChecked(failed ? `the last check failed: ${now.lastError instanceof Error ? now.lastError.message : String(now.lastError)}` : undefined);
    seen = now;
  };
}

export function startReadinessMonitor(options: ReadinessMonitorOptions, signal: AbortSignal): ReadinessMonitor {
  const { record, log } = options;
  const watchRules = options.rules === undefined ? undefined : ruleWatcher(options.rules, record);
  let reported: string | undefined;
  let looking: Promise<void> | undefined;

  async function look(): Promise<void> {
    const wanted = options.devices();
    if (wanted.length > 0) {
      try {
        const present = new Set((await options.links.listLinks(signal)).map((link) => link.name));
        const missing = wanted.filter((name) => !present.has(name));
        record.devicesChecked(missing.length === 0 ? undefined : `${missing.join(", ")} missing`);
      } catch (error) {
        if (signal.aborted) return;
        record.devicesChecked(`cannot list links: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    watchRules?.();
    const problems = options.readiness.problems();
    const text = problems.join("; ");
    if (text !== reported) {
      if (problems.length === 0) log.info("ready");
      else log.warn("not ready", { conditions: problems });
      reported = text;
    }
  }

  const checkNow = (): Promise<void> => {
    looking ??= look().finally(() => (looking = undefined));
    return looking;
  };
  const timer = repeatEvery(options.periodMs, checkNow, signal);
  return {
    checkNow,
    close: async () => {
      await timer.stop();
      await looking;
    },
  };
}
