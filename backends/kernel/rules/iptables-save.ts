// Reading `iptables-save` output and writing `iptables-restore --noflush` payloads, as pure
// functions. One save of a table is parsed once (one process instead of Flannel's `iptables -C`
// per rule), compared with the desired chains, and turned into one restore payload per table.
import { FlannelError } from "../../errors.ts";
import { listChainRules, type IptablesChainRules, type IptablesTable } from "./iptables-rules.ts";
import { diffRuleLines } from "./rule-set.ts";

/** One table of an iptables-save dump. */
export interface SavedTable {
  /** Every chain declared in the table (`:NAME POLICY [p:b]`), built-in or user-defined. */
  readonly chains: ReadonlySet<string>;
  /** Every `-A CHAIN …` line, in order. */
  readonly rules: readonly SavedRule[];
}

export interface SavedRule {
  readonly chain: string;
  /** The line exactly as saved (`-A CHAIN …`); also valid iptables-restore input. */
  readonly line: string;
  /** The `-j`/`-g` target, if any. */
  readonly target: string | undefined;
}

export type SavedTables = ReadonlyMap<string, SavedTable>;

/** Splits a saved rule into words, honouring iptables-save's double quotes and backslash escapes. */
export function splitRuleWords(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === "\\" && i + 1 < line.length) word += line[++i];
      else if (c === '"') quoted = false;
      else word += c;
    } else if (c === '"') {
      quoted = true;
      inWord = true;
    } else if (c === " " || c === "\t") {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

function ruleTarget(words: readonly string[]): string | undefined {
  for (let i = 0; i < words.length - 1; i++) {
    if (words[i] === "-j" || words[i] === "-g" || words[i] === "--jump" || words[i] === "--goto") return words[i + 1];
  }
  return undefined;
}

/** Parses iptables-save / ip6tables-save output (any number of tables). */
export function parseIptablesSave(text: string): Map<string, SavedTable> {
  const tables = new Map<string, SavedTable>();
  let current: { name: string; chains: Set<string>; rules: SavedRule[] } | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("*")) {
      current = { name: line.slice(1), chains: new Set(), rules: [] };
      continue;
    }
    if (current === undefined) {
      throw new FlannelError("kernel-output-invalid", `iptables-save: line outside a table: ${line}`, { details: { line } });
    }
    if (line === "COMMIT") {
      tables.set(current.name, { chains: current.chains, rules: current.rules });
      current = undefined;
    } else if (line.startsWith(":")) {
      current.chains.add(line.slice(1).split(" ")[0] ?? "");
    } else if (line.startsWith("-A ")) {
      const words = splitRuleWords(line);
      current.rules.push({ chain: words[1] ?? "", line, target: ruleTarget(words) });
    }
  }
  return tables;
}

const emptyTable: SavedTable = { chains: new Set(), rules: [] };

export function savedTable(tables: SavedTables, name: string): SavedTable {
  return tables.get(name) ?? emptyTable;
}

function jumpsTo(table: SavedTable, hookChain: string, chain: string): SavedRule[] {
  return table.rules.filter((rule) => rule.chain === hookChain && rule.target === chain);
}

/**
 * How a saved table differs from one desired chain: the chain must exist, hold exactly the
 * desired rules in order, and be jumped to exactly once from its hook chain, by the desired rule.
 */
export function findChainDrift(desired: IptablesChainRules, table: SavedTable): string[] {
  const where = `${desired.table} ${desired.chain}`;
  const actualRules = table.rules.filter((rule) => rule.chain === desired.chain).map((rule) => rule.line);
  const differences = table.chains.has(desired.chain) ? [] : [`missing chain ${where}`];
  differences.push(...diffRuleLines(desired.rules, actualRules, where));
  const actualJumps = jumpsTo(table, desired.hookChain, desired.chain).map((rule) => rule.line);
  differences.push(...diffRuleLines([desired.jump], actualJumps, `${desired.table} ${desired.hookChain}`));
  return differences;
}

/** The saved `-A CHAIN spec` turned into `-D CHAIN spec`, which deletes the first identical rule. */
function deleteLine(rule: SavedRule): string {
  return `-D ${rule.line.slice("-A ".length)}`;
}

/**
 * One iptables-restore --noflush payload that makes `table` hold exactly the desired chains:
 * - `:CHAIN - [0:0]` creates the chain, or flushes it when it exists — so stale rules (from a
 *   previous subnet.env, or edited by hand) go in the same commit that adds the new ones;
 * - every existing jump to the chain from its hook chain is deleted and the one jump appended,
 *   as Flannel's bootstrap does (`-D` then `-A`, so the jump ends up at the end of the hook chain);
 * - the chain's rules are appended in order.
 * Nothing outside the flannel chains and their jumps is touched.
 */
export function buildRestorePayload(tableName: IptablesTable, chains: readonly IptablesChainRules[], table: SavedTable): string {
  const lines = [`*${tableName}`];
  const own = chains.filter((chain) => chain.table === tableName);
  for (const chain of own) lines.push(`:${chain.chain} - [0:0]`);
  for (const chain of own) {
    for (const jump of jumpsTo(table, chain.hookChain, chain.chain)) lines.push(deleteLine(jump));
    lines.push(...listChainRules(chain));
  }
  lines.push("COMMIT", "");
  return lines.join("\n");
}

/**
 * A payload deleting chains and every rule in the table that jumps to them (a referenced chain
 * cannot be deleted; Flannel's ClearAndDeleteChain does not remove the jump and so fails), or
 * undefined when none of the chains exists.
 */
export function buildChainRemovalPayload(tableName: string, chainNames: readonly string[], table: SavedTable): string | undefined {
  const present = chainNames.filter((name) => table.chains.has(name));
  if (present.length === 0) return undefined;
  const lines = [`*${tableName}`];
  for (const rule of table.rules) {
    if (rule.target !== undefined && present.includes(rule.target) && !present.includes(rule.chain)) {
      lines.push(deleteLine(rule));
    }
  }
  for (const name of present) lines.push(`-F ${name}`);
  for (const name of present) lines.push(`-X ${name}`);
  lines.push("COMMIT", "");
  return lines.join("\n");
}

/**
 * Rules built from the previous subnet.env's network/subnet that are still in the table and not
 * part of the current set (F:pkg/trafficmngr/iptables/iptables.go recycles these when N or P
 * changed). They all live in the flannel chains, so the restore payload's chain flush removes them;
 * this only names them for the log.
 */
export function findStaleRules(
  previous: readonly IptablesChainRules[],
  current: readonly IptablesChainRules[],
  table: SavedTable,
): string[] {
  const wanted = new Set(current.flatMap(listChainRules));
  const present = new Set(table.rules.map((rule) => rule.line));
  return previous.flatMap(listChainRules).filter((line) => !wanted.has(line) && present.has(line));
}
