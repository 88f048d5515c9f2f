// A small cluster for backend tests: node namespaces on one underlay (198.18.0.N/24 on eth0),
// each with the production kernel layer pointed into it and a "pod network" — a cni0 bridge
// holding 10.244.N.1/24 with one port, so it has carrier and the kernel's connected route, as
// on a real node. Traffic between 10.244.N.1 addresses can only cross the backend's data plane.
// Dual-stack clusters add 2001:db8::N/64 on eth0 and fd00:0:0:N::1/64 on cni0.
import assert from "node:assert/strict";
import type { LocalNode, Peer } from "../../../backends/backend.ts";
import { openKernel, type Kernel } from "../../../backends/kernel/kernel.ts";
import { readLink } from "../../../backends/kernel/link.ts";
import { parseCidr, parseIp, type Cidr, type IpAddress } from "../../../backends/net/ip.ts";
import { createMemoryLog, type MemoryLog } from "../../support/memory-log.ts";
import { createUnderlay, type Namespace, type Underlay } from "../../support/netns.ts";

export const clusterNetwork: Cidr = parseCidr("10.244.0.0/16")!;
export const clusterNetworkV6: Cidr = parseCidr("fd00::/48")!;

export interface ClusterOptions {
  /** Dual stack: IPv6 underlay and pod addresses as well. */
  readonly ipv6?: boolean;
}

export interface ClusterNode {
  readonly n: number;
  readonly ns: Namespace;
  /** 198.18.0.N */
  readonly address: string;
  readonly publicIP: IpAddress;
  readonly kernel: Kernel;
  readonly log: MemoryLog;
  /** 10.244.N.0/24 */
  readonly subnet: Cidr;
  /** 10.244.N.1, on cni0 */
  readonly podAddress: string;
  /** Dual stack only: 2001:db8::N, fd00:0:0:N::/64 and fd00:0:0:N::1. */
  readonly publicIPv6: IpAddress | undefined;
  readonly subnetV6: Cidr | undefined;
  readonly podAddressV6: string | undefined;
  local(backendConfig: unknown): Promise<LocalNode>;
  /** `ip -n NS -json ARGS…` parsed. */
  json<T = Record<string, unknown>[]>(...args: string[]): Promise<T>;
  /** Runs `ip -n NS ARGS…` (throws on failure). */
  ip(...args: string[]): Promise<void>;
  bridge(...args: string[]): Promise<void>;
  /** `bridge -json fdb show dev DEV` parsed. */
  fdb(device: string): Promise<Record<string, unknown>[]>;
  /** Pings from this node's pod address to another's (up to `attempts` times); true when a reply came back. */
  ping(to: ClusterNode, attempts?: number): Promise<boolean>;
  /** The same over IPv6 (dual stack only). */
  ping6(to: ClusterNode, attempts?: number): Promise<boolean>;
}

export interface Cluster {
  readonly underlay: Underlay;
  readonly nodes: readonly ClusterNode[];
  remove(): Promise<void>;
}

