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
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { encodeLeaseAttrs } from "../../agent/subnet/lease-json.ts";
import { parseIp } from "../../backends/net/ip.ts";
import { startLab, type Lab } from "../../deploy/lab/lab.ts";
import { openBridgeShell, openIpShell } from "./batch-shell.ts";
import { counts, macOf, makePeers, programmed, timeUntilCounts, type Peer } from "./kernel-probe.ts";
import { openLeaseWriter } from "./lease-writer-client.ts";
import { nodePid } from "./proc-memory.ts";
import { cleanup, onCleanup } from "./cleanup.ts";
import { summarize, writeResults } from "./stats.ts";

const subnetsPrefix = "/coreos.com/network/subnets";
const publicBase = parseIp("198.19.0.0")!.value;

// ---- peers (kernel-probe.ts), their keys and lease values ---------------------------------------
const leaseKey = (peer: Peer): string => `${subnetsPrefix}/${peer.subnet.replace("/", "-")}`;

function leaseValue(peer: Peer, generation: number): string {
  return encodeLeaseAttrs({
    publicIP: { family: 4, value: publicBase + BigInt(peer.subnetNumber) },
    backendType: "vxlan",
    backendData: { VNI: 1, VtepMAC: macOf(peer, generation) },
  });
}

// ---- memory (the node process: proc-memory.ts) ----------------------------------------------------
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

  const writer = await openLeaseWriter(lab);
  onCleanup(() => writer.close());
  const ip = openIpShell(node.ns);
  const bridge = openBridgeShell(node.ns);
  onCleanup(() => ip.close(), () => bridge.close());
  out(`kernel before: ${JSON.stringify(await counts(ip, bridge))}`);

  const peers = makePeers(6000, ownSubnet);
  const entries = (list: readonly Peer[], generation: number): Array<[string, string]> => list.map((peer) => [leaseKey(peer), leaseValue(peer, generation)]);

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
    const putting = writer.put([[leaseKey(peer), leaseValue(peer, gen)]]).then(() => void putAckMs.push(performance.now() - start));
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
  const removal = await timeUntilCounts(ip, bridge, 0, () => writer.del(present.map(leaseKey)), 30_000);
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
