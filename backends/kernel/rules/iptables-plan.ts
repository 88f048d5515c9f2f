// What this agent writes into Flannel's iptables chains, as pure functions: which saved rules are
// its own (ownsRule), how a saved table differs from what it wants (findChainDrift), and the one
// `iptables-restore --noflush` payload per table that puts its part back (buildRestorePayload),
// leaving the other networks' rules in the same chains alone.
import { listChainRules, type IptablesChainRules, type IptablesTable } from "./iptables-rules.ts";
import { deleteLine, type SavedRule, type SavedTable } from "./iptables-save.ts";
import { diffRuleLines } from "./rule-set.ts";

function jumpsTo(table: SavedTable, hookChain: string, chain: string): SavedRule[] {
  return table.rules.filter((rule) => rule.chain === hookChain && rule.target === chain);
}

/**
 * Whether a saved rule is this agent's to delete and re-append. Several flanneld may share a node
 * (one per network, each with its own --etcd-prefix, --subnet-file and VNI), and Flannel's own
 * agent may still be one of them during a migration; all append to the same FLANNEL-POSTRTG and
 * FLANNEL-FWD. Flannel's agent deletes and re-appends only rules it computed itself from its own
 * network N and lease subnet P (F:pkg/trafficmngr/iptables/iptables.go ipTablesCleanAndBuild:
 * `-D` only for a rule that exists with exactly its text) — and every one of those names N or P.
 * So here a rule of the chain is ours when one of its words is N or P exactly (whole words: a
 * `10.2.0.0/16` never matches `110.2.0.0/16`). That takes in Flannel's exact rules and variants of
 * them for the same network (the other --random-fully setting, an older agent's form, a hand
 * edit), which is what an in-place migration needs; it never takes another network's rules, which
 * name only that network's N and P. The jump from the hook chain and the kube-proxy mark rule name
 * no network: they are shared, kept once, never deleted for good.
 */
export function ownsRule(desired: IptablesChainRules, rule: SavedRule): boolean {
  return rule.chain === desired.chain && rule.words.some((word) => desired.ownCidrs.includes(word));
}

interface ChainState {
  readonly present: boolean;
  readonly jumps: readonly SavedRule[];
  /** Every rule of the flannel chain (ours, shared and other agents'), in order. */
  readonly rules: readonly SavedRule[];
  /** Copies of the head lines anywhere in the chain. */
  readonly headCopies: readonly SavedRule[];
  readonly own: readonly SavedRule[];
}

function chainState(desired: IptablesChainRules, table: SavedTable): ChainState {
  const rules = table.rules.filter((rule) => rule.chain === desired.chain);
  return {
    present: table.chains.has(desired.chain),
    jumps: jumpsTo(table, desired.hookChain, desired.chain),
    rules,
    headCopies: rules.filter((rule) => desired.head.includes(rule.line)),
    own: rules.filter((rule) => ownsRule(desired, rule)),
  };
}

function headDrift(desired: IptablesChainRules, state: ChainState, where: string): string[] {
  const differences = diffRuleLines(desired.head, state.headCopies.map((rule) => rule.line), where);
  if (differences.length > 0) return differences;
  const top = state.rules.slice(0, desired.head.length).map((rule) => rule.line);
  return desired.head.filter((line, i) => top[i] !== line).map((line) => `not at the head of ${where}: ${line}`);
}

/**
 * How a saved table differs from what this agent wants of one chain: the chain exists, is jumped
 * to exactly once from its hook chain, starts with the head rules (once each), and its rules that
 * are ours (ownsRule) are exactly the desired ones in order. Other agents' rules are not looked at.
 */
export function findChainDrift(desired: IptablesChainRules, table: SavedTable): string[] {
  const where = `${desired.table} ${desired.chain}`;
  const state = chainState(desired, table);
  const differences = state.present ? [] : [`missing chain ${where}`];
  differences.push(...headDrift(desired, state, where));
  differences.push(...diffRuleLines(desired.rules, state.own.map((rule) => rule.line), where));
  differences.push(...diffRuleLines([desired.jump], state.jumps.map((rule) => rule.line), `${desired.table} ${desired.hookChain}`));
  return differences;
}

/** `-A CHAIN spec` → `-I CHAIN 1 spec`. */
function insertAtTop(line: string, chain: string): string {
  return `-I ${chain} 1 ${line.slice(`-A ${chain} `.length)}`;
}

export interface RestoreOptions {
  /**
   * Delete and re-append our rules and the jump even when in place: Flannel's bootstrap at start,
   * which puts the jump at the end of the hook chain and our rules after everyone else's.
   */
  readonly force: boolean;
  /** Lines of a previous subnet.env's rule set still in the table (findStaleRules): deleted. */
  readonly stale: readonly string[];
}

/** The restore lines for one chain: create it if missing, then only what is ours or shared and wrong. */
function chainRepairLines(desired: IptablesChainRules, table: SavedTable, options: RestoreOptions): string[] {
  const where = `${desired.table} ${desired.chain}`;
  const state = chainState(desired, table);
  const deletions = new Set<SavedRule>();
  const lines = state.present ? [] : [`-N ${desired.chain}`];
  const appended: string[] = [];

  const jumpHook = `${desired.table} ${desired.hookChain}`;
  if (options.force || state.jumps.length === 0 || state.jumps.some((jump) => jump.line !== desired.jump)) {
    // Missing, or another spec (a hand edit): every jump goes and the one is appended.
    for (const jump of state.jumps) deletions.add(jump);
    appended.push(desired.jump);
  } else if (diffRuleLines([desired.jump], state.jumps.map((jump) => jump.line), jumpHook).length > 0) {
    for (const extra of state.jumps.slice(1)) deletions.add(extra);
  }
  const headWrong = headDrift(desired, state, where).length > 0;
  if (headWrong) for (const copy of state.headCopies) deletions.add(copy);
  const ownWrong = diffRuleLines(desired.rules, state.own.map((rule) => rule.line), where).length > 0;
  if (options.force || ownWrong) {
    for (const rule of state.own) deletions.add(rule);
    appended.push(...desired.rules);
  }
  for (const rule of state.rules) if (options.stale.includes(rule.line)) deletions.add(rule);

  // -D by spec deletes the first identical rule, so each copy gets its own line.
  for (const rule of deletions) lines.push(deleteLine(rule));
  if (headWrong) for (const line of [...desired.head].reverse()) lines.push(insertAtTop(line, desired.chain));
  lines.push(...appended);
  return lines;
}

/**
 * One iptables-restore --noflush payload for `table`, or undefined when nothing needs writing. Only
 * this agent's rules (ownsRule), the shared jump and head rules, and stale rules of its previous
 * subnet.env are deleted or added; the chains are created with `-N` when missing and never
 * declared with `:CHAIN` (which flushes an existing chain, other networks' rules included), so a
 * chain created meanwhile by another agent fails the commit as a whole instead — the keeper reads
 * again and retries. Nothing else in the table is touched. (Flannel's own start does flush the
 * chains, F:iptables.go CreateIP4Chain → ClearChain, wiping the other networks' rules until their
 * agents' next resync; that part is not copied.)
 */
export function buildRestorePayload(
  tableName: IptablesTable,
  chains: readonly IptablesChainRules[],
  table: SavedTable,
  options: RestoreOptions = { force: false, stale: [] },
): string | undefined {
  const body = chains.filter((chain) => chain.table === tableName).flatMap((chain) => chainRepairLines(chain, table, options));
  if (body.length === 0) return undefined;
  return [`*${tableName}`, ...body, "COMMIT", ""].join("\n");
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
