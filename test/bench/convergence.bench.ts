// `npm run bench -- convergence`: how fast the real agent (vxlan) programs a node's kernel from
// etcd, and what memory it needs. One lab node (deploy/lab: fabric namespace with the real etcd,
// one node namespace running dist/bin/flanneld, Network 10.0.0.0/8, SubnetLen 24), then:
//   (a) 1000 peer leases written at once → time until every route, neighbour and FDB entry is in
//       the node's kernel (target < 1 s);
//   (b) 200 single lease changes, alternately a new peer and a VtepMAC change of an existing one →
//       time until that peer's objects are programmed, p50/p99 (target p99 < 50 ms);
//   (c) flanneld's VmRSS with 1000 peers (target ≤ 60 MiB);
//   (d1) all peers deleted, then 5000 written over 4 s (the pace at which the issue's harness
//       wrote them) → converged within 1 s of the last write's acknowledgement (issue 10);
//   (d) all deleted again, then 5000 written at once → the same target, RSS (≤ 100 MiB);
//   (e) the 200 single changes of (b) again at 5000 peers (target p99 < 20 ms, issue 10);
//   (f) CPU over 60 s (FLANNEL_TS_BENCH_IDLE_SECONDS) of flanneld's node process and its children
//       right after (e), then idle over the next 60 s (target < 1 % of one core together, resyncs
//       and probes included), and the process group's
//       summed PSS at idle, 1000 and 5000 peers (proc-group.ts; target ≤ 100 MiB at 5000).
// Leases are written by lease-writer.ts in the fabric namespace (one put per key, through etcd's
// JSON gateway); the kernel is read through long-lived `ip`/`bridge -batch` processes in the node
// namespace (batch-shell.ts), so polling costs a netlink request, not a fork, and convergence is
// polled from the main table's prefix count before the tables are dumped (kernel-probe.ts). Figures are printed with
// their targets and written to test/bench/results/convergence.json; nothing is asserted.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { startLab, type Lab } from "../../deploy/lab/lab.ts";
import { openBridgeShell, openIpShell, type BatchShell } from "./batch-shell.ts";
import { counts, macOf, makePeers, programmed, timeUntilCounts, type Peer } from "./kernel-probe.ts";
import { openLeaseWriter, type LeaseWriter } from "./lease-writer-client.ts";
import { formatGroup, measureCpu, readGroupPss } from "./proc-group.ts";
import { nodePid } from "./proc-memory.ts";
import { leaseKey, leaseValue } from "./peer-leases.ts";
import { cleanup, onCleanup } from "./cleanup.ts";
import { summarize, writeResults } from "./stats.ts";

// ---- memory (the node process: proc-memory.ts) ----------------------------------------------------
// The verdicts use the RSS one second after convergence; a second reading after a longer quiet
// shows what V8 gives back once the burst's garbage is collected (its memory reducer runs after
// several seconds of low allocation), which is what a node carries in its steady state.
const settleSeconds = Number(process.env.FLANNEL_TS_BENCH_SETTLE_SECONDS ?? 15);
const idleSeconds = Number(process.env.FLANNEL_TS_BENCH_IDLE_SECONDS ?? 60);
/** (d1): the 5000 writes spread over this long, the pace of the issue's own harness (3.6–4.3 s). */
const pacedWriteMs = 4000;
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

// ---- (b): single lease changes, each timed until its peer is programmed ---------------------------
interface SingleChangeSetup {
  readonly ip: BatchShell;
  readonly bridge: BatchShell;
  readonly writer: LeaseWriter;
  /** 100 peers not yet written: every even change adds one. */
  readonly newPeers: readonly Peer[];
  /** Peers already programmed: change k (odd) changes the VtepMAC of existing[k]. */
  readonly existing: readonly Peer[];
  /** VtepMAC generation per peer, updated here; absent peers are at baseGeneration. */
  readonly generation: Map<number, number>;
  readonly baseGeneration: number;
}

