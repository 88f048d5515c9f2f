// Reading `iptables-save` output, as pure functions: one save of a table is parsed once (one
// process instead of Flannel's `iptables -C` per rule); iptables-plan.ts compares it with what the
// agent wants. Also the payload that removes Flannel's chains (nftables mode's start-up cleanup).
import { FlannelError } from "../../errors.ts";

/** One table of an iptables-save dump. */
export interface SavedTable {
  /** Every chain declared in the table (`:NAME POLICY [p:b]`), built-in or user-defined. */
  readonly chains: ReadonlySet<string>;
  /** The `-A CHAIN …` lines of the chains asked for (every chain if none was named), in order. */
  readonly rules: readonly SavedRule[];
}

export interface SavedRule {
  readonly chain: string;
  /** The line exactly as saved (`-A CHAIN …`); also valid iptables-restore input. */
  readonly line: string;
  /** The line split into words, quotes removed. */
  readonly words: readonly string[];
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

/**
 * Parses iptables-save / ip6tables-save output (any number of tables). With `onlyChains`, rules
 * of other chains are skipped unparsed: on a kube-proxy node nearly every line is someone else's,
 * and splitting them into words was most of the agent's CPU per resync.
 */
export function parseIptablesSave(text: string, onlyChains?: ReadonlySet<string>): Map<string, SavedTable> {
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
      const chainEnd = line.indexOf(" ", 3);
      if (onlyChains !== undefined && !onlyChains.has(chainEnd < 0 ? line.slice(3) : line.slice(3, chainEnd))) continue;
      const words = splitRuleWords(line);
      current.rules.push({ chain: words[1] ?? "", line, words, target: ruleTarget(words) });
    }
  }
  return tables;
}

const emptyTable: SavedTable = { chains: new Set(), rules: [] };

export function savedTable(tables: SavedTables, name: string): SavedTable {
  return tables.get(name) ?? emptyTable;
}

/** The saved `-A CHAIN spec` turned into `-D CHAIN spec`, which deletes the first identical rule. */
export function deleteLine(rule: SavedRule): string {
  return `-D ${rule.line.slice("-A ".length)}`;
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
