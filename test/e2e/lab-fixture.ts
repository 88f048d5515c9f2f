// Shared pieces of the end-to-end tests that drive the lab (deploy/lab/lab.ts): starting a lab
// named with the run's prefix (its PIDs recorded for the suite's sweep), reading the leases from
// etcd, reading a node's kernel objects in the shape `ip -json` / `bridge -json` give them, and
// computing what Flannel itself would have made from the leases (reference §3.3, §5, §7.1, §7.2,
// §8.1) — so that the tests compare the two field by field. Not a test file itself.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before } from "node:test";
import { startLab, type Lab, type LabNode, type LabOptions } from "../../deploy/lab/lab.ts";
import { healthzPort } from "../../deploy/lab/layout.ts";
import { execIn } from "../../deploy/lab/namespace.ts";
import { unreachablePairs } from "../../deploy/lab/status.ts";
import { endProcess } from "../../deploy/lab/processes.ts";
import { identify } from "../../deploy/lab/state.ts";
import { parseExposition, type Exposition } from "../agent/ops/exposition.ts";
import { spawnProcess, type ManagedProcess } from "../support/process.ts";
import { bashScript, run } from "../../deploy/lab/tools/command.ts";
import { runStateDir, uniqueName } from "../support/run-context.ts";
import { waitFor } from "../../deploy/lab/tools/wait.ts";

/** flanneld's --iptables-resync default (the lab passes none): the period of every repair loop. */
export const resyncMs = 5000;
/** "Within one resync": the period, plus time for the reconcile run itself. */
export const oneResyncDeadlineMs = resyncMs + 2500;

export const subnetsPrefix = "/coreos.com/network/subnets/";
export const vxlanDevice = "flannel.1";

const projectRoot = fileURLToPath(new URL("../..", import.meta.url));

/**
 * The suite runner (npm test) builds dist/ once before every test; a file run on its own builds
 * here (once per process), so the lab runs the agent of the sources under test.
 */
let building: Promise<unknown> | undefined;
export async function buildUnlessInSuite(): Promise<void> {
  if (process.env.FLANNEL_TS_SUITE === "1") return;
  building ??= run([join(projectRoot, "node_modules/.bin/node"), "scripts/build.ts"], { cwd: projectRoot, timeoutMs: 300_000 });
  await building;
}

/** Starts a lab with the run's prefix; every process it starts is recorded for the runner's sweep. */
export async function startTestLab(options: Partial<Omit<LabOptions, "name">>): Promise<Lab> {
  return startLab({
    ...options,
    name: uniqueName("lab"),
    onProcessStarted: (started) => writeFileSync(join(runStateDir, "pids", String(started.pid)), `${started.startTime}\n`),
  });
}

/**
 * For a describe() block: a lab started in before() and torn down in after(). Returns the getter
 * the tests use; it throws when the lab did not start (so a test fails with that, not a TypeError).
 */
export function useTestLab(options: Partial<Omit<LabOptions, "name">>): () => Lab {
  let lab: Lab | undefined;
  before(async () => {
    lab = await startTestLab(options);
  });
  after(() => tearDown(lab));
  return () => {
    if (lab === undefined) throw new Error("the lab did not start");
    return lab;
  };
}

/** Waits until every pod reaches every other pod, and fails with `message` and the pairs that do not. */
export async function assertConverged(lab: Lab, message: string, timeoutMs = 20_000): Promise<void> {
  const matrix = await lab.waitConverged({ timeoutMs });
  assert.deepEqual(unreachablePairs(matrix).map(({ from, to }) => `${from.name}→${to.name}`), [], message);
}

/** Tears the lab down (if it was made) and fails the hook if anything could not be removed. */
export async function tearDown(lab: Lab | undefined): Promise<void> {
  if (lab === undefined) return;
  const result = await lab.teardown();
  if (result.problems.length > 0) throw new Error(`lab ${lab.name} teardown problems: ${JSON.stringify(result)}`);
}

export interface Lease {
  /** `10.244.7.0-24` */
  readonly key: string;
  /** `10.244.7.0/24` */
  readonly subnet: string;
  /** `10.244.7.0` */
  readonly address: string;
  readonly prefix: number;
  /** The value exactly as stored in etcd. */
  readonly raw: string;
  readonly publicIP: string;
  readonly vtepMAC: string | undefined;
}

