// iptables mode (Flannel's default traffic manager): keeps FLANNEL-POSTRTG (nat) and FLANNEL-FWD
// (filter) of one family. A check is one `iptables-save` process; a repair is one
// `iptables-restore --noflush` process whose payload holds a `*table … COMMIT` block per table,
// each committed atomically — never one process per rule (Flannel runs `iptables -C` per rule).
import { runKernelCommand, type CommandRunner } from "../command-runner.ts";
import type { Cidr, IpFamily } from "../../net/ip.ts";
import {
  buildIptablesChains,
  forwardChain,
  iptablesCommand,
  masqueradeChain,
  type IptablesChainRules,
  type IptablesTable,
} from "./iptables-rules.ts";
import {
  buildChainRemovalPayload,
  buildRestorePayload,
  findChainDrift,
  findStaleRules,
  parseIptablesSave,
  savedTable,
  type SavedTables,
} from "./iptables-save.ts";
import type { FamilyRuleWriter, FamilyRules, RuleCheck } from "./rule-set.ts";

export interface IptablesCapabilities {
  /** `1.8.9`, or undefined when `iptables --version` printed no version. */
  readonly version: string | undefined;
  /** iptables-restore takes --wait (≥ 1.6.2, F:pkg/trafficmngr/iptables/iptables_restore.go). */
  readonly wait: boolean;
  /** MASQUERADE --random-fully is supported (≥ 1.6.2, go-iptables HasRandomFully). */
  readonly randomFully: boolean;
}

/** How long iptables-restore waits for the xtables lock (only the legacy backend takes it). */
const xtablesLockWaitSeconds = 10;

function atLeast(version: readonly number[], wanted: readonly number[]): boolean {
  for (let i = 0; i < wanted.length; i++) {
    const have = version[i] ?? 0;
    const want = wanted[i] ?? 0;
    if (have !== want) return have > want;
  }
  return true;
}

/** From `iptables v1.8.9 (nf_tables)`: both --wait and --random-fully arrived in 1.6.2. */
export function capabilitiesFromVersion(versionOutput: string): IptablesCapabilities {
  const match = /v(\d+)\.(\d+)\.(\d+)/.exec(versionOutput);
  if (match === null) return { version: undefined, wait: false, randomFully: false };
  const version = [Number(match[1]), Number(match[2]), Number(match[3])];
  const recent = atLeast(version, [1, 6, 2]);
  return { version: version.join("."), wait: recent, randomFully: recent };
}

/** One `iptables --version` (or ip6tables) per family, at start. */
export async function detectIptablesCapabilities(
  runner: CommandRunner,
  family: IpFamily,
  signal: AbortSignal,
): Promise<IptablesCapabilities> {
  return capabilitiesFromVersion(await runKernelCommand(runner, [iptablesCommand(family), "--version"], { signal }));
}

async function readTables(
  runner: CommandRunner,
  family: IpFamily,
  tables: readonly string[],
  signal: AbortSignal,
): Promise<SavedTables> {
  // One process either way: a single table is read alone (kube-proxy's nat table can be large).
  const args = tables.length === 1 ? ["-t", tables[0]!] : [];
  return parseIptablesSave(await runKernelCommand(runner, [iptablesCommand(family, "-save"), ...args], { signal }));
}

async function restore(runner: CommandRunner, family: IpFamily, wait: boolean, payload: string, signal: AbortSignal) {
  const argv = [iptablesCommand(family, "-restore"), "--noflush"];
  if (wait) argv.push(`--wait=${xtablesLockWaitSeconds}`);
  await runKernelCommand(runner, argv, { input: payload, signal });
}

export interface IptablesWriterOptions {
  readonly runner: CommandRunner;
  readonly rules: FamilyRules;
  /** From detectIptablesCapabilities; `wait` decides --wait. (`randomFully` is already in `rules`.) */
  readonly capabilities: Pick<IptablesCapabilities, "wait">;
  /** FLANNEL_NETWORK/FLANNEL_SUBNET (or the IPv6 pair) of the previous subnet.env. */
  readonly previous?: { readonly network: Cidr; readonly subnet: Cidr } | undefined;
}

export function createIptablesWriter(options: IptablesWriterOptions): FamilyRuleWriter {
  const { runner, rules, capabilities } = options;
  const family = rules.family;
  const chains = buildIptablesChains(rules);
  const tables = [...new Set(chains.map((chain) => chain.table))];
  const previousChains: IptablesChainRules[] =
    options.previous === undefined ? [] : buildIptablesChains({ ...rules, ...options.previous });

  const check = async (signal: AbortSignal): Promise<RuleCheck> => {
    signal.throwIfAborted();
    if (chains.length === 0) return { family, differences: [], stale: [], repair: async () => {} };
    const saved = await readTables(runner, family, tables, signal);
    const differences = chains.flatMap((chain) => findChainDrift(chain, savedTable(saved, chain.table)));
    const stale = tables.flatMap((table) =>
      findStaleRules(
        previousChains.filter((chain) => chain.table === table),
        chains.filter((chain) => chain.table === table),
        savedTable(saved, table),
      ),
    );
    const repair = async (repairSignal: AbortSignal) => {
      const payload = tables
        .map((table: IptablesTable) => buildRestorePayload(table, chains, savedTable(saved, table)))
        .join("");
      await restore(runner, family, capabilities.wait, payload, repairSignal);
    };
    return { family, differences, stale, repair };
  };
  return { family, mode: "iptables", check };
}

/**
 * nftables mode's start-up cleanup of the iptables leftovers of one family: FLANNEL-POSTRTG and
 * FLANNEL-FWD with every jump to them, in both nat and filter. Flannel's own cleanup
 * (ClearAndDeleteChain in nat only) looks for FLANNEL-FWD in nat, where it never lives, so the
 * filter chain stays untouched; and it cannot delete FLANNEL-POSTRTG while POSTROUTING still
 * jumps to it, so that chain stays behind emptied. Returns the chains removed (`nat/FLANNEL-POSTRTG`, …).
 */
export async function removeIptablesChains(
  runner: CommandRunner,
  family: IpFamily,
  signal: AbortSignal,
): Promise<string[]> {
  const tableNames = ["nat", "filter"];
  const saved = await readTables(runner, family, [], signal);
  const names = [masqueradeChain, forwardChain];
  const payload = tableNames
    .map((table) => buildChainRemovalPayload(table, names, savedTable(saved, table)))
    .filter((block) => block !== undefined)
    .join("");
  if (payload === "") return [];
  const { wait } = await detectIptablesCapabilities(runner, family, signal);
  await restore(runner, family, wait, payload, signal);
  return tableNames.flatMap((table) =>
    names.filter((name) => savedTable(saved, table).chains.has(name)).map((name) => `${table}/${name}`),
  );
}
