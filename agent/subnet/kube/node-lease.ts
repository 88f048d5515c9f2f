// From a Kubernetes Node to a lease (F:pkg/subnet/kube/kube.go AcquireLease, nodeToLease): the
// subnets come from spec.podCIDRs / spec.podCIDR (Flannel never allocates in kube mode), the
// attributes from the node's annotations. Also the small per-node record the manager keeps
// instead of whole Node objects. Pure: no I/O.
import "./kube-errors.ts";
import { FlannelError } from "../../../backends/errors.ts";
import { formatCidr, parseCidr, parseIpOfFamily, type Cidr, type IpFamily } from "../../../backends/net/ip.ts";
import type { NetConf } from "../../config/net-conf.ts";
import { ownAnnotations, type Annotations, type KubeAnnotations } from "./annotations.ts";
import type { Lease } from "./manager-contract.ts";

/** The parts of a Node object flannel reads (a V1Node from a list or raw watch JSON both fit). */
export interface NodeObject {
  readonly metadata?: { readonly name?: string; readonly resourceVersion?: string; readonly annotations?: Annotations };
  readonly spec?: { readonly podCIDR?: string; readonly podCIDRs?: readonly string[] };
}

/** What the manager keeps of a node: a few hundred bytes instead of the whole object. */
export interface NodeFacts {
  readonly name: string;
  readonly resourceVersion: string;
  /** Only the annotations under the flannel prefix. */
  readonly annotations: Annotations;
  readonly podCIDR: string;
  readonly podCIDRs: readonly string[];
}

export function nodeFacts(names: KubeAnnotations, node: NodeObject): NodeFacts {
  return {
    name: node.metadata?.name ?? "",
    resourceVersion: node.metadata?.resourceVersion ?? "",
    annotations: ownAnnotations(names, node.metadata?.annotations),
    podCIDR: node.spec?.podCIDR ?? "",
    podCIDRs: node.spec?.podCIDRs ?? [],
  };
}

export interface NodeSubnets {
  readonly subnet?: Cidr;
  readonly subnetV6?: Cidr;
}

function nodeInvalid(message: string, node: string, extra: Record<string, unknown> = {}): FlannelError {
  return new FlannelError("kube-node-invalid", message, { details: { node, ...extra } });
}

function parsePodCidr(text: string, node: string): Cidr {
  const cidr = parseCidr(text);
  if (cidr === undefined) throw nodeInvalid(`node ${JSON.stringify(node)} has an invalid pod cidr ${JSON.stringify(text)}`, node, { podCIDR: text });
  return cidr;
}

/**
 * The node's pod subnets. `pick` is Flannel's inconsistency, reproduced: for its own node
 * (AcquireLease) the last IPv4 and last IPv6 entry of podCIDRs win, for peers (nodeToLease) the
 * first. They agree for every node Kubernetes creates (at most one entry per family).
 */
export function podSubnets(facts: NodeFacts, pick: "first" | "last"): NodeSubnets {
  if (facts.podCIDR === "" && facts.podCIDRs.length === 0) throw nodeInvalid(`node ${JSON.stringify(facts.name)} pod cidr not assigned`, facts.name);
  const texts = facts.podCIDRs.length === 0 ? [facts.podCIDR] : facts.podCIDRs;
  if (texts.length > 2) throw nodeInvalid(`node ${JSON.stringify(facts.name)} pod cidrs should be IPv4/IPv6 only or dualstack`, facts.name, { podCIDRs: texts });
  const found: { subnet?: Cidr; subnetV6?: Cidr } = {};
  for (const text of texts) {
    const cidr = parsePodCidr(text, facts.name);
    const slot = cidr.family === 4 ? "subnet" : "subnetV6";
    if (pick === "last" || found[slot] === undefined) found[slot] = cidr;
  }
  return found;
}

/** Flannel's containsCIDR: the network's prefix is no longer and it holds the subnet's address. */
function containsCidr(network: Cidr, subnet: Cidr): boolean {
  return (
    network.family === subnet.family &&
    network.prefix <= subnet.prefix &&
    (subnet.address & ~((1n << BigInt((network.family === 4 ? 32 : 128) - network.prefix)) - 1n)) === network.address
  );
}