/** The etcd of an etcd-mode lab (the default); a kube-mode lab has none. */
export function labEtcd(lab: Lab): NonNullable<Lab["etcd"]> {
  if (lab.etcd === undefined) throw new Error(`lab ${lab.name} runs in kube mode: it has no etcd`);
  return lab.etcd;
}

/** Every lease under the subnets prefix, by PublicIP. */
export async function readLeases(lab: Lab): Promise<Map<string, Lease>> {
  const out = await labEtcd(lab).etcdctl("get", "--prefix", subnetsPrefix);
  const lines = out.split("\n").filter((line) => line !== "");
  const leases = new Map<string, Lease>();
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const key = lines[i]!.slice(subnetsPrefix.length);
    const raw = lines[i + 1]!;
    const [address, prefix] = key.split("-") as [string, string];
    const value = JSON.parse(raw) as { PublicIP: string; BackendData?: { VtepMAC?: string } };
    leases.set(value.PublicIP, {
      key,
      subnet: `${address}/${prefix}`,
      address,
      prefix: Number(prefix),
      raw,
      publicIP: value.PublicIP,
      vtepMAC: value.BackendData?.VtepMAC,
    });
  }
  return leases;
}

export function leaseOf(leases: Map<string, Lease>, node: LabNode): Lease {
  const lease = leases.get(node.publicIP);
  if (lease === undefined) throw new Error(`no lease for ${node.name} (${node.publicIP}) in ${JSON.stringify([...leases.keys()])}`);
  return lease;
}

/** The first host address of a subnet with its prefix: 10.244.7.0/24 → 10.244.7.1/24. */
export function firstHost(lease: Lease): string {
  const octets = lease.address.split(".").map(Number);
  octets[3] = octets[3]! + 1;
  return `${octets.join(".")}/${lease.prefix}`;
}

/** subnet.env as Flannel writes it (WriteSubnetFile: fixed order, no quotes, trailing newline). */
export function flannelSubnetEnv(network: string, lease: Lease, mtu: number, ipMasq: boolean): string {
  return `FLANNEL_NETWORK=${network}\nFLANNEL_SUBNET=${firstHost(lease)}\nFLANNEL_MTU=${mtu}\nFLANNEL_IPMASQ=${ipMasq}\n`;
}

/** Flannel's masquerade rules (§8.1, `iptables -S` form) for network N and node subnet P. */
export function flannelMasqRules(network: string, subnet: string): string[] {
  const c = '-m comment --comment "flanneld masq"';
  return [
    `-A POSTROUTING ${c} -j FLANNEL-POSTRTG`,
    `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${subnet} -d ${network} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${network} -d ${subnet} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG ! -s ${network} -d ${subnet} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${network} ! -d 224.0.0.0/4 ${c} -j MASQUERADE --random-fully`,
    `-A FLANNEL-POSTRTG ! -s ${network} -d ${network} ${c} -j MASQUERADE --random-fully`,
  ];
}

/** The node's nat-table rules that carry flannel's masq comment, in `iptables -S` form and order. */
export async function natMasqRules(node: LabNode): Promise<string[]> {
  const { stdout } = await node.exec(["iptables", "-t", "nat", "-S"]);
  return stdout.split("\n").filter((line) => line.startsWith("-A ") && line.includes('"flanneld masq"'));
}

export async function bridgeJson<T = unknown>(node: LabNode, ...args: string[]): Promise<T> {
  const { stdout } = await node.exec(["bridge", "-json", ...args]);
  return (stdout.trim() === "" ? [] : JSON.parse(stdout)) as T;
}

interface VxlanLinkJson {
  readonly ifname: string;
  readonly mtu: number;
  readonly address: string;
  readonly linkinfo?: { readonly info_kind?: string; readonly info_data?: Record<string, unknown> };
}

/** The vxlan objects of a node in a comparable shape: the device and every peer entry, sorted. */
export interface VxlanState {
  readonly link: Record<string, unknown>;
  readonly addresses: string[];
  readonly neighbours: unknown[];
  readonly fdb: unknown[];
  readonly routes: unknown[];
}

const byJson = (a: unknown, b: unknown): number => JSON.stringify(a).localeCompare(JSON.stringify(b));

