// `npm run bench -- kube`: how fast the real agent programs a node's kernel in kube mode
// (--kube-subnet-mgr against the lab's own API server, vxlan), and what memory flanneld needs in
// both modes. One lab node (deploy/lab with `kube`, Network 10.0.0.0/8, podCIDRs /24), then:
//   (a) 1000 Node objects (peers: podCIDR + flannel's annotations) created at once → time until
//       every route, neighbour and FDB entry is in the node's kernel (target < 1 s);
//   (b) 200 single changes, alternately a new Node and a backend-data (VtepMAC) annotation change
//       of an existing one → time until that peer is programmed, p50/p99 (target p99 < 50 ms);
//   (c) all peers deleted, then 5000 Nodes created at once → converged (target < 3 s);
//   (d) flanneld's memory (VmRSS, RssAnon, smaps_rollup Pss) idle, with 1000 and 5000 peers —
//       and the same in etcd mode (etcd-mode-memory.ts, its own lab, run first) so the two modes
//       compare; targets at 1000 peers: ≤ 64 MiB RSS in etcd mode, ≤ 80 MiB in kube mode.
// Nodes are created through the lab API server's control socket ("store.createMany": one request
// for a whole burst, as an informer sees a burst of ADDED events); the kernel is read as in the
// etcd benchmark (kernel-probe.ts). Results: test/bench/results/kube.json; nothing is asserted.
// FLANNEL_TS_BENCH_MODES=kube (or etcd) runs one mode only.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { startLab } from "../../deploy/lab/lab.ts";
import { flanneldBinary } from "../../deploy/lab/layout.ts";
import { openBridgeShell, openIpShell } from "./batch-shell.ts";
import { cleanup, onCleanup } from "./cleanup.ts";
import { measureEtcdMode, type ModeMemory } from "./etcd-mode-memory.ts";
import { counts, macOf, makePeers, timeUntilCounts, timeUntilProgrammed, type Peer } from "./kernel-probe.ts";
import { formatMemory, memoryAfterBurst, nodePid, readMemory } from "./proc-memory.ts";
import { summarize, writeResults } from "./stats.ts";

const prefix = "flannel.alpha.coreos.com/";
const settleSeconds = Number(process.env.FLANNEL_TS_BENCH_SETTLE_SECONDS ?? 15);
const modes = (process.env.FLANNEL_TS_BENCH_MODES ?? "etcd,kube").split(",");
const verdict = (ok: boolean): string => (ok ? "ok" : "MISSED");
const out = (text: string): void => void process.stdout.write(`${text}\n`);

const nodeName = (peer: Peer): string => `bench-peer-${peer.subnetNumber}`;
const backendData = (peer: Peer, generation: number): string => JSON.stringify({ VNI: 1, VtepMAC: macOf(peer, generation) });

/** A Node as a kubelet registers it and flannel annotates it: podCIDR + flannel's four annotations. */
function nodeObject(peer: Peer, generation: number): object {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: nodeName(peer),
      annotations: {
        [`${prefix}backend-data`]: backendData(peer, generation),
        [`${prefix}backend-type`]: "vxlan",
        [`${prefix}kube-subnet-manager`]: "true",
        [`${prefix}public-ip`]: peer.publicIP,
      },
    },
    spec: { podCIDR: peer.subnet, podCIDRs: [peer.subnet] },
  };
}