/**
 * The own node's lease subnets for the enabled families, checked against net-conf.json with
 * Flannel's messages. Flannel reads a missing Network as 0.0.0.0/0 (which holds everything); we
 * refuse it, since a node network without a Network cannot be routed.
 */
export function ownLeaseSubnets(facts: NodeFacts, conf: NetConf): NodeSubnets {
  if (facts.podCIDR === "") throw nodeInvalid(`node ${JSON.stringify(facts.name)} pod cidr not assigned`, facts.name);
  const subnets = podSubnets(facts, "last");
  const result: { subnet?: Cidr; subnetV6?: Cidr } = {};
  for (const family of [4, 6] as const) {
    const familyConf = family === 4 ? conf.ipv4 : conf.ipv6;
    if (!familyConf.enabled) continue;
    const subnet = family === 4 ? subnets.subnet : subnets.subnetV6;
    if (subnet === undefined) throw nodeInvalid(`Missing IPv${family} address on n.Spec.PodCIDRs of the ${JSON.stringify(facts.name)} node`, facts.name);
    const network = familyConf.network;
    if (network === undefined || !containsCidr(network, subnet)) {
      const networkText = network === undefined ? "" : formatCidr(network);
      const field = family === 4 ? "Network" : "IPv6Network";
      throw nodeInvalid(
        `subnet ${JSON.stringify(networkText)} specified in the flannel net config doesn't contain ${JSON.stringify(formatCidr(subnet))} PodCIDR of the ${JSON.stringify(facts.name)} node`,
        facts.name,
        { field, network: networkText, podCIDR: formatCidr(subnet) },
      );
    }
    result[family === 4 ? "subnet" : "subnetV6"] = subnet;
  }
  return result;
}

/** The families net-conf.json enables: which halves of a peer's lease are read. */
export interface EnabledFamilies {
  readonly ipv4: boolean;
  readonly ipv6: boolean;
}

function backendData(text: string | undefined): unknown {
  if (text === undefined || text === "") return undefined;
  try {
    // "null" (host-gw) is no data, as an etcd lease without BackendData.
    return (JSON.parse(text) as unknown) ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * Flannel's nodeToLease for a peer: public-ip (and for IPv6 public-ipv6) must parse, backend-data
 * is the annotation's JSON, the subnet is the first pod CIDR of the family. Throws
 * kube-node-invalid; the watch logs it and skips the node, as Flannel does.
 */
export function nodeToLease(names: KubeAnnotations, facts: NodeFacts, families: EnabledFamilies): Lease {
  const subnets = podSubnets(facts, "first");
  const a = facts.annotations;
  const lease: { subnet?: Cidr; subnetV6?: Cidr; attrs: { -readonly [K in keyof Lease["attrs"]]: Lease["attrs"][K] } } = {
    attrs: { publicIP: { family: 4, value: 0n }, backendType: a[names.backendType] ?? "" },
  };
  for (const family of [4, 6] as const satisfies readonly IpFamily[]) {
    if (!(family === 4 ? families.ipv4 : families.ipv6)) continue;
    const key = names.publicIP[family];
    const ip = parseIpOfFamily(a[key] ?? "", family);
    if (ip === undefined) {
      throw nodeInvalid(`node ${JSON.stringify(facts.name)}: annotation ${key}=${JSON.stringify(a[key] ?? "")} is not an IPv${family} address`, facts.name, {
        annotation: key,
      });
    }
    const subnet = family === 4 ? subnets.subnet : subnets.subnetV6;
    if (subnet === undefined) throw nodeInvalid(`Missing IPv${family} address on n.Spec.PodCIDRs of the ${JSON.stringify(facts.name)} node`, facts.name);
    const data = backendData(a[names.backendData[family]]);
    if (family === 4) {
      lease.attrs.publicIP = ip;
      lease.subnet = subnet;
      if (data !== undefined) lease.attrs.backendData = data;
    } else {
      lease.attrs.publicIPv6 = ip;
      lease.subnetV6 = subnet;
      if (data !== undefined) lease.attrs.backendV6Data = data;
    }
  }
  return lease;
}

/** Whether the node carries kube-subnet-manager "true": nodes without it are not flannel's. */
export function isManaged(names: KubeAnnotations, facts: NodeFacts): boolean {
  return facts.annotations[names.kubeSubnetManager] === "true";
}
