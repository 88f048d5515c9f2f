// `npm run bench -- convergence`: how fast the real agent (vxlan) programs a node's kernel from
// etcd, and what memory it needs. One lab node (deploy/lab: fabric namespace with the real etcd,
// one node namespace running dist/bin/flanneld, Network 10.0.0.0/8, SubnetLen 24), then:
//   (a) 1000 peer leases written at once → time until every route, neighbour and FDB entry is in
//       the node's kernel (target < 1 s);
//   (b) 200 single lease changes, alternately a new peer and a VtepMAC change of an existing one →
//       time until that peer's objects are programmed, p50/p99 (target p99 < 50 ms);
//   (c) flanneld's VmRSS with 1000 peers (target ≤ 60 MiB);
//   (d) all peers deleted, then 5000 written at once → converged (target < 3 s), RSS (≤ 100 MiB).
// Leases are written by lease-writer.ts in the fabric namespace (the agent's own etcd client);
// the kernel is read through long-lived `ip`/`bridge -batch` processes in the node namespace
// (batch-shell.ts), so polling costs a netlink request, not a fork. Figures are printed with
// their targets and written to test/bench/results/convergence.json; nothing is asserted.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { encodeLeaseAttrs } from "../../agent/subnet/lease-json.ts";
import { parseIp } from "../../backends/net/ip.ts";
import { startLab, type Lab } from "../../deploy/lab/lab.ts";
import { labEtcd } from "../e2e/lab-fixture.ts";
import { countJsonObjects, openBridgeShell, openIpShell, type BatchShell } from "./batch-shell.ts";
import { cleanup, onCleanup } from "./cleanup.ts";
import { summarize, writeResults } from "./stats.ts";

const subnetsPrefix = "/coreos.com/network/subnets";
const device = "flannel.1";
const publicBase = parseIp("198.19.0.0")!.value;

// ---- peers -------------------------------------------------------------------------------------
interface Peer {
  readonly subnetNumber: number;
  readonly subnet: string; // 10.a.b.0/24
  readonly gateway: string; // 10.a.b.0 (the peer's VTEP address, Flannel's neighbour/gateway)
  readonly probe: string; // 10.a.b.1 (for `route get`)
  readonly publicIP: string;
  readonly key: string;
}

function macOf(peer: Peer, generation: number): string {
  const hex = (n: number): string => n.toString(16).padStart(2, "0");
  return `02:fb:00:${hex(generation)}:${hex(peer.subnetNumber >> 8)}:${hex(peer.subnetNumber & 0xff)}`;
}

function leaseValue(peer: Peer, generation: number): string {
  return encodeLeaseAttrs({
    publicIP: { family: 4, value: publicBase + BigInt(peer.subnetNumber) },
    backendType: "vxlan",
    backendData: { VNI: 1, VtepMAC: macOf(peer, generation) },
  });
}

/** Peers 10.a.b.0/24 for a.b = 0.1, 0.2, …, skipping the node's own subnet. */
function makePeers(count: number, ownSubnet: string): Peer[] {
  const peers: Peer[] = [];
  for (let n = 1; peers.length < count; n++) {
    const prefix = `10.${n >> 8}.${n & 0xff}`;
    if (ownSubnet.startsWith(`${prefix}.`)) continue;
    peers.push({
      subnetNumber: n,
      subnet: `${prefix}.0/24`,
      gateway: `${prefix}.0`,
      probe: `${prefix}.1`,
      publicIP: `198.19.${n >> 8}.${n & 0xff}`,
      key: `${subnetsPrefix}/${prefix}.0-24`,
    });
  }
  return peers;
}

// ---- the lease writer (a child in the fabric namespace) --------------------------------------
interface Writer {
  put(entries: ReadonlyArray<readonly [string, string]>): Promise<number>;
  del(keys: readonly string[]): Promise<number>;
  close(): Promise<void>;
}

