// `npm run bench -- soak`: does the agent's memory stay flat under a long churn of lease changes?
// One lab node (etcd mode, vxlan, Network 10.0.0.0/8) with 1000 peers, then 100,000 lease changes
// (FLANNEL_TS_SOAK_CHANGES) written through lease-writer.ts in batches of 50, cycling through
//   a VtepMAC change of 50 existing peers → 50 peers removed → the same 50 re-added (new VtepMAC),
// each batch awaited (etcd's acknowledgement) but the kernel not waited for, so the agent works
// through a steady backlog. Every 10,000 changes (at the end of a cycle) the run waits until the
// kernel holds exactly the expected entries (kernel-state.ts), then reads the process group's
// summed PSS (flanneld's node process and every child: proc-group.ts) and flanneld's VmRSS.
// Flatness = last PSS reading vs. the first after warm-up (the first 10 %), target within 5 %.
// The churn stops early (and says so) after FLANNEL_TS_SOAK_MAX_SECONDS (default 900).
// Results go to test/bench/results/soak.json; nothing is asserted.
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { startLab } from "../../deploy/lab/lab.ts";
import { openBridgeShell, openIpShell, type BatchShell } from "./batch-shell.ts";
import { cleanup, onCleanup } from "./cleanup.ts";
import { timeUntilCounts, makePeers, type Peer } from "./kernel-probe.ts";
import { compareEntries, expectedEntries, kernelEntries, type KernelMismatch } from "./kernel-state.ts";
import { openLeaseWriter } from "./lease-writer-client.ts";
import { leaseKey, leaseValue } from "./peer-leases.ts";
import { formatGroup, readGroupPss } from "./proc-group.ts";
import { nodePid, readMemory } from "./proc-memory.ts";
import { writeResults } from "./stats.ts";

const totalChanges = Number(process.env.FLANNEL_TS_SOAK_CHANGES ?? 100_000);
const maxSeconds = Number(process.env.FLANNEL_TS_SOAK_MAX_SECONDS ?? 900);
const batchSize = 50;
const peerCount = 1000;
const every = Math.max(batchSize * 3, Math.min(10_000, Math.round(totalChanges / 10)));
const out = (text: string): void => void process.stdout.write(`${text}\n`);

/** Polls until the kernel holds exactly `expected` (or `timeoutMs` passes); the last comparison. */
async function waitForExact(ip: BatchShell, bridge: BatchShell, expected: ReadonlySet<string>, timeoutMs: number): Promise<{ ms: number; mismatch: KernelMismatch }> {
  const start = performance.now();
  for (;;) {
    const mismatch = compareEntries(await kernelEntries(ip, bridge), expected);
    const ms = performance.now() - start;
    if ((mismatch.missing.length === 0 && mismatch.unexpected.length === 0) || ms > timeoutMs) return { ms, mismatch };
    await sleep(50);
  }
}

interface Reading {
  readonly changes: number;
  readonly elapsedS: number;
  readonly catchUpMs: number;
  readonly exact: boolean;
  readonly groupPssMiB: number;
  readonly agentPssMiB: number;
  readonly agentRssMiB: number;
}