export async function createCluster(count: number, options: ClusterOptions = {}): Promise<Cluster> {
  const underlay = await createUnderlay(count);
  const kernels: Kernel[] = [];
  const remove = async (): Promise<void> => {
    for (const kernel of kernels) await kernel[Symbol.asyncDispose]();
    await underlay.remove();
  };
  try {
    const nodes: ClusterNode[] = [];
    for (const [i, node] of underlay.nodes.entries()) {
      const n = i + 1;
      const { ns } = node;
      const kernel = openKernel({ prefix: ["ip", "netns", "exec", ns.name] });
      kernels.push(kernel);
      await ns.ip("link", "add", "cni0", "type", "bridge");
      await ns.ip("link", "add", "veth0", "type", "veth", "peer", "name", "veth0p");
      await ns.ip("link", "set", "veth0", "master", "cni0", "up");
      await ns.ip("link", "set", "veth0p", "up");
      await ns.ip("addr", "add", `10.244.${n}.1/24`, "dev", "cni0");
      await ns.ip("link", "set", "cni0", "up");
      if (options.ipv6 === true) {
        await ns.ip("addr", "add", `2001:db8::${n}/64`, "dev", "eth0", "nodad");
        await ns.ip("addr", "add", `fd00:0:0:${n}::1/64`, "dev", "cni0", "nodad");
      }
      const v6 = options.ipv6 === true;
      const run = async (tool: string, args: string[]): Promise<void> => {
        await ns.exec([tool, ...args]);
      };
      nodes.push({
        n,
        ns,
        address: node.address,
        publicIP: parseIp(node.address)!,
        kernel,
        log: createMemoryLog(),
        subnet: parseCidr(`10.244.${n}.0/24`)!,
        podAddress: `10.244.${n}.1`,
        publicIPv6: v6 ? parseIp(`2001:db8::${n}`) : undefined,
        subnetV6: v6 ? parseCidr(`fd00:0:0:${n}::/64`) : undefined,
        podAddressV6: v6 ? `fd00:0:0:${n}::1` : undefined,
        local: async (backendConfig) => {
          const link = await readLink(kernel.runner, node.device);
          if (link === undefined) throw new Error(`no ${node.device} in ${ns.name}`);
          const ip = parseIp(node.address)!;
          const ip6 = v6 ? parseIp(`2001:db8::${n}`)! : undefined;
          return {
            link: { name: link.name, index: link.index, mtu: link.mtu },
            ifaceAddr: ip,
            extAddr: ip,
            network: clusterNetwork,
            ...(ip6 === undefined ? {} : { ifaceV6Addr: ip6, extV6Addr: ip6, networkV6: clusterNetworkV6 }),
            backendConfig,
          };
        },
        json: <T>(...args: string[]) => ns.ipJson<T>(...args),
        ip: (...args) => run("ip", args),
        bridge: (...args) => run("bridge", args),
        fdb: async (device) => {
          const { stdout } = await ns.exec(["bridge", "-json", "fdb", "show", "dev", device]);
          return stdout.trim() === "" ? [] : (JSON.parse(stdout) as Record<string, unknown>[]);
        },
        ping: async (to, attempts = 3) => {
          for (let attempt = 0; attempt < attempts; attempt++) {
            const result = await ns.exec(["ping", "-n", "-q", "-c", "1", "-W", "1", "-I", `10.244.${n}.1`, to.podAddress], { allowFailure: true });
            if (result.code === 0) return true;
          }
          return false;
        },
        ping6: async (to, attempts = 3) => {
          for (let attempt = 0; attempt < attempts; attempt++) {
            const result = await ns.exec(["ping", "-6", "-n", "-q", "-c", "1", "-W", "1", "-I", `fd00:0:0:${n}::1`, `fd00:0:0:${to.n}::1`], { allowFailure: true });
            if (result.code === 0) return true;
          }
          return false;
        },
      });
    }
    return { underlay, nodes, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}

/** Another node as a peer, the way the agent builds it from a lease. */
export function peerOf(node: ClusterNode, backendType: string, backendData?: unknown, backendV6Data?: unknown): Peer {
  return {
    subnet: node.subnet,
    publicIP: node.publicIP,
    ...(node.subnetV6 === undefined ? {} : { subnetV6: node.subnetV6 }),
    ...(node.publicIPv6 === undefined ? {} : { publicIPv6: node.publicIPv6 }),
    backendType,
    ...(backendData === undefined ? {} : { backendData }),
    ...(backendV6Data === undefined ? {} : { backendV6Data }),
  };
}

/** The other nodes of the cluster. */
export function othersOf(nodes: readonly ClusterNode[], node: ClusterNode): ClusterNode[] {
  return nodes.filter((other) => other !== node);
}

/** Every ordered pair of distinct nodes. */
export function allPairs(nodes: readonly ClusterNode[]): [ClusterNode, ClusterNode][] {
  return nodes.flatMap((a) => othersOf(nodes, a).map((b): [ClusterNode, ClusterNode] => [a, b]));
}

/** Fails naming the first pair whose pods cannot reach each other. */
export async function assertAllPing(pairs: readonly [ClusterNode, ClusterNode][]): Promise<void> {
  for (const [from, to] of pairs) assert.ok(await from.ping(to), `ping ${from.podAddress} → ${to.podAddress}`);
}
