// Flannel's masquerade and forward rules for iptables/ip6tables, as pure data in the exact
// `iptables -S` / `iptables-save` form (F:pkg/trafficmngr/iptables/iptables.go masqRules,
// masqIP6Rules, forwardRules; golden text in F:e2e/rules.go). The same text is what
// iptables-restore reads, so one rendering serves both applying and verifying.
import { formatCidr, type Cidr, type IpFamily } from "../../net/ip.ts";
import { assertFamily, type FamilyRules } from "./rule-set.ts";

export const masqueradeChain = "FLANNEL-POSTRTG";
export const forwardChain = "FLANNEL-FWD";
export const masqueradeComment = "flanneld masq";
export const forwardComment = "flanneld forward";
/** kube-proxy marks packets it will masquerade itself; Flannel skips them to avoid double NAT. */
export const kubeProxyMark = "0x4000/0x4000";
/** Multicast is never masqueraded (Flannel: 224.0.0.0/4, and ff00::/8 for IPv6). */
export const multicastCidr: Readonly<Record<IpFamily, string>> = { 4: "224.0.0.0/4", 6: "ff00::/8" };

export type IptablesTable = "nat" | "filter";

/**
 * What one agent wants in one of Flannel's chains. The chain, the jump to it and the head rules
 * are shared by every flanneld of the node (one per network, each with its own --etcd-prefix,
 * --subnet-file and VNI, and Flannel's own during a migration); `rules` are this agent's alone.
 * Every string is one `-A …` line exactly as `iptables -S` prints it.
 */
export interface IptablesChainRules {
  readonly table: IptablesTable;
  /** The built-in chain holding the jump (POSTROUTING in nat, FORWARD in filter). */
  readonly hookChain: string;
  readonly chain: string;
  /** Shared: one jump from the hook chain, whoever wrote it. */
  readonly jump: string;
  /**
   * Shared: rules that belong at the top of the chain, once, for every network (the kube-proxy
   * mark RETURN must come before any network's MASQUERADE). Same text for every agent.
   */
  readonly head: readonly string[];
  /** This agent's own rules, in order. Each names `ownCidrs` (see ownsRule in iptables-plan.ts). */
  readonly rules: readonly string[];
  /** N and P as written in the rules: a rule of the chain naming one of them is this agent's. */
  readonly ownCidrs: readonly string[];
}

export interface MasqueradeOptions {
  /** Append `--random-fully` to the MASQUERADE targets (iptables ≥ 1.6.2 and not disabled). */
  readonly randomFully: boolean;
}

function line(chain: string, match: string, comment: string, target: string): string {
  const matchPart = match === "" ? "" : `${match} `;
  return `-A ${chain} ${matchPart}-m comment --comment "${comment}" -j ${target}`;
}

/** §8.1: table nat, chain FLANNEL-POSTRTG, with its jump appended to POSTROUTING. */
export function buildMasqueradeRules(
  family: IpFamily,
  network: Cidr,
  subnet: Cidr,
  options: MasqueradeOptions,
): IptablesChainRules {
  assertFamily(family, network, subnet);
  const n = formatCidr(network);
  const p = formatCidr(subnet);
  const masquerade = options.randomFully ? "MASQUERADE --random-fully" : "MASQUERADE";
  const rule = (match: string, target: string) => line(masqueradeChain, match, masqueradeComment, target);
  return {
    table: "nat",
    hookChain: "POSTROUTING",
    chain: masqueradeChain,
    jump: line("POSTROUTING", "", masqueradeComment, masqueradeChain),
    head: [rule(`-m mark --mark ${kubeProxyMark}`, "RETURN")],
    rules: [
      // Pod ↔ pod inside the overlay is never NATed.
      rule(`-s ${p} -d ${n}`, "RETURN"),
      rule(`-s ${n} -d ${p}`, "RETURN"),
      // External traffic arriving for this node's pods keeps its source.
      rule(`! -s ${n} -d ${p}`, "RETURN"),
      // Pods leaving the overlay (except multicast), and the host entering it, are masqueraded.
      rule(`-s ${n} ! -d ${multicastCidr[family]}`, masquerade),
      rule(`! -s ${n} -d ${n}`, masquerade),
    ],
    ownCidrs: [n, p],
  };
}

/** §8.2: table filter, chain FLANNEL-FWD, with its jump appended to FORWARD (Docker's DROP policy). */
export function buildForwardRules(family: IpFamily, network: Cidr): IptablesChainRules {
  assertFamily(family, network);
  const n = formatCidr(network);
  return {
    table: "filter",
    hookChain: "FORWARD",
    chain: forwardChain,
    jump: line("FORWARD", "", forwardComment, forwardChain),
    head: [],
    rules: [line(forwardChain, `-s ${n}`, forwardComment, "ACCEPT"), line(forwardChain, `-d ${n}`, forwardComment, "ACCEPT")],
    ownCidrs: [n],
  };
}

/** The chains one family needs, masquerade first as Flannel's main sets them up. */
export function buildIptablesChains(rules: FamilyRules): IptablesChainRules[] {
  const chains: IptablesChainRules[] = [];
  if (rules.masquerade) {
    chains.push(buildMasqueradeRules(rules.family, rules.network, rules.subnet, { randomFully: rules.randomFully }));
  }
  if (rules.forward) chains.push(buildForwardRules(rules.family, rules.network));
  return chains;
}

/** The jump, the head and the own rules: F:e2e/rules.go's golden listing of a node with one network. */
export function listChainRules(chain: IptablesChainRules): string[] {
  return [chain.jump, ...chain.head, ...chain.rules];
}

/** iptables / ip6tables and their -save / -restore companions for a family. */
export function iptablesCommand(family: IpFamily, suffix: "" | "-save" | "-restore" = ""): string {
  return `${family === 4 ? "iptables" : "ip6tables"}${suffix}`;
}
