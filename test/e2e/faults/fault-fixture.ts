// Shared pieces of the fault tests (issue 12, "faults handled and tested"): pod-to-pod ping counted
// across a fault, "ghost" peer leases (written straight into etcd, as another node's agent would,
// with no namespace behind them) in bursts, or as Nodes in kube mode, and the vxlan state Flannel
// makes of the real nodes plus the ghosts. (The agent as a process: agent-process.ts.)
// Not a test file itself.
import type { Lab, LabNode } from "../../../deploy/lab/lab.ts";
import { run } from "../../../deploy/lab/tools/command.ts";
import { etcdctlBinary } from "../../../deploy/lab/tools/etcd-command.ts";
import { waitFor } from "../../../deploy/lab/tools/wait.ts";
import { spawnProcess, type ManagedProcess } from "../../support/process.ts";
import { flannelVxlanState, labEtcd, parsePingStats, subnetsPrefix, vxlanDevice, vxlanState, type Lease, type PingStats, type VxlanState } from "../lab-fixture.ts";

/** A /8 leaves room for a thousand ghost /24s beside the nodes' own (allocated from 10.0.1.0 up). */
export const wideNetwork = "10.0.0.0/8";

export interface Ghost {
  readonly key: string;
  readonly subnet: string;
  readonly address: string;
  readonly publicIP: string;
  readonly vtepMAC: string;
  readonly raw: string;
}

const hex = (n: number): string => n.toString(16).padStart(2, "0");

/** Ghost number `i` (0..63999): subnet 10.(200+i/256).(i%256).0/24, a public IP and MAC of its own. */
export function ghost(i: number): Ghost {
  const address = `10.${200 + Math.floor(i / 256)}.${i % 256}.0`;
  const [hi, lo] = [Math.floor(i / 250), (i % 250) + 1];
  const publicIP = `198.19.${hi}.${lo}`;
  const vtepMAC = `0a:58:c6:13:${hex(hi)}:${hex(lo)}`;
  return {
    key: `${address}-24`,
    subnet: `${address}/24`,
    address,
    publicIP,
    vtepMAC,
    raw: JSON.stringify({ PublicIP: publicIP, PublicIPv6: null, BackendType: "vxlan", BackendData: { VNI: 1, VtepMAC: vtepMAC } }),
  };
}

export const ghosts = (from: number, count: number): Ghost[] => Array.from({ length: count }, (_, k) => ghost(from + k));

async function etcdctlIn(lab: Lab, args: readonly string[], input?: string): Promise<string> {
  const etcd = labEtcd(lab);
  const { stdout } = await run(["ip", "netns", "exec", etcd.ns, etcdctlBinary, `--endpoints=${etcd.endpoint}`, ...args], {
    env: { ...process.env, ETCDCTL_API: "3" },
    timeoutMs: 30_000,
    ...(input === undefined ? {} : { input }),
  });
  return stdout;
}

/**
 * Writes the ghosts' leases, `perTxn` keys per etcd transaction (one watch event batch each; etcd
 * allows 128 operations per transaction). Without an etcd lease: Flannel reads them as reservations.
 */
export async function putGhosts(lab: Lab, list: readonly Ghost[], perTxn = 100): Promise<void> {
  for (let i = 0; i < list.length; i += perTxn) {
    const puts = list.slice(i, i + perTxn).map((g) => `put ${subnetsPrefix}${g.key} ${JSON.stringify(g.raw)}`);
    await etcdctlIn(lab, ["txn"], `\n${puts.join("\n")}\n\n\n`);
  }
}

/** Deletes the ghosts' leases, `perTxn` keys per etcd transaction. */
export async function deleteGhosts(lab: Lab, list: readonly Ghost[], perTxn = 100): Promise<void> {
  for (let i = 0; i < list.length; i += perTxn) {
    const dels = list.slice(i, i + perTxn).map((g) => `del ${subnetsPrefix}${g.key}`);
    await etcdctlIn(lab, ["txn"], `\n${dels.join("\n")}\n\n\n`);
  }
}

/** Puts `value` under `key` attached to a fresh etcd lease of `ttlSeconds`, as Flannel writes leases. */
export async function putWithTtl(lab: Lab, key: string, value: string, ttlSeconds: number): Promise<void> {
  const granted = await etcdctlIn(lab, ["lease", "grant", String(ttlSeconds)]);
  const id = /lease ([0-9a-f]+) granted/.exec(granted)?.[1];
  if (id === undefined) throw new Error(`etcdctl lease grant said: ${granted}`);
  await etcdctlIn(lab, ["put", `--lease=${id}`, key, value]);
}

const kubePrefix = "flannel.alpha.coreos.com/";

interface NodeJson {
  readonly metadata: { readonly name: string; readonly annotations?: Record<string, string> };
  readonly spec: { readonly podCIDR?: string };
}

/** A Node carrying the ghost's lease as Flannel's kube manager writes it (annotations, podCIDR). */
export function ghostNode(g: Ghost, name: string): object {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      annotations: {
        [`${kubePrefix}backend-data`]: JSON.stringify({ VNI: 1, VtepMAC: g.vtepMAC }),
        [`${kubePrefix}backend-type`]: "vxlan",
        [`${kubePrefix}kube-subnet-manager`]: "true",
        [`${kubePrefix}public-ip`]: g.publicIP,
      },
    },
    spec: { podCIDR: g.subnet, podCIDRs: [g.subnet] },
  };
}

