// The RuleKeeper: puts this agent's masquerade and forward rules in place at start and keeps them
// there. Start-up follows F:main.go steps 8–10: clean the other traffic manager's leftovers,
// recycle the rules of a previous subnet.env, apply. Then every --iptables-resync it reads the
// kernel once per family and, only if something of ours differs, re-applies our rules atomically
// (as Flannel's ensureIPTables does) — in nftables mode too, where Flannel never checks again.
// Several agents (one per network) share the chains: each keeps only its own rules (ownsRule in
// iptables-plan.ts, ownsNftRule in nft-plan.ts) and the shared jumps and head rules.
// Closing stops the timer and leaves the rules in place, so traffic keeps flowing across a restart.
import { oneAtATime } from "../../reconcile/one-at-a-time.ts";
import type { CoprocessSpawner } from "../batch-process.ts";
import type { CommandRunner } from "../command-runner.ts";
import type { Cidr, IpFamily } from "../../net/ip.ts";
import { createIptablesWriter, detectIptablesCapabilities } from "./iptables-mode.ts";
import { cleanUpOtherMode } from "./mode-cleanup.ts";
import { createNftWriter, probeNftRandomFully } from "./nft-mode.ts";
import { quietRules } from "./quiet-rules.ts";
import { familySync } from "./family-sync.ts";
import type { FamilyRuleWriter, RulesLog, RulesMode } from "./rule-set.ts";
import { openRulesetFeed } from "./ruleset-feed.ts";

/** One family's networks: N and P now, and N'/P' from the previous subnet.env if it had them. */
export interface FamilyNetworks {
  readonly family: IpFamily;
  readonly network: Cidr;
  readonly subnet: Cidr;
  readonly previous?: { readonly network: Cidr; readonly subnet: Cidr } | undefined;
}

export interface RuleKeeperOptions {
  readonly runner: CommandRunner;
  /** "nftables" when net-conf.json has EnableNFTables: true. */
  readonly mode: RulesMode;
  /** The enabled families (IPv4, IPv6 or both). */
  readonly families: readonly FamilyNetworks[];
  /** --ip-masq */
  readonly masquerade: boolean;
  /** --iptables-forward-rules */
  readonly forward: boolean;
  /** --ip-masq-fully-random-disable */
  readonly randomFullyDisable: boolean;
  /** --iptables-resync in milliseconds (Flannel's default: 5 s). */
  readonly resyncMs: number;
  readonly log: RulesLog;
  /** Called after every check that had to repair something (metrics, tests). */
  readonly onRepair?: ((report: RepairReport) => void) | undefined;
  /**
   * Starts the `nft monitor` that lets an idle resync skip reading the tables (quiet-rules.ts),
   * in the same namespace as `runner`'s commands. Without it, every resync reads them.
   */
  readonly spawner?: CoprocessSpawner | undefined;
}

import type { FamilyRepair } from "./family-sync.ts";
export type { FamilyRepair };

export interface RepairReport {
  /** Differences repaired over all families; 0 when the kernel already matched. */
  readonly repaired: number;
  readonly families: readonly FamilyRepair[];
}

export interface RuleKeeperStats {
  readonly checks: number;
  /** Checks that found drift and re-applied rules. */
  readonly repairs: number;
  /** Sum of the differences those repairs fixed. */
  readonly repairedDifferences: number;
  /** Family reads a resync skipped because `nft monitor` vouched nothing changed (absent: none). */
  readonly skippedReads?: number;
  readonly lastError: unknown;
}

export interface RuleKeeper extends AsyncDisposable {
  readonly mode: RulesMode;
  /** Whether MASQUERADE uses --random-fully / fully-random, per family. */
  readonly randomFully: ReadonlyMap<IpFamily, boolean>;
  /** Checks every family now and repairs drift — what the timer runs. Serialised with the timer. */
  checkNow(signal?: AbortSignal): Promise<RepairReport>;
  stats(): RuleKeeperStats;
  /** Stops the timer after the check in progress, if any; leaves the rules in place. Idempotent. */
  close(): Promise<void>;
}

