// Flannel's nftables tables as pure text (F:pkg/trafficmngr/nftables/nftables.go; golden listing
// in F:e2e/rules.go): `table ip flannel-ipv4` / `table ip6 flannel-ipv6` with the chains postrtg
// and forward. The table is rendered exactly as `nft list table` prints it, so the same text is
// both the body of the `nft -f` transaction and what verification compares the kernel against.
import { formatCidr, type Cidr, type IpFamily } from "../../net/ip.ts";
import { multicastCidr } from "./iptables-rules.ts";
import { assertFamily, type FamilyRules } from "./rule-set.ts";

export const nftTableName: Readonly<Record<IpFamily, string>> = { 4: "flannel-ipv4", 6: "flannel-ipv6" };
/** The nft address family of the table, which is also the payload keyword (`ip saddr`, `ip6 saddr`). */
export const nftFamily: Readonly<Record<IpFamily, "ip" | "ip6">> = { 4: "ip", 6: "ip6" };

export const postrtgChainName = "postrtg";
export const forwardChainName = "forward";

/** One base chain of the table: its header lines (comment, type/hook) and its rules, unindented. */
export interface NftChain {
  readonly name: string;
  readonly header: readonly string[];
  readonly rules: readonly string[];
}

export interface NftMasqueradeOptions {
  /** `masquerade fully-random` (the kernel accepts it and not disabled by flag). */
  readonly randomFully: boolean;
}

/**
 * §8.4 postrtg. Differences from the iptables set are Flannel's, kept on purpose: the kube-proxy
 * mark is matched exactly (nft prints 0x4000 as 0x00004000), and the third return rule is
 * `saddr != P daddr N` where iptables has `! -s N -d P`.
 */
export function buildNftMasqueradeChain(
  family: IpFamily,
  network: Cidr,
  subnet: Cidr,
  options: NftMasqueradeOptions,
): NftChain {
  assertFamily(family, network, subnet);
  const af = nftFamily[family];
  const n = formatCidr(network);
  const p = formatCidr(subnet);
  const masquerade = options.randomFully ? "masquerade fully-random" : "masquerade";
  return {
    name: postrtgChainName,
    header: [
      `comment "chain to manage traffic masquerading by flannel"`,
      "type nat hook postrouting priority srcnat; policy accept;",
    ],
    rules: [
      "meta mark 0x00004000 return",
      `${af} saddr ${p} ${af} daddr ${n} return`,
      `${af} saddr ${n} ${af} daddr ${p} return`,
      `${af} saddr != ${p} ${af} daddr ${n} return`,
      `${af} saddr ${n} ${af} daddr != ${multicastCidr[family]} ${masquerade}`,
      `${af} saddr != ${n} ${af} daddr ${n} ${masquerade}`,
    ],
  };
}

/** §8.4 forward: accept everything from or to the cluster network (policy stays accept). */
export function buildNftForwardChain(family: IpFamily, network: Cidr): NftChain {
  assertFamily(family, network);
  const af = nftFamily[family];
  const n = formatCidr(network);
  return {
    name: forwardChainName,
    header: [`comment "chain to accept flannel traffic"`, "type filter hook forward priority filter; policy accept;"],
    rules: [`${af} saddr ${n} accept`, `${af} daddr ${n} accept`],
  };
}

export function buildNftChains(rules: FamilyRules): NftChain[] {
  const chains: NftChain[] = [];
  if (rules.masquerade) {
    chains.push(buildNftMasqueradeChain(rules.family, rules.network, rules.subnet, { randomFully: rules.randomFully }));
  }
  if (rules.forward) chains.push(buildNftForwardChain(rules.family, rules.network));
  return chains;
}

/** `table ip flannel-ipv4 {…}` exactly as `nft list table ip flannel-ipv4` prints it (tabs, blank line between chains). */
export function renderNftTable(family: IpFamily, chains: readonly NftChain[]): string {
  const name = nftTableName[family];
  const blocks = chains.map((chain) =>
    [`\tchain ${chain.name} {`, ...[...chain.header, ...chain.rules].map((l) => `\t\t${l}`), "\t}"].join("\n"),
  );
  // Flannel creates each table with the comment "rules for <table>".
  const body = [`\tcomment "rules for ${name}"`, blocks.join("\n\n")].filter((part) => part !== "");
  return `table ${nftFamily[family]} ${name} {\n${body.join("\n")}\n}\n`;
}

/**
 * The whole table in one transaction: `add` makes the `delete` valid when the table is absent,
 * the `delete` drops whatever the table holds now (stale rules, chains altered by hand), and the
 * definition recreates it. nft commits the three together or not at all — the same end state as
 * Flannel's add-chain + flush-chain + add-rules, but also fixing a chain whose hook was changed.
 */
export function buildNftApplyScript(family: IpFamily, chains: readonly NftChain[]): string {
  const table = `${nftFamily[family]} ${nftTableName[family]}`;
  return `add table ${table}\ndelete table ${table}\n${renderNftTable(family, chains)}`;
}

/**
 * Flannel's fully-random probe (F:pkg/trafficmngr/nftables/utils.go checkRandomfully): a test chain
 * `masqueradeTest` with `masquerade fully-random`, checked with `nft --check`, never committed.
 */
export const nftRandomFullyProbe = [
  `table ip ${nftTableName[4]} {`,
  "\tchain masqueradeTest {",
  `\t\tcomment "chain to test if masquerade random fully is supported"`,
  "\t\ttype nat hook postrouting priority srcnat; policy accept;",
  "\t\tip saddr != 127.0.0.1 masquerade fully-random",
  "\t}",
  "}",
  "",
].join("\n");