/** Kube mode: the leases the lab's nodes hold, read from their Node objects, by public IP. */
export async function kubeLeases(lab: Lab): Promise<Map<string, Lease>> {
  const api = lab.kube;
  if (api === undefined) throw new Error(`lab ${lab.name} has no API server`);
  const leases = new Map<string, Lease>();
  for (const node of await api.call<NodeJson[]>("store.list", "Node")) {
    const annotations = node.metadata.annotations ?? {};
    const publicIP = annotations[`${kubePrefix}public-ip`];
    if (annotations[`${kubePrefix}kube-subnet-manager`] !== "true" || node.spec.podCIDR === undefined || publicIP === undefined) continue;
    const [address, prefix] = node.spec.podCIDR.split("/") as [string, string];
    const data = JSON.parse(annotations[`${kubePrefix}backend-data`] ?? "null") as { VtepMAC?: string } | null;
    leases.set(publicIP, { key: `${address}-${prefix}`, subnet: node.spec.podCIDR, address, prefix: Number(prefix), raw: JSON.stringify(annotations), publicIP, vtepMAC: data?.VtepMAC });
  }
  return leases;
}

const byJson = (a: unknown, b: unknown): number => JSON.stringify(a).localeCompare(JSON.stringify(b));

/** What Flannel's vxlan backend makes on `node` from the lab's leases plus the ghosts' (§7.1). */
export function expectedVxlanState(lab: Lab, node: LabNode, leases: Map<string, Lease>, extra: readonly Ghost[]): VxlanState {
  const base = flannelVxlanState(lab.nodes, node, leases);
  return {
    ...base,
    neighbours: [...base.neighbours, ...extra.map((g) => ({ dst: g.address, lladdr: g.vtepMAC, state: ["PERMANENT"] }))].sort(byJson),
    fdb: [...base.fdb, ...extra.map((g) => ({ mac: g.vtepMAC, dst: g.publicIP, flags: ["self"], state: "permanent" }))].sort(byJson),
    routes: [...base.routes, ...extra.map((g) => ({ dst: g.subnet, gateway: g.address, dev: vxlanDevice, flags: ["onlink"] }))].sort(byJson),
  };
}

/** Counts and the first differences: a readable failure when thousands of entries are compared. */
export function describeDifference(actual: VxlanState, expected: VxlanState): string {
  const lines: string[] = [];
  for (const part of ["neighbours", "fdb", "routes"] as const) {
    const have = new Set(actual[part].map((x) => JSON.stringify(x)));
    const want = new Set(expected[part].map((x) => JSON.stringify(x)));
    const missing = [...want].filter((x) => !have.has(x));
    const extra = [...have].filter((x) => !want.has(x));
    lines.push(`${part}: ${have.size} present (${actual[part].length} listed), ${want.size} expected; missing ${missing.length} ${missing.slice(0, 3).join(" ")}; extra ${extra.length} ${extra.slice(0, 3).join(" ")}`);
  }
  if (JSON.stringify(actual.link) !== JSON.stringify(expected.link)) lines.push(`link ${JSON.stringify(actual.link)} ≠ ${JSON.stringify(expected.link)}`);
  if (JSON.stringify(actual.addresses) !== JSON.stringify(expected.addresses)) lines.push(`addresses ${JSON.stringify(actual.addresses)} ≠ ${JSON.stringify(expected.addresses)}`);
  return lines.join("\n");
}

/** Waits until the node's vxlan objects are exactly `expected` (every entry once, nothing else). */
export async function waitVxlanState(node: LabNode, expected: VxlanState, what: string, timeoutMs: number): Promise<void> {
  let last: VxlanState | undefined;
  await waitFor(
    async () => {
      last = await vxlanState(node);
      return JSON.stringify(last) === JSON.stringify(expected);
    },
    { what: `${what} on ${node.name}`, timeoutMs, intervalMs: 250 },
  ).catch((error: unknown) => {
    const seen = last === undefined ? "nothing read" : describeDifference(last, expected);
    throw new Error(`${String(error)}\n${seen}\nflanneld log:\n${node.flanneld.logTail(15)}`);
  });
}

/** `ping -i 0.2` from one pod to another, counted from its summary when stopped. */
export interface CountedPing {
  /** SIGINT, then the transmitted/received counts of ping's summary. */
  finish(): Promise<PingStats & { readonly output: string }>;
  /** SIGKILL if still running (for finally blocks). Idempotent. */
  close(): Promise<void>;
}

export function startPing(fromNs: string, toIp: string): CountedPing {
  const ping: ManagedProcess = spawnProcess(["ping", "-n", "-q", "-i", "0.2", "-W", "1", toIp], { netns: fromNs });
  return {
    async finish() {
      await ping.stop("SIGINT");
      const output = ping.output();
      return { ...parsePingStats(output), output };
    },
    async close() {
      await ping.stop("SIGKILL");
    },
  };
}
