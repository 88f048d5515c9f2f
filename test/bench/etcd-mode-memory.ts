// The etcd-mode half of `npm run bench -- kube`'s memory figures: the same one-node lab (vxlan,
// Network 10.0.0.0/8) on etcd, flanneld's memory idle, with 1000 and with 5000 peer leases, read
// the same way as in kube mode so the two modes compare. Convergence times come along for free.
import { randomBytes } from "node:crypto";
import { encodeLeaseAttrs } from "../../agent/subnet/lease-json.ts";
import { parseIp } from "../../backends/net/ip.ts";
import { startLab, type Lab } from "../../deploy/lab/lab.ts";
import { openBridgeShell, openIpShell, type BatchShell } from "./batch-shell.ts";
import { onCleanup } from "./cleanup.ts";
import { counts, macOf, makePeers, timeUntilCounts, type Convergence, type Peer } from "./kernel-probe.ts";
import { openLeaseWriter, type LeaseWriter } from "./lease-writer-client.ts";
import { formatMemory, memoryAfterBurst, nodePid, readMemory, type Memory } from "./proc-memory.ts";

const publicBase = parseIp("198.19.0.0")!.value;
const keyOf = (peer: Peer): string => `/coreos.com/network/subnets/${peer.gateway}-24`;
const leaseValue = (peer: Peer, generation: number): string =>
  encodeLeaseAttrs({ publicIP: { family: 4, value: publicBase + BigInt(peer.subnetNumber) }, backendType: "vxlan", backendData: { VNI: 1, VtepMAC: macOf(peer, generation) } });

export interface ModeMemory {
  readonly idle: Memory;
  readonly peers1000: Convergence;
  readonly memory1000: Awaited<ReturnType<typeof memoryAfterBurst>>;
  readonly peers5000: Convergence;
  readonly memory5000: Awaited<ReturnType<typeof memoryAfterBurst>>;
}

export async function measureEtcdMode(out: (text: string) => void, settleSeconds: number): Promise<ModeMemory> {
  out("etcd mode: starting a 1-node lab (vxlan, Network 10.0.0.0/8) …");
  const lab = await startLab({ name: `ke${randomBytes(3).toString("hex")}`, nodes: 1, backend: "vxlan", network: "10.0.0.0/8", podsPerNode: 1 }, new AbortController().signal);
  // Torn down at the end of this function (the kube lab runs alone), or by cleanup() on a signal.
  let tornDown = false;
  let writer: LeaseWriter | undefined;
  let ip: BatchShell | undefined;
  let bridge: BatchShell | undefined;
  const teardown = async (): Promise<void> => {
    if (tornDown) return;
    tornDown = true;
    await Promise.allSettled([writer?.close(), ip?.close(), bridge?.close()]);
    await lab.teardown();
  };
  onCleanup(teardown);
  try {
    return await measure(lab, out, settleSeconds, (opened) => ({ writer, ip, bridge } = opened));
  } finally {
    await teardown();
  }
}

interface Tools {
  readonly writer: LeaseWriter;
  readonly ip: BatchShell;
  readonly bridge: BatchShell;
}

async function measure(lab: Lab, out: (text: string) => void, settleSeconds: number, opened: (tools: Tools) => void): Promise<ModeMemory> {
  const node = lab.nodes[0]!;
  const pid = nodePid(node.flanneld.pid!);
  const writer = await openLeaseWriter(lab);
  const ip = openIpShell(node.ns);
  const bridge = openBridgeShell(node.ns);
  opened({ writer, ip, bridge });
  await new Promise((resolve) => setTimeout(resolve, 3000)); // past start-up's garbage
  const idle = readMemory(pid);
  out(`etcd mode idle: ${formatMemory(idle)}; kernel ${JSON.stringify(await counts(ip, bridge))}`);

  const peers = makePeers(5000, node.subnet() ?? "");
  const entries = (list: readonly Peer[], generation: number): Array<[string, string]> => list.map((peer) => [keyOf(peer), leaseValue(peer, generation)]);
  const first = peers.slice(0, 1000);
  const peers1000 = await timeUntilCounts(ip, bridge, 1000, () => writer.put(entries(first, 0)), 30_000);
  const memory1000 = await memoryAfterBurst(pid, settleSeconds);
  out(`etcd mode, 1000 peers: converged ${peers1000.convergedMs.toFixed(0)} ms; ${formatMemory(memory1000.burst)}; after ${settleSeconds} s: ${formatMemory(memory1000.settled)}`);

  await timeUntilCounts(ip, bridge, 0, () => writer.del(first.map(keyOf)), 30_000);
  const peers5000 = await timeUntilCounts(ip, bridge, 5000, () => writer.put(entries(peers, 1)), 60_000);
  const memory5000 = await memoryAfterBurst(pid, settleSeconds);
  out(`etcd mode, 5000 peers: converged ${peers5000.convergedMs.toFixed(0)} ms; ${formatMemory(memory5000.burst)}; after ${settleSeconds} s: ${formatMemory(memory5000.settled)}`);
  if (!node.flanneld.running) throw new Error(`etcd-mode flanneld exited during the run:\n${node.flanneld.logTail(20)}`);
  return { idle, peers1000, memory1000, peers5000, memory5000 };
}