async function createWriters(options: RuleKeeperOptions, signal: AbortSignal) {
  const { runner, mode } = options;
  const writers: FamilyRuleWriter[] = [];
  const randomFully = new Map<IpFamily, boolean>();
  const nftRandomFully =
    mode === "nftables" && options.masquerade && !options.randomFullyDisable
      ? await probeNftRandomFully(runner, signal)
      : false;
  for (const networks of options.families) {
    const base = { ...networks, masquerade: options.masquerade, forward: options.forward };
    if (mode === "iptables") {
      const capabilities = await detectIptablesCapabilities(runner, networks.family, signal);
      const rules = { ...base, randomFully: capabilities.randomFully && !options.randomFullyDisable };
      randomFully.set(networks.family, rules.randomFully);
      writers.push(createIptablesWriter({ runner, rules, capabilities, previous: networks.previous }));
    } else {
      randomFully.set(networks.family, nftRandomFully);
      writers.push(createNftWriter({ runner, rules: { ...base, randomFully: nftRandomFully }, previous: networks.previous }));
    }
  }
  return { writers, randomFully };
}

/**
 * Cleans the other mode, applies the rules of every family (throwing if that fails: Flannel exits
 * when it cannot set up masquerading), and starts the resync timer. `signal` aborting is a forced
 * stop, like [Symbol.asyncDispose].
 */
export async function startRuleKeeper(options: RuleKeeperOptions, signal: AbortSignal): Promise<RuleKeeper> {
  signal.throwIfAborted();
  const { log, mode } = options;
  if (!(options.resyncMs > 0)) throw new RangeError(`resyncMs must be positive, got ${options.resyncMs}`);
  await cleanUpOtherMode(options.runner, mode, log, signal);
  const { writers, randomFully } = await createWriters(options, signal);

  const lifetime = new AbortController();
  let checks = 0;
  let repairs = 0;
  let repairedDifferences = 0;
  let lastError: unknown;
  const turns = oneAtATime("rule keeper");
  const feed =
    options.spawner === undefined
      ? undefined
      : openRulesetFeed(options.spawner, {
          onGiveUp: (reason) => log.info("no longer watching nftables changes; every resync reads the tables", { mode, reason }),
        });
  const quiet = quietRules(feed);
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const sync = familySync({ mode, log, quiet });

  const runAll = async (force: boolean, runSignal: AbortSignal, maySkip = false): Promise<RepairReport> => {
    const families: FamilyRepair[] = [];
    let firstError: unknown;
    for (const writer of writers) {
      try {
        families.push(await sync.run(writer, force, maySkip, runSignal));
      } catch (error) {
        quiet.forget(writer);
        runSignal.throwIfAborted();
        firstError ??= error;
      }
    }
    checks += 1;
    if (firstError !== undefined) {
      lastError = firstError;
      throw firstError;
    }
    const report = { repaired: families.reduce((sum, f) => sum + f.differences.length, 0), families };
    if (report.repaired > 0) {
      repairs += 1;
      repairedDifferences += report.repaired;
      options.onRepair?.(report);
    }
    return report;
  };

  // Checks never overlap: the timer and checkNow() take turns.
  const serialised = <T>(work: () => Promise<T>): Promise<T> => turns.run(work);

  const schedule = () => {
    if (closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      void serialised(() => runAll(false, lifetime.signal, true))
        .catch((error: unknown) => {
          if (!lifetime.signal.aborted) log.warn("checking firewall rules failed", { mode, error: String(error) });
        })
        .finally(schedule);
    }, options.resyncMs);
  };

  const stop = async (force: boolean) => {
    closed = true;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    signal.removeEventListener("abort", onAbort);
    if (force) lifetime.abort(new DOMException("rule keeper disposed", "AbortError"));
    await turns.close();
    await feed?.close();
  };
  const onAbort = () => void stop(true);

  // Flannel's bootstrap always re-applies at start (re-appending the jumps), in sync or not.
  try {
    await runAll(true, signal);
  } catch (error) {
    await feed?.close();
    throw error;
  }
  log.info("firewall rules in place", {
    mode,
    families: writers.map((w) => w.family),
    masquerade: options.masquerade,
    forward: options.forward,
    randomFully: Object.fromEntries(randomFully),
    resyncMs: options.resyncMs,
  });
  signal.addEventListener("abort", onAbort, { once: true });
  schedule();

  return {
    mode,
    randomFully,
    checkNow: (callerSignal) => {
      if (closed) return Promise.reject(new DOMException("rule keeper is closed", "AbortError"));
      const runSignal = callerSignal === undefined ? lifetime.signal : AbortSignal.any([lifetime.signal, callerSignal]);
      return serialised(() => runAll(false, runSignal));
    },
    stats: () => ({ checks, repairs, repairedDifferences, skippedReads: sync.skippedReads(), lastError }),
    close: () => stop(false),
    [Symbol.asyncDispose]: () => stop(true),
  };
}