try {
  const controller = new AbortController();
  out(`starting a 1-node lab (vxlan, Network 10.0.0.0/8); ${totalChanges} changes in batches of ${batchSize}, a reading every ${every} …`);
  const lab = await startLab({ name: `sk${randomBytes(3).toString("hex")}`, nodes: 1, backend: "vxlan", network: "10.0.0.0/8", podsPerNode: 1 }, controller.signal);
  onCleanup(async () => void (await lab.teardown()));
  const node = lab.nodes[0]!;
  const agentPid = nodePid(node.flanneld.pid!);
  const writer = await openLeaseWriter(lab);
  onCleanup(() => writer.close());
  const ip = openIpShell(node.ns);
  const bridge = openBridgeShell(node.ns);
  onCleanup(() => ip.close(), () => bridge.close());

  const peers = makePeers(peerCount, node.subnet() ?? "");
  const present = new Map<Peer, number>(peers.map((peer) => [peer, 0]));
  const initial = await timeUntilCounts(ip, bridge, peerCount, () => writer.put(peers.map((peer) => [leaseKey(peer), leaseValue(peer, 0)])), 30_000);
  out(`${peerCount} peers converged in ${initial.convergedMs.toFixed(0)} ms`);
  await sleep(2000);

  const readings: Reading[] = [];
  const churnStart = performance.now();
  const read = async (changes: number): Promise<Reading> => {
    const { ms, mismatch } = await waitForExact(ip, bridge, expectedEntries(present), 60_000);
    await sleep(1000); // the last batch's garbage is not what we measure
    const group = readGroupPss(agentPid);
    const reading = {
      changes,
      elapsedS: Math.round((performance.now() - churnStart) / 100) / 10,
      catchUpMs: Math.round(ms),
      exact: mismatch.missing.length === 0 && mismatch.unexpected.length === 0,
      groupPssMiB: group.pssMiB,
      agentPssMiB: group.agentPssMiB,
      agentRssMiB: readMemory(agentPid).rssMiB,
    };
    readings.push(reading);
    out(`${String(changes).padStart(7)} changes, ${reading.elapsedS} s: kernel ${reading.exact ? "exact" : `NOT exact (${mismatch.missing.length} missing, ${mismatch.unexpected.length} unexpected)`} ` +
      `${reading.catchUpMs} ms after the last write; ${formatGroup(group)}; flanneld VmRSS ${reading.agentRssMiB} MiB`);
    return reading;
  };
  await read(0);

  // The churn: cycles of three batches over the peers in turn.
  let changes = 0;
  let cursor = 0;
  let nextReading = every;
  let truncated = false;
  const nextGeneration = (peer: Peer): number => ((present.get(peer) ?? 0) + 1) % 256;
  while (changes < totalChanges) {
    const batch = Array.from({ length: batchSize }, (_, index) => peers[(cursor + index) % peerCount]!);
    cursor = (cursor + batchSize) % peerCount;
    const macChanges = Array.from({ length: batchSize }, (_, index) => peers[(cursor + 500 + index) % peerCount]!);
    await writer.put(macChanges.map((peer) => {
      const generation = nextGeneration(peer);
      present.set(peer, generation);
      return [leaseKey(peer), leaseValue(peer, generation)] as const;
    }));
    const generations = new Map(batch.map((peer) => [peer, nextGeneration(peer)]));
    await writer.del(batch.map(leaseKey));
    for (const peer of batch) present.delete(peer);
    await writer.put(batch.map((peer) => [leaseKey(peer), leaseValue(peer, generations.get(peer)!)] as const));
    for (const peer of batch) present.set(peer, generations.get(peer)!);
    changes += batchSize * 3;
    if (changes >= nextReading || changes >= totalChanges) {
      await read(changes);
      nextReading += every;
    }
    if ((performance.now() - churnStart) / 1000 > maxSeconds && changes < totalChanges) {
      truncated = true;
      out(`stopping after ${changes} changes: FLANNEL_TS_SOAK_MAX_SECONDS (${maxSeconds}) passed`);
      if (readings.at(-1)?.changes !== changes) await read(changes);
      break;
    }
  }

  // Verdicts: the last reading's exactness, and PSS flatness after warm-up (the first 10 % of changes).
  const last = readings.at(-1)!;
  const afterWarmUp = readings.find((reading) => reading.changes >= changes / 10 && reading.changes > 0) ?? last;
  const flatnessPercent = Math.round(((last.groupPssMiB - afterWarmUp.groupPssMiB) / afterWarmUp.groupPssMiB) * 1000) / 10;
  // The group's PSS is a sawtooth: the agent replaces its dump coprocesses (ip/bridge) from time to
  // time and theirs grows until then, so two means of three readings are shown next to last-vs-first.
  const growth = (from: number, to: number): number => Math.round(((to - from) / from) * 1000) / 10;
  const settledReadings = readings.filter((reading) => reading.changes >= afterWarmUp.changes);
  const mean = (list: readonly Reading[], pick: (reading: Reading) => number): number => list.reduce((sum, reading) => sum + pick(reading), 0) / list.length;
  const meanFlatnessPercent = growth(mean(settledReadings.slice(0, 3), (r) => r.groupPssMiB), mean(settledReadings.slice(-3), (r) => r.groupPssMiB));
  const agentPssGrowthPercent = growth(afterWarmUp.agentPssMiB, last.agentPssMiB);
  const rssGrowthPercent = Math.round(((last.agentRssMiB - afterWarmUp.agentRssMiB) / afterWarmUp.agentRssMiB) * 1000) / 10;
  out(`kernel at the end: ${last.exact ? "exactly the expected 1000 routes, neighbours and FDB entries" : "NOT as expected"}`);
  out(`group PSS ${afterWarmUp.groupPssMiB} MiB at ${afterWarmUp.changes} changes → ${last.groupPssMiB} MiB at ${last.changes}: ${flatnessPercent >= 0 ? "+" : ""}${flatnessPercent} % ` +
    `(target within ±5 %: ${Math.abs(flatnessPercent) <= 5 ? "ok" : "MISSED"}); flanneld VmRSS ${afterWarmUp.agentRssMiB} → ${last.agentRssMiB} MiB (${rssGrowthPercent} %)`);
  out(`    mean of the first three readings after warm-up vs. the last three: ${meanFlatnessPercent} %; flanneld's own PSS ${afterWarmUp.agentPssMiB} → ${last.agentPssMiB} MiB (${agentPssGrowthPercent} %)`);
  out(`churn: ${changes} changes in ${last.elapsedS} s (${Math.round(changes / last.elapsedS)} changes/s including the waits at readings)${truncated ? ", TRUNCATED by the time bound" : ""}; agent still running: ${node.flanneld.running}`);
  const path = writeResults("soak", {
    setup: `deploy/lab, 1 node, vxlan, etcd mode, ${peerCount} peers; cycles of ${batchSize} VtepMAC changes, ${batchSize} removals, ${batchSize} re-adds (new VtepMAC), each batch one lease-writer request awaited for etcd's ack; readings after the kernel is exact + 1 s`,
    requestedChanges: totalChanges,
    changes,
    truncated,
    maxSeconds,
    initialConvergence: initial,
    readings,
    pssSeriesMiB: readings.map((reading) => reading.groupPssMiB),
    warmUpReading: afterWarmUp.changes,
    flatnessPercent,
    flatnessTargetPercent: 5,
    rssGrowthPercent,
    meanOfThreeFlatnessPercent: meanFlatnessPercent,
    agentPssGrowthPercent,
    kernelExactAtEnd: last.exact,
    agentStillRunning: node.flanneld.running,
  });
  out(`results: ${path}`);
} catch (error) {
  process.stderr.write(`soak bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
