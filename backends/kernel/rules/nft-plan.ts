// nftables mode as pure functions: parse one `nft -a list table` of Flannel's table, say how it
// differs from what this agent wants, and write the one `nft -f` transaction that puts it right.
//
// Flannel's nftables manager (F:pkg/trafficmngr/nftables/nftables.go) gives every flanneld of a
// node the same `table ip flannel-ipv4` with the same chains postrtg and forward, and on start
// flushes each chain and adds its own rules — so with two networks on a node the last agent started
// wipes the other's rules, and as it never checks again (no resync in nftables mode) they stay
// gone. We copy the layout, the headers and the rule text, so that Flannel's agents and ours meet in
// the same chains, but not the flush: like the iptables mode here (and Flannel's iptables manager),
// an agent deletes and re-adds only its own rules, by handle, and leaves the others' alone.
import { diffRuleLines } from "./rule-set.ts";
import type { NftChain } from "./nft-rules.ts";

export interface ListedRule {
  /** The rule as nft prints it, without the `# handle N` comment. */
  readonly text: string;
  readonly handle: number;
}

export interface ListedChain {
  /** Lines before the rules: comment, `type … hook … priority …; policy …;` */
  readonly header: readonly string[];
  readonly rules: readonly ListedRule[];
}

/** What `nft -a list table` showed; only the chains (sets, maps and the like are skipped). */
export type NftListing = ReadonlyMap<string, ListedChain>;

function bracesOutsideQuotes(line: string): number {
  let depth = 0;
  let quoted = false;
  for (const c of line) {
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === "{") depth += 1;
    else if (!quoted && c === "}") depth -= 1;
  }
  return depth;
}