async function openWriter(lab: Lab): Promise<Writer> {
  const script = new URL("./lease-writer.ts", import.meta.url).pathname;
  const child = spawn("ip", ["netns", "exec", lab.fabricNs, process.execPath, script, labEtcd(lab).endpoint], { stdio: ["pipe", "pipe", "inherit"] });
  const pending = new Map<number, { resolve: (ms: number) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  let ready: () => void = () => {};
  const readyPromise = new Promise<void>((resolve) => (ready = resolve));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  createInterface({ input: child.stdout }).on("line", (line) => {
    const reply = JSON.parse(line) as { id: number; ms?: number; error?: string; ready?: boolean };
    if (reply.ready === true) return ready();
    const waiter = pending.get(reply.id);
    pending.delete(reply.id);
    if (reply.error !== undefined) waiter?.reject(new Error(reply.error));
    else waiter?.resolve(reply.ms ?? Number.NaN);
  });
  void exited.then(() => {
    for (const waiter of pending.values()) waiter.reject(new Error("lease-writer exited"));
    pending.clear();
  });
  await Promise.race([readyPromise, exited.then(() => Promise.reject(new Error("lease-writer exited before it was ready")))]);
  const request = (body: Record<string, unknown>): Promise<number> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      child.stdin.write(`${JSON.stringify({ id, ...body })}\n`);
    });
  return {
    put: (entries) => request({ put: entries }),
    del: (keys) => request({ del: keys }),
    async close() {
      child.stdin.end();
      const timer = setTimeout(() => child.pid !== undefined && process.kill(child.pid, "SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ---- reading the node's kernel -----------------------------------------------------------------
interface Counts {
  routes: number;
  neighbours: number;
  fdb: number;
}

async function counts(ip: BatchShell, bridge: BatchShell): Promise<Counts> {
  const [[routes, neighbours], [fdb]] = await Promise.all([
    ip.ask([`route show dev ${device}`, `neigh show dev ${device}`]),
    bridge.ask([`fdb show dev ${device}`]),
  ]);
  return { routes: countJsonObjects(routes, "dst"), neighbours: countJsonObjects(neighbours, "dst"), fdb: countJsonObjects(fdb, "mac") };
}

interface Convergence {
  /** From the write request to the last of the three kinds reaching the target, ms. */
  readonly convergedMs: number;
  readonly routesMs: number;
  readonly neighboursMs: number;
  readonly fdbMs: number;
  readonly writeAckMs: number;
  readonly polls: number;
  readonly final: Counts;
}

/** Starts `write`, then polls the counts (every ~10 ms) until all three equal `target`. */
async function timeUntilCounts(ip: BatchShell, bridge: BatchShell, target: number, write: () => Promise<number>, timeoutMs: number): Promise<Convergence> {
  const start = performance.now();
  let writeAckMs = Number.NaN;
  const writing = write().then(() => {
    writeAckMs = performance.now() - start;
  });
  writing.catch(() => {}); // awaited below; this only keeps an early failure from counting as unhandled
  const reached: { routes?: number; neighbours?: number; fdb?: number } = {};
  let polls = 0;
  let last: Counts = { routes: -1, neighbours: -1, fdb: -1 };
  for (;;) {
    last = await counts(ip, bridge);
    polls++;
    const now = performance.now() - start;
    for (const kind of ["routes", "neighbours", "fdb"] as const) if (last[kind] === target) reached[kind] ??= now;
    if (reached.routes !== undefined && reached.neighbours !== undefined && reached.fdb !== undefined) break;
    if (now > timeoutMs) break;
    await sleep(10);
  }
  await writing;
  const convergedMs = Math.max(reached.routes ?? Number.NaN, reached.neighbours ?? Number.NaN, reached.fdb ?? Number.NaN);
  return { convergedMs, routesMs: reached.routes ?? Number.NaN, neighboursMs: reached.neighbours ?? Number.NaN, fdbMs: reached.fdb ?? Number.NaN, writeAckMs, polls, final: last };
}

/** True once `peer` has its neighbour (with `mac`), its FDB entry (mac → publicIP) and its route. */
async function programmed(ip: BatchShell, bridge: BatchShell, peer: Peer, mac: string): Promise<boolean> {
  const [ipLines, fdbLines] = await Promise.all([
    ip.ask([`neigh get ${peer.gateway} dev ${device}`, `route get ${peer.probe}`]),
    bridge.ask([`fdb get ${mac} dev ${device} self`]),
  ]);
  // iproute2 6.1 prints `neigh get` as text even under -json: "10.a.b.0 dev flannel.1 lladdr MAC PERMANENT"
  const neighbour = ipLines.some((line) => line.startsWith(`${peer.gateway} `) && line.includes(`lladdr ${mac}`));
  const route = ipLines.some((line) => line.includes(`"gateway":"${peer.gateway}"`) && line.includes(`"dev":"${device}"`));
  const fdb = fdbLines.some((line) => line.includes(`"dst":"${peer.publicIP}"`));
  return neighbour && route && fdb;
}

// ---- memory --------------------------------------------------------------------------------------
/** The node process behind the agent's PID (dist/bin/flanneld is `ip netns exec` → sh → exec node). */
function nodePid(pid: number): number {
  for (let current = pid, depth = 0; depth < 4; depth++) {
    const comm = readFileSync(`/proc/${current}/comm`, "utf8").trim();
    if (comm === "node" || comm.startsWith("MainThread")) return current;
    const children = readFileSync(`/proc/${current}/task/${current}/children`, "utf8").trim().split(/\s+/).filter((word) => word !== "");
    if (children.length !== 1) break;
    current = Number(children[0]);
  }
  throw new Error(`cannot find the node process of flanneld (pid ${pid})`);
}

// The verdicts use the RSS one second after convergence; a second reading after a longer quiet
// shows what V8 gives back once the burst's garbage is collected (its memory reducer runs after
// several seconds of low allocation), which is what a node carries in its steady state.
const settleSeconds = Number(process.env.FLANNEL_TS_BENCH_SETTLE_SECONDS ?? 15);
async function settledMemory(pid: number): Promise<{ rssMiB: number; hwmMiB: number; everyFiveSeconds: number[] }> {
  const everyFiveSeconds: number[] = [];
  for (let waited = 0; waited < settleSeconds; waited += 5) {
    await sleep(5000);
    everyFiveSeconds.push(memoryMiB(pid).rssMiB);
  }
  return { ...memoryMiB(pid), everyFiveSeconds };
}

function memoryMiB(pid: number): { rssMiB: number; hwmMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { rssMiB: Math.round((kib("VmRSS") / 1024) * 10) / 10, hwmMiB: Math.round((kib("VmHWM") / 1024) * 10) / 10 };
}

// ---- the run -------------------------------------------------------------------------------------
const verdict = (ok: boolean): string => (ok ? "ok" : "MISSED");
const out = (text: string): void => void process.stdout.write(`${text}\n`);

try {
  const controller = new AbortController();
  out("starting a 1-node lab (vxlan, Network 10.0.0.0/8) …");
  const lab = await startLab({ name: `cv${randomBytes(3).toString("hex")}`, nodes: 1, backend: "vxlan", network: "10.0.0.0/8", podsPerNode: 1 }, controller.signal);
  onCleanup(async () => void (await lab.teardown()));
  const node = lab.nodes[0]!;
  const ownSubnet = node.subnet() ?? "";
  const agentPid = nodePid(node.flanneld.pid!);
  out(`lab ${lab.name}: node subnet ${ownSubnet}, flanneld node pid ${agentPid}, RSS idle ${memoryMiB(agentPid).rssMiB} MiB`);
  const idleMemory = memoryMiB(agentPid);

  const writer = await openWriter(lab);
  onCleanup(() => writer.close());
  const ip = openIpShell(node.ns);
  const bridge = openBridgeShell(node.ns);
  onCleanup(() => ip.close(), () => bridge.close());
  out(`kernel before: ${JSON.stringify(await counts(ip, bridge))}`);

  const peers = makePeers(6000, ownSubnet);
  const entries = (list: readonly Peer[], generation: number): Array<[string, string]> => list.map((peer) => [peer.key, leaseValue(peer, generation)]);

  // (a) 1000 at once
  const first = peers.slice(0, 1000);
  const a = await timeUntilCounts(ip, bridge, 1000, () => writer.put(entries(first, 0)), 30_000);
  out(`(a) 1000 peers at once: converged ${a.convergedMs.toFixed(0)} ms (target < 1000 ms: ${verdict(a.convergedMs < 1000)}); ` +
    `routes ${a.routesMs.toFixed(0)}, neigh ${a.neighboursMs.toFixed(0)}, fdb ${a.fdbMs.toFixed(0)} ms; etcd puts acknowledged after ${a.writeAckMs.toFixed(0)} ms; ${a.polls} polls; final ${JSON.stringify(a.final)}`);

  // (c) memory with 1000 peers, after a second of quiet
  await sleep(1000);
  const mem1000 = memoryMiB(agentPid);
  out(`(c) flanneld VmRSS with 1000 peers: ${mem1000.rssMiB} MiB (target ≤ 60 MiB: ${verdict(mem1000.rssMiB <= 60)}); VmHWM ${mem1000.hwmMiB} MiB`);
  const settled1000 = await settledMemory(agentPid);
  out(`    … and after ${settleSeconds} s more of quiet (resyncs only): ${settled1000.rssMiB} MiB (every 5 s: ${settled1000.everyFiveSeconds.join(" ")})`);

  // (b) 200 single changes, alternating a new peer and a VtepMAC change of an existing peer
  const generation = new Map<number, number>();
  const newPeerMs: number[] = [];
  const macChangeMs: number[] = [];
  const putAckMs: number[] = [];
  let missed = 0;
  let pollRounds = 0;
  for (let k = 0; k < 200; k++) {
    const isNew = k % 2 === 0;
    const peer = isNew ? peers[1000 + k / 2]! : peers[k]!;
    const gen = isNew ? 0 : (generation.get(peer.subnetNumber) ?? 0) + 1;
    generation.set(peer.subnetNumber, gen);
    const mac = macOf(peer, gen);
    const start = performance.now();
    const putting = writer.put([[peer.key, leaseValue(peer, gen)]]).then(() => void putAckMs.push(performance.now() - start));
    putting.catch(() => {}); // awaited below
    let done = false;
    while (performance.now() - start < 5000) {
      pollRounds++;
      if (await programmed(ip, bridge, peer, mac)) {
        done = true;
        break;
      }
      await sleep(2);
    }
    const elapsed = performance.now() - start;
    await putting;
    if (!done) missed++;
    else (isNew ? newPeerMs : macChangeMs).push(elapsed);
    await sleep(20); // let the agent settle so changes do not overlap
  }
  const changes = summarize([...newPeerMs, ...macChangeMs]);
  const newPeers = summarize(newPeerMs);
  const macChanges = summarize(macChangeMs);
  const puts = summarize(putAckMs);
  out(`(b) single lease change → programmed (${changes.n} of 200, ${missed} not within 5 s): p50 ${changes.medianMs.toFixed(1)} ms, p99 ${changes.p99Ms.toFixed(1)} ms ` +
    `(target p99 < 50 ms: ${verdict(missed === 0 && changes.p99Ms < 50)}); max ${changes.maxMs.toFixed(1)} ms`);
  out(`    new peer: p50 ${newPeers.medianMs.toFixed(1)}, p99 ${newPeers.p99Ms.toFixed(1)} ms; VtepMAC change: p50 ${macChanges.medianMs.toFixed(1)}, p99 ${macChanges.p99Ms.toFixed(1)} ms; ` +
    `etcd put ack p50 ${puts.medianMs.toFixed(1)} ms; ${pollRounds} poll rounds (2 ms apart)`);

  // (d) remove every peer, then 5000 at once
  const present = peers.slice(0, 1100);
  const removal = await timeUntilCounts(ip, bridge, 0, () => writer.del(present.map((peer) => peer.key)), 30_000);
  out(`    1100 peers deleted at once: kernel empty after ${removal.convergedMs.toFixed(0)} ms (no target)`);
  const five = peers.slice(0, 5000);
  const d = await timeUntilCounts(ip, bridge, 5000, () => writer.put(entries(five, 7)), 60_000);
  out(`(d) 5000 peers at once: converged ${d.convergedMs.toFixed(0)} ms (target < 3000 ms: ${verdict(d.convergedMs < 3000)}); ` +
    `routes ${d.routesMs.toFixed(0)}, neigh ${d.neighboursMs.toFixed(0)}, fdb ${d.fdbMs.toFixed(0)} ms; etcd puts acknowledged after ${d.writeAckMs.toFixed(0)} ms; ${d.polls} polls; final ${JSON.stringify(d.final)}`);
  await sleep(1000);
  const mem5000 = memoryMiB(agentPid);
  out(`(d) flanneld VmRSS with 5000 peers: ${mem5000.rssMiB} MiB (target ≤ 100 MiB: ${verdict(mem5000.rssMiB <= 100)}); VmHWM ${mem5000.hwmMiB} MiB`);
  const settled5000 = await settledMemory(agentPid);
  out(`    … and after ${settleSeconds} s more of quiet (resyncs only): ${settled5000.rssMiB} MiB (every 5 s: ${settled5000.everyFiveSeconds.join(" ")})`);
  const agentAlive = node.flanneld.running;

  const path = writeResults("convergence", {
    setup: "deploy/lab, 1 node, vxlan, Network 10.0.0.0/8 SubnetLen 24, real etcd in the fabric namespace; leases written by lease-writer.ts (agent's etcd client, concurrent puts); kernel read via long-lived ip/bridge -json -batch in the node namespace",
    agent: { pid: agentPid, idle: idleMemory, stillRunningAtEnd: agentAlive },
    peers1000: { ...a, targetMs: 1000 },
    memory1000: { ...mem1000, settledRssMiB: settled1000.rssMiB, settledEveryFiveSeconds: settled1000.everyFiveSeconds, settleSeconds, targetMiB: 60 },
    singleChange: { all: changes, newPeer: newPeers, vtepMacChange: macChanges, etcdPutAck: puts, missed, targetP99Ms: 50, pollIntervalMs: 2 },
    delete1100: removal,
    peers5000: { ...d, targetMs: 3000 },
    memory5000: { ...mem5000, settledRssMiB: settled5000.rssMiB, settledEveryFiveSeconds: settled5000.everyFiveSeconds, settleSeconds, targetMiB: 100 },
  });
  out(`results: ${path}`);
} catch (error) {
  process.stderr.write(`convergence bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