/** 200 single lease changes, alternately a new peer and a VtepMAC change of an existing one. */
async function singleChanges(setup: SingleChangeSetup, targetP99Ms: number) {
  const { ip, bridge, writer, generation } = setup;
  const newPeerMs: number[] = [];
  const macChangeMs: number[] = [];
  const putAckMs: number[] = [];
  let missed = 0;
  let pollRounds = 0;
  for (let k = 0; k < 200; k++) {
    const isNew = k % 2 === 0;
    const peer = isNew ? setup.newPeers[k / 2]! : setup.existing[k]!;
    const gen = isNew ? setup.baseGeneration : (generation.get(peer.subnetNumber) ?? setup.baseGeneration) + 1;
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
  return {
    all: summarize([...newPeerMs, ...macChangeMs]),
    newPeer: summarize(newPeerMs),
    vtepMacChange: summarize(macChangeMs),
    etcdPutAck: summarize(putAckMs),
    missed,
    pollRounds,
    targetP99Ms,
    pollIntervalMs: 2,
  };
}

function reportSingleChanges(label: string, peerCount: number, result: Awaited<ReturnType<typeof singleChanges>>): void {
  const { all, newPeer, vtepMacChange, etcdPutAck } = result;
  out(`${label} at ${peerCount} peers, single lease change → programmed (${all.n} of 200, ${result.missed} not within 5 s): p50 ${all.medianMs.toFixed(1)} ms, p99 ${all.p99Ms.toFixed(1)} ms ` +
    `(target p99 < ${result.targetP99Ms} ms: ${verdict(result.missed === 0 && all.p99Ms < result.targetP99Ms)}); max ${all.maxMs.toFixed(1)} ms`);
  out(`    new peer: p50 ${newPeer.medianMs.toFixed(1)}, p99 ${newPeer.p99Ms.toFixed(1)} ms; VtepMAC change: p50 ${vtepMacChange.medianMs.toFixed(1)}, p99 ${vtepMacChange.p99Ms.toFixed(1)} ms; ` +
    `etcd put ack p50 ${etcdPutAck.medianMs.toFixed(1)} ms; ${result.pollRounds} poll rounds (2 ms apart)`);
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
  const groupIdle = readGroupPss(agentPid);
  out(`    process group idle: ${formatGroup(groupIdle)}`);

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
  const group1000 = readGroupPss(agentPid);
  out(`    process group with 1000 peers: ${formatGroup(group1000)}`);

  // (b) 200 single changes at 1000 peers
  const generation = new Map<number, number>();
  const b = await singleChanges({ ip, bridge, writer, newPeers: peers.slice(1000, 1100), existing: peers.slice(0, 200), generation, baseGeneration: 0 }, 50);
  reportSingleChanges("(b)", 1000, b);

  // (d) remove every peer, then 5000 at once
  const present = peers.slice(0, 1100);
  const removal = await timeUntilCounts(ip, bridge, 0, () => writer.del(present.map(leaseKey)), 30_000);
  out(`    1100 peers deleted at once: kernel empty after ${removal.convergedMs.toFixed(0)} ms (no target)`);
  const five = peers.slice(0, 5000);
  // (d1) first at the pace of the issue's harness (its 5000 writes took 3.6–4.3 s), then removed
  const paced = await timeUntilCounts(ip, bridge, 5000, () => writer.put(entries(five, 6), { overMs: pacedWriteMs }), 60_000);
  const pacedAfterAck = paced.convergedMs - paced.writeAckMs;
  out(`(d1) 5000 peers written over ${pacedWriteMs / 1000} s: converged ${paced.convergedMs.toFixed(0)} ms, ${pacedAfterAck.toFixed(0)} ms after the last write was acknowledged (target < 1000 ms: ${verdict(pacedAfterAck < 1000)}); ` +
    `etcd puts acknowledged after ${paced.writeAckMs.toFixed(0)} ms; ${paced.polls} polls; final ${JSON.stringify(paced.final)}`);
  const pacedRemoval = await timeUntilCounts(ip, bridge, 0, () => writer.del(five.map(leaseKey)), 30_000);
  out(`    5000 peers deleted at once: kernel empty after ${pacedRemoval.convergedMs.toFixed(0)} ms (no target)`);
  await sleep(2000);
  // (d) then all at once, as fast as etcd takes them
  const d = await timeUntilCounts(ip, bridge, 5000, () => writer.put(entries(five, 7)), 60_000);
  const afterAck = d.convergedMs - d.writeAckMs;
  out(`(d) 5000 peers at once: converged ${d.convergedMs.toFixed(0)} ms, ${afterAck.toFixed(0)} ms after the last write was acknowledged (target < 1000 ms: ${verdict(afterAck < 1000)}); ` +
    `routes ${d.routesMs.toFixed(0)}, neigh ${d.neighboursMs.toFixed(0)}, fdb ${d.fdbMs.toFixed(0)} ms; etcd puts acknowledged after ${d.writeAckMs.toFixed(0)} ms; ${d.polls} polls; final ${JSON.stringify(d.final)}`);
  await sleep(1000);
  const mem5000 = memoryMiB(agentPid);
  out(`(d) flanneld VmRSS with 5000 peers: ${mem5000.rssMiB} MiB (target ≤ 100 MiB: ${verdict(mem5000.rssMiB <= 100)}); VmHWM ${mem5000.hwmMiB} MiB`);
  const settled5000 = await settledMemory(agentPid);
  out(`    … and after ${settleSeconds} s more of quiet (resyncs only): ${settled5000.rssMiB} MiB (every 5 s: ${settled5000.everyFiveSeconds.join(" ")})`);
  const group5000 = readGroupPss(agentPid);
  out(`    process group with 5000 peers: ${formatGroup(group5000)} (target ≤ 100 MiB: ${verdict(group5000.pssMiB <= 100)})`);

  // (e) the same 200 single changes at 5000 peers (new peers 5001…5100, VtepMAC changes of the first 200)
  const e = await singleChanges({ ip, bridge, writer, newPeers: peers.slice(5000, 5100), existing: peers.slice(0, 200), generation: new Map(), baseGeneration: 7 }, 20);
  reportSingleChanges("(e)", 5000, e);

  // (f) idle CPU: nothing changes (the agent's own resyncs and probes only). The first period
  // right after the changes still carries their aftermath — the full read of the first resync
  // after a burst, V8 collecting the burst's garbage — and is reported apart from the next one,
  // the steady state the target is about.
  await sleep(2000);
  const afterChanges = await measureCpu(agentPid, idleSeconds);
  const afterChangesTotal = Math.round((afterChanges.agentPercent + afterChanges.childrenPercent) * 100) / 100;
  out(`(f) CPU over the ${afterChanges.seconds} s right after the changes (5100 peers): ${afterChangesTotal} % of one core (no target): flanneld ${afterChanges.agentPercent} %; its children ${afterChanges.childrenPercent} %`);
  const cpu = await measureCpu(agentPid, idleSeconds);
  const idleTotal = Math.round((cpu.agentPercent + cpu.childrenPercent) * 100) / 100;
  out(`(f) idle CPU over the next ${cpu.seconds} s: ${idleTotal} % of one core (target < 1 %: ${verdict(idleTotal < 1)}): flanneld ${cpu.agentPercent} %; its children ${cpu.childrenPercent} % ` +
    `(${cpu.children.map((child) => `${child.comm}[${child.pid}] ${child.percent} %`).join(", ") || "none"}; ${cpu.childrenStartedMeanwhile} started meanwhile)`);
  const groupAfterIdle = readGroupPss(agentPid);
  out(`    process group after the idle minute: ${formatGroup(groupAfterIdle)}`);
  const agentAlive = node.flanneld.running;

  const path = writeResults("convergence", {
    setup: "deploy/lab, 1 node, vxlan, Network 10.0.0.0/8 SubnetLen 24, real etcd in the fabric namespace; leases written by lease-writer.ts (one put per key through etcd's JSON gateway, all at once over up to 128 connections, or paced); convergence polled every 10 ms from the main table's prefix count (/proc/<pid>/net/fib_triestat), confirmed by dumps through long-lived ip/bridge -json -batch in the node namespace",
    agent: { pid: agentPid, idle: idleMemory, stillRunningAtEnd: agentAlive },
    peers1000: { ...a, targetMs: 1000 },
    memory1000: { ...mem1000, settledRssMiB: settled1000.rssMiB, settledEveryFiveSeconds: settled1000.everyFiveSeconds, settleSeconds, targetMiB: 60 },
    singleChange: b,
    delete1100: removal,
    peers5000Paced: { ...paced, writtenOverMs: pacedWriteMs, afterAckMs: pacedAfterAck, targetAfterAckMs: 1000 },
    delete5000: pacedRemoval,
    peers5000: { ...d, afterAckMs: afterAck, targetAfterAckMs: 1000 },
    memory5000: { ...mem5000, settledRssMiB: settled5000.rssMiB, settledEveryFiveSeconds: settled5000.everyFiveSeconds, settleSeconds, targetMiB: 100 },
    singleChange5000: e,
    cpuRightAfterChanges5100: { ...afterChanges, totalPercent: afterChangesTotal },
    idleCpu5100: { ...cpu, totalPercent: idleTotal, targetPercent: 1 },
    groupPss: { idle: groupIdle, peers1000: group1000, peers5000: group5000, peers5100AfterIdle: groupAfterIdle },
  });
  out(`results: ${path}`);
} catch (error) {
  process.stderr.write(`convergence bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
