// What the firewall rules are built from, shared by the iptables and the nftables writers: one
// family's cluster network N and lease subnet P, which of Flannel's two rule groups are wanted,
// and the small line-diff both writers use to say how the kernel differs from the desired set.
import type { Cidr, IpFamily } from "../../net/ip.ts";

/** Flannel's two traffic managers, chosen by net-conf.json `EnableNFTables`. */
export type RulesMode = "iptables" | "nftables";

/** What the rules code logs through; the agent's Log (and backends' BackendLog) fit it. */
export interface RulesLog {
  info(message: string, fields?: Readonly<Record<string, unknown>>): void;
  warn(message: string, fields?: Readonly<Record<string, unknown>>): void;
}

/** The desired rules of one family (Flannel builds the v4 and v6 sets from the same template). */
export interface FamilyRules {
  readonly family: IpFamily;
  /** N: net-conf `Network` (or `IPv6Network`). */
  readonly network: Cidr;
  /** P: this node's lease subnet (or IPv6 subnet). */
  readonly subnet: Cidr;
  /** --ip-masq: the FLANNEL-POSTRTG / postrtg masquerade rules. */
  readonly masquerade: boolean;
  /** --iptables-forward-rules: the FLANNEL-FWD / forward accept rules. */
  readonly forward: boolean;
  /** `--random-fully` / `fully-random` on the MASQUERADE rules (supported and not disabled). */
  readonly randomFully: boolean;
}

/** A family mismatch between N, P and the family is a wiring bug, not an operational error. */
export function assertFamily(family: IpFamily, ...cidrs: readonly Cidr[]): void {
  for (const cidr of cidrs) {
    if (cidr.family !== family) throw new TypeError(`firewall rules for IPv${family} given an IPv${cidr.family} CIDR`);
  }
}

/**
 * How `actual` differs from `desired`, one readable line per difference: rules missing, rules
 * that should not be there, or (when both hold the same rules) a different order — order
 * matters for RETURN/MASQUERADE chains, which is why Flannel re-appends the whole set.
 * Empty when they are equal.
 */
export function diffRuleLines(desired: readonly string[], actual: readonly string[], where: string): string[] {
  const remaining = new Map<string, number>();
  for (const line of actual) remaining.set(line, (remaining.get(line) ?? 0) + 1);
  const differences: string[] = [];
  for (const line of desired) {
    const count = remaining.get(line) ?? 0;
    if (count === 0) differences.push(`missing in ${where}: ${line}`);
    else remaining.set(line, count - 1);
  }
  for (const [line, count] of remaining) {
    for (let i = 0; i < count; i++) differences.push(`unexpected in ${where}: ${line}`);
  }
  if (differences.length === 0 && desired.some((line, i) => actual[i] !== line)) {
    differences.push(`out of order in ${where}`);
  }
  return differences;
}

/** What one read of the kernel found for one family, and how to put the desired set back. */
export interface RuleCheck {
  readonly family: IpFamily;
  /** Readable differences (see diffRuleLines); empty when the kernel holds exactly the desired rules. */
  readonly differences: readonly string[];
  /** Rules of the previous subnet.env's network and subnet still present; removed by repair. */
  readonly stale: readonly string[];
  /**
   * Puts this agent's rules (and the shared chains, jumps and head rules) back from what the check
   * read, atomically: one transaction per table, writing nothing when nothing differs, unless
   * `force` (Flannel's bootstrap at start: own rules deleted and re-appended even when in place).
   * Other agents' rules in the same chains are left as they are.
   */
  repair(signal: AbortSignal, force?: boolean): Promise<void>;
}

/** The per-family, per-mode shell: reads the kernel once per table and writes only when needed. */
export interface FamilyRuleWriter {
  readonly family: IpFamily;
  readonly mode: RulesMode;
  check(signal: AbortSignal): Promise<RuleCheck>;
  /**
   * The nftables tables ("ip nat", "ip flannel-ipv4") whose changes `nft monitor` reports and that
   * hold everything check() reads; undefined when the monitor cannot see them (iptables-legacy).
   */
  readonly watchTables?: readonly string[] | undefined;
}