/** Parses `nft -a list table FAMILY NAME`. */
export function parseNftListing(text: string): NftListing {
  const chains = new Map<string, ListedChain>();
  let chain: { header: string[]; rules: ListedRule[] } | undefined;
  let depth = 0;
  for (const raw of text.split("\n")) {
    const handled = /^(.*?)\s+# handle (\d+)$/.exec(raw.trim());
    const line = handled === null ? raw.trim() : handled[1]!;
    if (line === "") continue;
    if (chain !== undefined && depth === 2) {
      if (line === "}") {
        chain = undefined;
        depth = 1;
      } else if (handled !== null) {
        chain.rules.push({ text: line, handle: Number(handled[2]) });
      } else {
        chain.header.push(line);
      }
      continue;
    }
    const opened = /^chain (\S+) \{$/.exec(line);
    if (opened !== null && depth === 1) {
      chain = { header: [], rules: [] };
      chains.set(opened[1]!, chain);
      depth = 2;
      continue;
    }
    depth += bracesOutsideQuotes(line);
  }
  return chains;
}

/**
 * Whether a listed rule is this agent's: it names N or P as a whole word. The same rule as the
 * iptables mode's ownsRule (iptables-plan.ts says why): Flannel's rules for a network all name its N
 * or P, another network's never do, and the kube-proxy mark rule names none (it is shared).
 */
export function ownsNftRule(desired: NftChain, rule: ListedRule): boolean {
  return rule.text.split(" ").some((word) => desired.ownCidrs.includes(word));
}

interface ChainState {
  readonly listed: ListedChain | undefined;
  readonly headerDiffers: boolean;
  readonly headCopies: readonly ListedRule[];
  readonly own: readonly ListedRule[];
}

function chainState(desired: NftChain, listing: NftListing): ChainState {
  const listed = listing.get(desired.name);
  const rules = listed?.rules ?? [];
  return {
    listed,
    headerDiffers: listed !== undefined && diffRuleLines(desired.header, listed.header, "").length > 0,
    headCopies: rules.filter((rule) => desired.head.includes(rule.text)),
    own: rules.filter((rule) => ownsNftRule(desired, rule)),
  };
}

const named = (chain: string, lines: readonly string[]): string[] => lines.map((line) => `${chain}: ${line}`);

function headDrift(desired: NftChain, state: ChainState, where: string): string[] {
  const differences = diffRuleLines(named(desired.name, desired.head), named(desired.name, state.headCopies.map((r) => r.text)), where);
  if (differences.length > 0) return differences;
  const top = (state.listed?.rules ?? []).slice(0, desired.head.length).map((rule) => rule.text);
  return desired.head.filter((line, i) => top[i] !== line).map((line) => `not at the head of ${where}: ${desired.name}: ${line}`);
}

function ownDrift(desired: NftChain, state: ChainState, where: string): string[] {
  return diffRuleLines(named(desired.name, desired.rules), named(desired.name, state.own.map((rule) => rule.text)), where);
}

/**
 * How the table differs from what this agent wants: each chain present with Flannel's header,
 * starting with the head rules once, and holding exactly our own rules in order. `listing`
 * undefined means the table itself is missing. Other agents' rules are not looked at.
 */
export function findNftDrift(table: string, chains: readonly NftChain[], listing: NftListing | undefined): string[] {
  const where = `table ${table}`;
  if (listing === undefined) return [`missing ${where}`];
  return chains.flatMap((desired) => {
    const state = chainState(desired, listing);
    if (state.listed === undefined) return [`missing chain ${desired.name} in ${where}`];
    const differences = state.headerDiffers ? [`chain ${desired.name} in ${where} has another header: ${state.listed.header.join(" ")}`] : [];
    return [...differences, ...headDrift(desired, state, where), ...ownDrift(desired, state, where)];
  });
}

export interface NftRepairOptions {
  /** Delete and re-add our rules even when in place (start-up, as Flannel's own start). */
  readonly force: boolean;
  /** Rules built from the previous subnet.env's network and subnet: deleted where present. */
  readonly stale: readonly string[];
}

function chainSpec(desired: NftChain): string {
  return `{ ${desired.header.map((line) => (line.endsWith(";") ? line : `${line};`)).join(" ")} }`;
}

function chainRepair(table: string, desired: NftChain, listing: NftListing, options: NftRepairOptions): string[] {
  const where = `table ${table}`;
  const state = chainState(desired, listing);
  const ref = `${table} ${desired.name}`;
  const add = (rules: readonly string[]) => rules.map((rule) => `add rule ${ref} ${rule}`);
  const insertHead = [...desired.head].reverse().map((rule) => `insert rule ${ref} ${rule}`);
  if (state.listed === undefined) return [`add chain ${ref} ${chainSpec(desired)}`, ...insertHead, ...add(desired.rules)];
  if (state.headerDiffers) {
    // A hook or priority changed by hand cannot be edited in place: the chain is made again and
    // the other agents' rules are put back from their listed text, in the same transaction.
    const others = state.listed.rules.filter(
      (rule) => !ownsNftRule(desired, rule) && !desired.head.includes(rule.text) && !options.stale.includes(rule.text),
    );
    return [
      `flush chain ${ref}`,
      `delete chain ${ref}`,
      `add chain ${ref} ${chainSpec(desired)}`,
      ...add(others.map((rule) => rule.text)),
      ...insertHead,
      ...add(desired.rules),
    ];
  }
  const deletions = new Set<ListedRule>();
  const headWrong = headDrift(desired, state, where).length > 0;
  if (headWrong) for (const copy of state.headCopies) deletions.add(copy);
  const ownWrong = ownDrift(desired, state, where).length > 0;
  if (options.force || ownWrong) for (const rule of state.own) deletions.add(rule);
  for (const rule of state.listed.rules) if (options.stale.includes(rule.text)) deletions.add(rule);
  return [
    ...[...deletions].map((rule) => `delete rule ${ref} handle ${rule.handle}`),
    ...(headWrong ? insertHead : []),
    ...(options.force || ownWrong ? add(desired.rules) : []),
  ];
}

/**
 * The `nft -f` transaction putting this agent's part of the table right, or undefined when
 * nothing needs writing. nft commits it whole or not at all: a rule deleted meanwhile by another
 * agent (its handle gone) fails it, and the keeper reads again and retries.
 */
export function buildNftRepairScript(
  table: string,
  tableComment: string,
  chains: readonly NftChain[],
  listing: NftListing | undefined,
  options: NftRepairOptions,
): string | undefined {
  const body = chains.flatMap((desired) => chainRepair(table, desired, listing ?? new Map(), options));
  if (body.length === 0 && listing !== undefined) return undefined;
  // `add table` leaves an existing table (and its comment) as it is.
  return [`add table ${table} { comment "${tableComment}"; }`, ...body, ""].join("\n");
}

/** The previous subnet.env's rules that are not also current ones (F: iptables.go recycles them). */
export function staleNftRules(previous: readonly NftChain[], current: readonly NftChain[]): string[] {
  const wanted = new Set(current.flatMap((chain) => [...chain.head, ...chain.rules]));
  return previous.flatMap((chain) => chain.rules).filter((rule) => !wanted.has(rule));
}
