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

/**
 * What one agent wants of a base chain of the table. As in Flannel, every flanneld of the node
 * (one per network) uses the same table and chains; the header and the head rules are shared,
 * `rules` are this agent's own (see ownsNftRule in nft-plan.ts). Lines unindented, as nft prints them.
 */
export interface NftChain {
  readonly name: string;
  /** Shared: comment and `type … hook … priority …; policy …;`, as `nft list` prints them. */
  readonly header: readonly string[];
  /** Shared: rules wanted once at the top of the chain (the kube-proxy mark return). */
  readonly head: readonly string[];
  readonly rules: readonly string[];
  /** N and P as nft prints them: a rule naming one of them is this agent's. */
  readonly ownCidrs: readonly string[];
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
    head: ["meta mark 0x00004000 return"],
    rules: [
      `${af} saddr ${p} ${af} daddr ${n} return`,
      `${af} saddr ${n} ${af} daddr ${p} return`,
      `${af} saddr != ${p} ${af} daddr ${n} return`,
      `${af} saddr ${n} ${af} daddr != ${multicastCidr[family]} ${masquerade}`,
      `${af} saddr != ${n} ${af} daddr ${n} ${masquerade}`,
    ],
    ownCidrs: [n, p],
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
    head: [],
    rules: [`${af} saddr ${n} accept`, `${af} daddr ${n} accept`],
    ownCidrs: [n],
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

/**
 * `table ip flannel-ipv4 {…}` exactly as `nft list table ip flannel-ipv4` prints it on a node where
 * this agent is the only network (tabs, blank line between chains): F:e2e/rules.go's golden listing.
 */
export function renderNftTable(family: IpFamily, chains: readonly NftChain[]): string {
  const name = nftTableName[family];
  const blocks = chains.map((chain) =>
    [`\tchain ${chain.name} {`, ...[...chain.header, ...chain.head, ...chain.rules].map((l) => `\t\t${l}`), "\t}"].join("\n"),
  );
  // Flannel creates each table with the comment "rules for <table>".
  const body = [`\tcomment "rules for ${name}"`, blocks.join("\n\n")].filter((part) => part !== "");
  return `table ${nftFamily[family]} ${name} {\n${body.join("\n")}\n}\n`;
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
