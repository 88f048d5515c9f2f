// nftables mode (net-conf `EnableNFTables: true`): keeps `table ip flannel-ipv4` /
// `table ip6 flannel-ipv6`. A check is one `nft list table`; a repair is one `nft -f -`
// transaction that recreates the whole table. Flannel writes the table once and never checks it
// again; we check it on the same --iptables-resync timer as iptables mode.
import { runKernelCommand, type CommandRunner } from "../command-runner.ts";
import type { IpFamily } from "../../net/ip.ts";
import { buildNftApplyScript, buildNftChains, nftFamily, nftRandomFullyProbe, nftTableName, renderNftTable } from "./nft-rules.ts";
import { diffRuleLines, type FamilyRuleWriter, type FamilyRules, type RuleCheck } from "./rule-set.ts";

function significantLines(text: string): string[] {
  return text.split("\n").filter((line) => line.trim() !== "");
}

/**
 * A table listing as comparable entries: each line trimmed and prefixed with its chain
 * (`postrtg: meta mark 0x00004000 return`), so a difference names where it is.
 */
export function nftListingEntries(text: string): string[] {
  const entries: string[] = [];
  let chain: string | undefined;
  for (const raw of significantLines(text)) {
    const line = raw.trim();
    const opened = /^chain (\S+) \{$/.exec(line);
    if (opened !== null) {
      chain = opened[1];
      entries.push(line);
    } else if (line === "}") {
      chain = undefined;
    } else {
      entries.push(chain === undefined ? line : `${chain}: ${line}`);
    }
  }
  return entries;
}

export interface NftWriterOptions {
  readonly runner: CommandRunner;
  readonly rules: FamilyRules;
}

export function createNftWriter(options: NftWriterOptions): FamilyRuleWriter {
  const { runner, rules } = options;
  const family = rules.family;
  const chains = buildNftChains(rules);
  const table = `${nftFamily[family]} ${nftTableName[family]}`;
  const desired = nftListingEntries(renderNftTable(family, chains));
  const script = buildNftApplyScript(family, chains);

  const check = async (signal: AbortSignal): Promise<RuleCheck> => {
    signal.throwIfAborted();
    const listed = await runner(["nft", "list", "table", ...table.split(" ")], { signal });
    // A non-zero exit is "no such table" (deleted by hand, or never made): everything is missing.
    // Anything worse (nft unusable) shows up when the repair runs `nft -f`.
    const actual = listed.code === 0 ? nftListingEntries(listed.stdout) : [];
    const where = `table ${table}`;
    const differences = actual.length === 0 ? [`missing ${where}`] : diffRuleLines(desired, actual, where);
    const repair = async (repairSignal: AbortSignal) => {
      await runKernelCommand(runner, ["nft", "-f", "-"], { input: script, signal: repairSignal });
    };
    return { family, differences, stale: [], repair };
  };
  return { family, mode: "nftables", check };
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