export async function vxlanState(node: LabNode): Promise<VxlanState> {
  const [link] = await node.ipJson<VxlanLinkJson[]>("-d", "link", "show", vxlanDevice);
  if (link === undefined) throw new Error(`${vxlanDevice} missing on ${node.name}`);
  const data = link.linkinfo?.info_data ?? {};
  const addrs = await node.ipJson<Array<{ addr_info: Array<{ family: string; local: string; prefixlen: number }> }>>("addr", "show", "dev", vxlanDevice);
  const neighbours = await node.ipJson<Array<{ dst: string }>>("neigh", "show", "dev", vxlanDevice);
  return {
    link: {
      kind: link.linkinfo?.info_kind,
      mtu: link.mtu,
      address: link.address,
      id: data.id,
      local: data.local,
      link: data.link,
      port: data.port,
      learning: data.learning,
      ttl: data.ttl,
      proxy: data.proxy ?? false,
      l2miss: data.l2miss ?? false,
      l3miss: data.l3miss ?? false,
      gbp: data.gbp ?? false,
    },
    addresses: addrs.flatMap((a) => a.addr_info).filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`),
    // IPv4 entries only: the kernel may keep IPv6 link-local neighbours of its own on the device.
    neighbours: neighbours.filter((n) => n.dst.includes(".")).sort(byJson),
    fdb: (await bridgeJson<unknown[]>(node, "fdb", "show", "dev", vxlanDevice)).sort(byJson),
    // The whole main table, filtered here: `ip route show dev X` would leave out the dev field.
    routes: (await node.ipJson<Array<{ dev?: string }>>("route", "show")).filter((route) => route.dev === vxlanDevice).sort(byJson),
  };
}

/** What Flannel's vxlan backend makes on `node` given the cluster's nodes and their leases (§7.1). */
export function flannelVxlanState(nodes: readonly LabNode[], node: LabNode, leases: Map<string, Lease>): VxlanState {
  const own = leaseOf(leases, node);
  const peers = nodes.filter((other) => other !== node).map((other) => leaseOf(leases, other));
  return {
    link: {
      kind: "vxlan",
      mtu: 1450,
      address: own.vtepMAC,
      id: 1,
      local: node.publicIP,
      link: "eth0",
      port: 8472,
      learning: false,
      ttl: 0,
      proxy: false,
      l2miss: false,
      l3miss: false,
      gbp: false,
    },
    addresses: [`${own.address}/32`],
    neighbours: peers.map((peer) => ({ dst: peer.address, lladdr: peer.vtepMAC, state: ["PERMANENT"] })).sort(byJson),
    fdb: peers.map((peer) => ({ mac: peer.vtepMAC, dst: peer.publicIP, flags: ["self"], state: "permanent" })).sort(byJson),
    routes: peers.map((peer) => ({ dst: peer.subnet, gateway: peer.address, dev: vxlanDevice, flags: ["onlink"] })).sort(byJson),
  };
}

/** Routes into a /16 flannel network on a node, except the node's own subnet on the pod bridge cni0. */
export async function peerRoutes(node: LabNode, network16: string): Promise<unknown[]> {
  const prefix = network16.split(".").slice(0, 2).join(".") + ".";
  const routes = await node.ipJson<Array<{ dst: string; dev?: string }>>("route", "show");
  return routes.filter((route) => route.dst.startsWith(prefix) && route.dev !== "cni0").sort(byJson);
}

export function flannelHostGwRoutes(lab: Lab, node: LabNode, leases: Map<string, Lease>): unknown[] {
  return lab.nodes
    .filter((other) => other !== node)
    .map((other) => leaseOf(leases, other))
    .map((peer) => ({ dst: peer.subnet, gateway: peer.publicIP, dev: "eth0", flags: [] }))
    .sort(byJson);
}

export interface PingStats {
  readonly transmitted: number;
  readonly received: number;
}

/** The statistics line of iputils ping: "100 packets transmitted, 100 received, 0% packet loss…". */
export function parsePingStats(output: string): PingStats {
  const match = /(\d+) packets transmitted, (\d+) received/.exec(output);
  if (match === null) throw new Error(`no ping statistics in:\n${output}`);
  return { transmitted: Number(match[1]), received: Number(match[2]) };
}

// A one-shot UDP listener: prints LISTENING once bound, then FROM <address> for the first datagram.
const listenerScript = (port: number): string =>
  `const s=require("node:dgram").createSocket("udp4");` +
  `s.on("message",(m,r)=>{console.log("FROM "+r.address);process.exit(0)});` +
  `s.bind(${port},()=>console.log("LISTENING"));setTimeout(()=>process.exit(2),15000);`;

/**
 * Listens for UDP on `port` inside `listenerNs`, sends datagrams from `senderNs` to `target` until
 * one arrives, and returns the source address the receiver saw.
 */
export async function udpSourceSeen(listenerNs: string, senderNs: string, target: string, port: number): Promise<string> {
  const listener = spawnProcess([process.execPath, "-e", listenerScript(port)], { netns: listenerNs });
  try {
    await waitFor(() => listener.output().includes("LISTENING"), { what: `UDP listener in ${listenerNs}`, timeoutMs: 10_000, process: listener });
    return await waitFor(
      async () => {
        const seen = /FROM (\S+)/.exec(listener.output());
        if (seen !== null) return seen[1]!;
        await run(["ip", "netns", "exec", senderNs, ...bashScript(`echo probe > /dev/udp/${target}/${port}`)], { allowFailure: true });
        return undefined;
      },
      { what: `a datagram from ${senderNs} to ${target}:${port}`, timeoutMs: 10_000, intervalMs: 200 },
    );
  } finally {
    await listener.stop("SIGKILL");
  }
}

/**
 * GET `path` from flanneld's health port inside the node's namespace, over bash's /dev/tcp: the
 * agent's port is reached where it listens, and nothing is bound in the root namespace.
 */
export async function agentGet(node: LabNode, path: string): Promise<{ status: number; body: string }> {
  const script = `exec 3<>/dev/tcp/127.0.0.1/${healthzPort} && printf 'GET ${path} HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && cat <&3`;
  const result = await execIn(node.ns, ["timeout", "3", ...bashScript(script)], { allowFailure: true, timeoutMs: 5000 });
  const split = result.stdout.indexOf("\r\n\r\n");
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(result.stdout)?.[1];
  if (result.code !== 0 || status === undefined || split < 0) throw new Error(`GET ${path} on ${node.name} failed (exit ${result.code}): ${result.stdout}${result.stderr}`);
  return { status: Number(status), body: result.stdout.slice(split + 4) };
}

/** flanneld's /metrics on `node`, parsed. */
export async function scrapeMetrics(node: LabNode): Promise<Exposition> {
  const { status, body } = await agentGet(node, "/metrics");
  if (status !== 200) throw new Error(`/metrics on ${node.name} answered ${status}: ${body}`);
  return parseExposition(body);
}

/** Stops the lab's etcd and starts it again (same command line, same data): a datastore outage. */
export interface EtcdSwitch {
  readonly running: boolean;
  /** SIGTERM, and waits until it is gone. */
  stop(): Promise<void>;
  /** Starts it again and waits until it answers. */
  start(): Promise<void>;
  /** Ends an etcd this switch started (call before the lab's teardown). Idempotent. */
  close(): Promise<void>;
}

export function etcdSwitch(lab: Lab): EtcdSwitch {
  const etcd = labEtcd(lab);
  // `ip netns exec` execs etcd, so the recorded PID's command line is etcd's own.
  const argv = readFileSync(`/proc/${etcd.pid}/cmdline`, "utf8").split("\0").filter((arg) => arg !== "");
  let original = identify(etcd.pid);
  let restarted: ManagedProcess | undefined;
  const stop = async (): Promise<void> => {
    if (restarted !== undefined) {
      await restarted.stop("SIGTERM", 10_000);
      restarted = undefined;
    } else if (original !== undefined) {
      await endProcess(original, "SIGTERM", 10_000);
      original = undefined;
    }
  };
  return {
    get running() {
      return restarted !== undefined || original !== undefined;
    },
    stop,
    async start() {
      if (restarted !== undefined || original !== undefined) throw new Error("etcd is running");
      const started = spawnProcess(argv, { netns: lab.fabricNs });
      restarted = started;
      await waitFor(
        async () => {
          await etcd.etcdctl("endpoint", "health", "--command-timeout=1s");
          return true;
        },
        { what: "etcd healthy again", timeoutMs: 20_000, intervalMs: 100, process: started },
      );
    },
    async close() {
      if (restarted !== undefined) await stop();
    },
  };
}
