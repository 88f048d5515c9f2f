// iptables mode (Flannel's default traffic manager): keeps this agent's rules in FLANNEL-POSTRTG
// (nat) and FLANNEL-FWD (filter) of one family, next to other networks' (see ownsRule in
// iptables-plan.ts). A check is one `iptables-save` process; a repair, only when something is
// missing or wrong, one `iptables-restore --noflush` process whose payload holds a `*table … COMMIT`
// block per table, each committed atomically — never one process per rule (Flannel runs
// `iptables -C` per rule every resync).
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
import { buildRestorePayload, findChainDrift, findStaleRules } from "./iptables-plan.ts";
import { buildChainRemovalPayload, parseIptablesSave, savedTable, type SavedTables } from "./iptables-save.ts";
import type { FamilyRuleWriter, FamilyRules, RuleCheck } from "./rule-set.ts";

export interface IptablesCapabilities {
  /** `1.8.9`, or undefined when `iptables --version` printed no version. */
  readonly version: string | undefined;
  /** iptables-restore takes --wait (≥ 1.6.2, F:pkg/trafficmngr/iptables/iptables_restore.go). */
  readonly wait: boolean;
  /** MASQUERADE --random-fully is supported (≥ 1.6.2, go-iptables HasRandomFully). */
  readonly randomFully: boolean;
  /** iptables-nft (`(nf_tables)`): its changes are nftables changes, which `nft monitor` reports. */
  readonly nfTables: boolean;
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
  const nfTables = versionOutput.includes("(nf_tables)");
  if (match === null) return { version: undefined, wait: false, randomFully: false, nfTables };
  const version = [Number(match[1]), Number(match[2]), Number(match[3])];
  const recent = atLeast(version, [1, 6, 2]);
  return { version: version.join("."), wait: recent, randomFully: recent, nfTables };
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
  onlyChains?: ReadonlySet<string>,
): Promise<SavedTables> {
  // One process either way: a single table is read alone (kube-proxy's nat table can be large);
  // two are read together, as one more process costs more than the tables we do not need (measured:
  // `-t nat` alone takes 90 % of a whole save's time with 2000 kube-proxy-like rules per table).
  const args = tables.length === 1 ? ["-t", tables[0]!] : [];
  return parseIptablesSave(await runKernelCommand(runner, [iptablesCommand(family, "-save"), ...args], { signal }), onlyChains);
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
  readonly capabilities: Pick<IptablesCapabilities, "wait"> & Partial<Pick<IptablesCapabilities, "nfTables">>;
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
  const wantedChains = new Set(chains.flatMap((chain) => [chain.hookChain, chain.chain]));

  const check = async (signal: AbortSignal): Promise<RuleCheck> => {
    signal.throwIfAborted();
    if (chains.length === 0) return { family, differences: [], stale: [], repair: async () => {} };
    const saved = await readTables(runner, family, tables, signal, wantedChains);
    const differences = chains.flatMap((chain) => findChainDrift(chain, savedTable(saved, chain.table)));
    const staleByTable = new Map(
      tables.map((table) => [
        table,
        findStaleRules(
          previousChains.filter((chain) => chain.table === table),
          chains.filter((chain) => chain.table === table),
          savedTable(saved, table),
        ),
      ]),
    );
    const repair = async (repairSignal: AbortSignal, force = false) => {
      const payload = tables
        .map((table: IptablesTable) =>
          // The previous subnet.env's rules go at start only (force), as Flannel recycles them.
          buildRestorePayload(table, chains, savedTable(saved, table), { force, stale: force ? (staleByTable.get(table) ?? []) : [] }),
        )
        .filter((block) => block !== undefined)
        .join("");
      if (payload !== "") await restore(runner, family, capabilities.wait, payload, repairSignal);
    };
    return { family, differences, stale: [...staleByTable.values()].flat(), repair };
  };
  // iptables-nft keeps `-t nat` in the nftables table `ip nat` (`ip6 nat` for ip6tables).
  const watchTables = capabilities.nfTables === true ? tables.map((table) => `${family === 4 ? "ip" : "ip6"} ${table}`) : undefined;
  return { family, mode: "iptables", check, watchTables };
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
