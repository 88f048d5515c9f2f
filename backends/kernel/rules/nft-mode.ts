// nftables mode (net-conf `EnableNFTables: true`): keeps this agent's rules in Flannel's
// `table ip flannel-ipv4` / `table ip6 flannel-ipv6`, shared with the other networks' agents of the
// node (nft-plan.ts says how, and where we differ from Flannel). A check is one
// `nft -a list table`; a repair, only when something is missing or wrong, one `nft -f -`
// transaction. Flannel writes its rules once and never checks them again; we check them on the
// same --iptables-resync timer as iptables mode.
import { runKernelCommand, type CommandRunner } from "../command-runner.ts";
import type { Cidr, IpFamily } from "../../net/ip.ts";
import { buildNftRepairScript, findNftDrift, parseNftListing, staleNftRules } from "./nft-plan.ts";
import { buildNftChains, nftFamily, nftRandomFullyProbe, nftTableName } from "./nft-rules.ts";
import type { FamilyRuleWriter, FamilyRules, RuleCheck } from "./rule-set.ts";

function significantLines(text: string): string[] {
  return text.split("\n").filter((line) => line.trim() !== "");
}

export interface NftWriterOptions {
  readonly runner: CommandRunner;
  readonly rules: FamilyRules;
  /** FLANNEL_NETWORK/FLANNEL_SUBNET (or the IPv6 pair) of the previous subnet.env. */
  readonly previous?: { readonly network: Cidr; readonly subnet: Cidr } | undefined;
}

export function createNftWriter(options: NftWriterOptions): FamilyRuleWriter {
  const { runner, rules } = options;
  const family = rules.family;
  const chains = buildNftChains(rules);
  const table = `${nftFamily[family]} ${nftTableName[family]}`;
  const comment = `rules for ${nftTableName[family]}`;
  const stale = options.previous === undefined ? [] : staleNftRules(buildNftChains({ ...rules, ...options.previous }), chains);

  const check = async (signal: AbortSignal): Promise<RuleCheck> => {
    signal.throwIfAborted();
    if (chains.length === 0) return { family, differences: [], stale: [], repair: async () => {} };
    const listed = await runner(["nft", "-a", "list", "table", ...table.split(" ")], { signal });
    // A non-zero exit is "no such table" (deleted by hand, or never made): everything is missing.
    // Anything worse (nft unusable) shows up when the repair runs `nft -f`.
    const listing = listed.code === 0 ? parseNftListing(listed.stdout) : undefined;
    const present = [...(listing?.values() ?? [])].flatMap((chain) => chain.rules.map((rule) => rule.text));
    const repair = async (repairSignal: AbortSignal, force = false) => {
      // The previous subnet.env's rules go at start only (force), as Flannel recycles them.
      const script = buildNftRepairScript(table, comment, chains, listing, { force, stale: force ? stale : [] });
      if (script !== undefined) await runKernelCommand(runner, ["nft", "-f", "-"], { input: script, signal: repairSignal });
    };
    return { family, differences: findNftDrift(table, chains, listing), stale: stale.filter((rule) => present.includes(rule)), repair };
  };
  return { family, mode: "nftables", check, watchTables: [table] };
}

/**
 * Flannel's `masquerade fully-random` probe: `nft --check` of a test chain, committed never.
 * False when the kernel or nft rejects it; a missing nft binary throws.
 */
export async function probeNftRandomFully(runner: CommandRunner, signal: AbortSignal): Promise<boolean> {
  const result = await runner(["nft", "--check", "-f", "-"], { input: nftRandomFullyProbe, signal });
  return result.code === 0;
}

/**
 * iptables mode's start-up cleanup (F:pkg/trafficmngr/nftables/nftables.go cleanUp): delete the
 * tables flannel-ipv4 and flannel-ipv6 if present, in one transaction. Returns the tables deleted.
 */
export async function deleteNftTables(runner: CommandRunner, signal: AbortSignal): Promise<string[]> {
  const listed = await runKernelCommand(runner, ["nft", "list", "tables"], { signal });
  const present = new Set(significantLines(listed).map((line) => line.trim()));
  const tables = ([4, 6] as const satisfies readonly IpFamily[])
    .map((family) => `${nftFamily[family]} ${nftTableName[family]}`)
    .filter((table) => present.has(`table ${table}`));
  if (tables.length === 0) return [];
  const script = tables.map((table) => `delete table ${table}\n`).join("");
  await runKernelCommand(runner, ["nft", "-f", "-"], { input: script, signal });
  return tables;
}