async function kubeMode(): Promise<Record<string, unknown>> {
  out("kube mode: starting a 1-node lab (vxlan, Network 10.0.0.0/8, the lab's API server) …");
  const lab = await startLab({ name: `kb${randomBytes(3).toString("hex")}`, nodes: 1, backend: "vxlan", network: "10.0.0.0/8", podsPerNode: 1, kube: true }, new AbortController().signal);
  onCleanup(async () => void (await lab.teardown()));
  const api = lab.kube!;
  const node = lab.nodes[0]!;
  const pid = nodePid(node.flanneld.pid!);
  const ip = openIpShell(node.ns);
  const bridge = openBridgeShell(node.ns);
  onCleanup(() => ip.close(), () => bridge.close());
  await sleep(3000); // past start-up's garbage
  const idle = readMemory(pid);
  out(`kube mode idle: ${formatMemory(idle)}; node subnet ${node.subnet()}; kernel ${JSON.stringify(await counts(ip, bridge))}`);

  const peers = makePeers(5100, node.subnet() ?? "");
  const createMany = (list: readonly Peer[], generation: number) => api.call<number>("store.createMany", list.map((peer) => nodeObject(peer, generation)));
  const deleteAll = async (list: readonly Peer[]): Promise<void> => {
    for (let at = 0; at < list.length; at += 100) {
      await Promise.all(list.slice(at, at + 100).map((peer) => api.call("store.delete", "Node", nodeName(peer))));
    }
  };

  // (a) 1000 at once
  const first = peers.slice(0, 1000);
  const a = await timeUntilCounts(ip, bridge, 1000, () => createMany(first, 0), 30_000);
  out(`(a) 1000 Nodes at once: converged ${a.convergedMs.toFixed(0)} ms (target < 1000 ms: ${verdict(a.convergedMs < 1000)}); ` +
    `routes ${a.routesMs.toFixed(0)}, neigh ${a.neighboursMs.toFixed(0)}, fdb ${a.fdbMs.toFixed(0)} ms; created after ${a.writeAckMs.toFixed(0)} ms; final ${JSON.stringify(a.final)}`);
  const memory1000 = await memoryAfterBurst(pid, settleSeconds);
  out(`(d) kube mode, 1000 peers: ${formatMemory(memory1000.burst)} (target ≤ 80 MiB RSS: ${verdict(memory1000.burst.rssMiB <= 80)}); ` +
    `after ${settleSeconds} s of quiet: ${formatMemory(memory1000.settled)}`);

  // (b) 200 single changes: a new Node, then a VtepMAC change of an existing one, alternately
  const generation = new Map<number, number>();
  const newNodeMs: number[] = [];
  const macChangeMs: number[] = [];
  const callMs: number[] = [];
  let missed = 0;
  for (let k = 0; k < 200; k++) {
    const isNew = k % 2 === 0;
    const peer = isNew ? peers[1000 + k / 2]! : peers[k]!;
    const gen = isNew ? 0 : (generation.get(peer.subnetNumber) ?? 0) + 1;
    generation.set(peer.subnetNumber, gen);
    const start = performance.now();
    const writing = (isNew
      ? api.call("store.create", nodeObject(peer, gen))
      : api.call("store.patch", "Node", nodeName(peer), { metadata: { annotations: { [`${prefix}backend-data`]: backendData(peer, gen) } } })
    ).then(() => void callMs.push(performance.now() - start));
    writing.catch(() => {}); // awaited below
    const elapsed = await timeUntilProgrammed(ip, bridge, peer, macOf(peer, gen), start);
    await writing;
    if (Number.isNaN(elapsed)) missed++;
    else (isNew ? newNodeMs : macChangeMs).push(elapsed);
    await sleep(20); // let the agent settle so changes do not overlap
  }
  const changes = summarize([...newNodeMs, ...macChangeMs]);
  const newNodes = summarize(newNodeMs);
  const macChanges = summarize(macChangeMs);
  const calls = summarize(callMs);
  out(`(b) single change → programmed (${changes.n} of 200, ${missed} not within 5 s): p50 ${changes.medianMs.toFixed(1)} ms, p99 ${changes.p99Ms.toFixed(1)} ms ` +
    `(target p99 < 50 ms: ${verdict(missed === 0 && changes.p99Ms < 50)}); max ${changes.maxMs.toFixed(1)} ms`);
  out(`    new Node: p50 ${newNodes.medianMs.toFixed(1)}, p99 ${newNodes.p99Ms.toFixed(1)} ms; backend-data change: p50 ${macChanges.medianMs.toFixed(1)}, p99 ${macChanges.p99Ms.toFixed(1)} ms; ` +
    `control call p50 ${calls.medianMs.toFixed(1)} ms`);

  // (c) every peer deleted, then 5000 at once
  const present = peers.slice(0, 1100);
  const removal = await timeUntilCounts(ip, bridge, 0, () => deleteAll(present), 60_000);
  out(`    1100 Nodes deleted (100 calls at a time): kernel empty after ${removal.convergedMs.toFixed(0)} ms (no target)`);
  const five = peers.slice(0, 5000);
  const c = await timeUntilCounts(ip, bridge, 5000, () => createMany(five, 7), 60_000);
  out(`(c) 5000 Nodes at once: converged ${c.convergedMs.toFixed(0)} ms (target < 3000 ms: ${verdict(c.convergedMs < 3000)}); ` +
    `routes ${c.routesMs.toFixed(0)}, neigh ${c.neighboursMs.toFixed(0)}, fdb ${c.fdbMs.toFixed(0)} ms; created after ${c.writeAckMs.toFixed(0)} ms; final ${JSON.stringify(c.final)}`);
  const memory5000 = await memoryAfterBurst(pid, settleSeconds);
  out(`(d) kube mode, 5000 peers: ${formatMemory(memory5000.burst)}; after ${settleSeconds} s of quiet: ${formatMemory(memory5000.settled)}`);
  const stillRunning = node.flanneld.running;
  if (!stillRunning) out(`flanneld exited during the run:\n${node.flanneld.logTail(20)}`);
  return {
    agent: { pid, stillRunningAtEnd: stillRunning },
    idle,
    peers1000: { ...a, targetMs: 1000 },
    memory1000: { ...memory1000, settleSeconds, targetRssMiB: 80 },
    singleChange: { all: changes, newNode: newNodes, backendDataChange: macChanges, controlCall: calls, missed, targetP99Ms: 50, pollIntervalMs: 2 },
    delete1100: removal,
    peers5000: { ...c, targetMs: 3000 },
    memory5000: { ...memory5000, settleSeconds },
  };
}

try {
  let etcd: ModeMemory | undefined;
  if (modes.includes("etcd")) {
    etcd = await measureEtcdMode(out, settleSeconds);
    out(`etcd mode, 1000 peers: VmRSS ${etcd.memory1000.burst.rssMiB} MiB (target ≤ 64 MiB: ${verdict(etcd.memory1000.burst.rssMiB <= 64)})`);
  }
  const kube = modes.includes("kube") ? await kubeMode() : undefined;
  const path = writeResults("kube", {
    setup: "deploy/lab, 1 node, vxlan, Network 10.0.0.0/8, /24 per node; kube: the lab's API server in the fabric namespace, Nodes created through its control socket; etcd: real etcd, leases written by lease-writer.ts; kernel read via long-lived ip/bridge -json -batch in the node namespace; memory of flanneld's node process from /proc/PID/status and smaps_rollup",
    // What the agent ran with (its Node options, environment defaults and entry point).
    launcher: readFileSync(flanneldBinary, "utf8").split("\n").filter((line) => /^(options=|: |exec )/.test(line)),
    targets: { etcdRss1000MiB: 64, kubeRss1000MiB: 80, converge1000Ms: 1000, converge5000Ms: 3000, singleChangeP99Ms: 50 },
    ...(kube === undefined ? {} : { kube }),
    ...(etcd === undefined ? {} : { etcd }),
  });
  out(`results: ${path}`);
} catch (error) {
  process.stderr.write(`kube bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
