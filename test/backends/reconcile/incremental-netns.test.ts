// Lease events applied one by one (Backend.apply: no kernel read, only the changed peers' lines)
// must leave exactly the kernel state a full reconcile from scratch leaves for the final peer set.
// Two node namespaces with the same own subnet: node 1 applies a random sequence of events (new
// peers, a VTEP MAC or public IP changed, peers removed, in batches of 1–3; seeded, the seed is in
// every failure message — rerun with INCREMENTAL_SEED=<seed>), node 2 reconciles the final set
// once. Their routes, neighbours and FDB entries must be equal, and a full reconcile on node 1
// afterwards must find nothing to do. Then, for vxlan: the device deleted and recreated behind
// the backend's back, while its readers live, is seen by the next (cheap) resync, which restores
// every entry; drift by hand is repaired by a round of cheap resyncs.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Backend, Peer, PeerChange, ReconcileReport } from "../../../backends/backend.ts";
import { createHostGwBackend } from "../../../backends/hostgw/hostgw-backend.ts";
import { parseCidr, parseIp, type Cidr } from "../../../backends/net/ip.ts";
import { createVxlanBackend } from "../../../backends/vxlan/vxlan-backend.ts";
import { needsRoot } from "../../support/root.ts";
import { createCluster, type Cluster, type ClusterNode } from "./cluster-fixture.ts";

type Json = Record<string, unknown>;
const signal = (): AbortSignal => AbortSignal.timeout(30_000);
const own: Cidr = parseCidr("10.244.250.0/24")!;

/** mulberry32: small, seedable, good enough to pick events. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function counts(report: ReconcileReport) {
  return { added: report.added, removed: report.removed, repaired: report.repaired, errors: report.errors.map((e) => e.message) };
}

/** Random lease events over peers 10.244.{100..139}.0/24 (public IPs 198.18.0.{100..}), as batches of changes. */
function* randomBatches(random: () => number, type: string, steps: number): Generator<{ changes: PeerChange[]; peers: Map<string, Peer> }> {
  const peers = new Map<string, Peer>();
  let generation = 0;
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  const make = (n: number): Peer => {
    generation += 1;
    return {
      subnet: parseCidr(`10.244.${n}.0/24`)!,
      publicIP: parseIp(`198.18.0.${100 + Math.floor(random() * 150)}`)!,
      backendType: type,
      ...(type === "vxlan" ? { backendData: { VNI: 1, VtepMAC: `0e:00:${hex(generation >> 8)}:${hex(generation & 255)}:00:${hex(n)}` } } : {}),
    };
  };
  for (let step = 0; step < steps; step++) {
    const changes: PeerChange[] = [];
    const size = 1 + Math.floor(random() * 3);
    for (let i = 0; i < size; i++) {
      const n = 100 + Math.floor(random() * 40);
      const key = `10.244.${n}.0/24`;
      const existing = peers.get(key);
      const roll = random();
      if (existing === undefined || roll < 0.35) {
        const peer = make(n); // a new peer, or a changed lease (new MAC and public IP)
        peers.set(key, peer);
        changes.push({ kind: "added", peer });
      } else if (roll < 0.55) {
        const peer = { ...existing, publicIP: parseIp(`198.18.0.${100 + Math.floor(random() * 150)}`)! };
        peers.set(key, peer);
        changes.push({ kind: "added", peer });
      } else {
        peers.delete(key);
        changes.push({ kind: "removed", peer: existing });
      }
    }
    yield { changes, peers };
  }
}

/** The node's peer routes, flannel.1's neighbours and FDB entries, as text. */
async function kernelState(node: ClusterNode, vxlan: boolean) {
  const routes = await node.json<Json[]>("-4", "route", "show", "table", "main");
  const peerRoutes = routes
    .filter((r) => typeof r.dst === "string" && r.dst.startsWith("10.244.") && r.protocol !== "kernel")
    .map((r) => `${r.dst} via ${r.gateway} dev ${r.dev} ${((r.flags as string[] | undefined) ?? []).join(",")}`)
    .sort();
  if (!vxlan) return { routes: peerRoutes };
  const neighbours = await node.json<Json[]>("neigh", "show", "dev", "flannel.1");
  const fdb = await node.fdb("flannel.1");
  return {
    routes: peerRoutes,
    neighbours: neighbours.map((n) => `${n.dst} lladdr ${n.lladdr} ${(n.state as string[]).join(",")}`).sort(),
    fdb: fdb.map((f) => `${f.mac} dst ${f.dst} ${(f.flags as string[]).join(",")} ${f.state}`).sort(),
  };
}

for (const type of ["vxlan", "host-gw"] as const) {
  describe(`${type}: lease events applied incrementally`, { skip: needsRoot }, () => {
    let cluster: Cluster;
    let nodes: readonly ClusterNode[];
    const create = (node: ClusterNode): Backend =>
      type === "vxlan" ? createVxlanBackend({ kernel: node.kernel, log: node.log }) : createHostGwBackend({ kernel: node.kernel, log: node.log });

    before(async () => {
      cluster = await createCluster(2);
      nodes = cluster.nodes;
    });
    after(async () => {
      await cluster?.remove();
    });

    const seeds = process.env.INCREMENTAL_SEED === undefined ? [1, 2, 3].map(() => Math.floor(Math.random() * 2 ** 31)) : [Number(process.env.INCREMENTAL_SEED)];
    for (const [run, seed] of seeds.entries()) {
      test(`leave the kernel as a full reconcile from scratch of the final peer set does (run ${run + 1}, seed ${seed})`, async () => {
        const [a, b] = nodes as [ClusterNode, ClusterNode];
        const incremental = create(a);
        const scratch = create(b);
        try {
          for (const [backend, node] of [[incremental, a], [scratch, b]] as const) {
            await backend.prepare(await node.local({ Type: type }), signal());
            await backend.configure({ subnet: own }, signal());
            await backend.reconcile([], signal());
          }
          let final = new Map<string, Peer>();
          for (const { changes, peers } of randomBatches(prng(seed), type, 60)) {
            const report = await incremental.apply(changes, signal());
            assert.deepEqual(report.errors.map((e) => e.message), [], `seed ${seed}`);
            assert.equal(report.needsReconcile, false, `seed ${seed}`);
            final = peers;
          }
          assert.deepEqual(counts(await scratch.reconcile([...final.values()], signal())).errors, [], `seed ${seed}`);
          assert.deepEqual(await kernelState(a, type === "vxlan"), await kernelState(b, type === "vxlan"), `seed ${seed}`);
          assert.deepEqual(counts(await incremental.reconcile([...final.values()], signal())), { added: 0, removed: 0, repaired: 0, errors: [] }, `seed ${seed}`);
          // Clean slate for the next run: both nodes back to no peers.
          await incremental.reconcile([], signal());
          await scratch.reconcile([], signal());
        } finally {
          await incremental.close();
          await scratch.close();
        }
      });
    }

    if (type === "vxlan") {
      test("a device deleted and recreated behind its back, readers alive, is seen by the next resync: every entry comes back", async () => {
        const [a] = nodes as [ClusterNode, ClusterNode];
        const backend = create(a);
        try {
          const prepared = await backend.prepare(await a.local({ Type: "vxlan" }), signal());
          await backend.configure({ subnet: own }, signal());
          const peers = [...randomBatches(prng(7), "vxlan", 30)].at(-1)!.peers;
          await backend.reconcile([...peers.values()], signal());
          const before = await kernelState(a, true);
          assert.ok(before.fdb!.length > 5);
          // Read once more through the long-lived readers (their name caches know flannel.1).
          await backend.reconcile([...peers.values()], signal(), "resync");
          const [link] = await a.json<Json[]>("-d", "link", "show", "flannel.1");
          const mac = (prepared.backendData as { VtepMAC: string }).VtepMAC;
          await a.ip("link", "del", "flannel.1");
          // The same device again, made by someone else: nothing about it tells the backend but its index.
          await a.ip("link", "add", "flannel.1", "address", mac, "mtu", String(link?.mtu), "type", "vxlan", "id", "1", "local", a.address, "dev", "eth0", "dstport", "8472", "nolearning");
          await a.ip("link", "set", "flannel.1", "up");
          await a.ip("addr", "add", "10.244.250.0/32", "dev", "flannel.1");
          const report = await backend.reconcile([...peers.values()], signal(), "resync");
          assert.deepEqual(report.errors, []);
          assert.equal(report.repaired, 3 * peers.size);
          assert.deepEqual(await kernelState(a, true), before);
          assert.deepEqual(counts(await backend.reconcile([...peers.values()], signal())), { added: 0, removed: 0, repaired: 0, errors: [] });
          // Drift by hand — one neighbour, one FDB entry, one route gone — is repaired by the next
          // resync; an idle one before it changes nothing.
          assert.deepEqual(counts(await backend.reconcile([...peers.values()], signal(), "resync")), { added: 0, removed: 0, repaired: 0, errors: [] });
          const [victim] = [...peers.values()];
          const gateway = `10.244.${Number(victim!.subnet!.address >> 8n) & 255}.0`;
          await a.ip("neigh", "del", gateway, "dev", "flannel.1");
          await a.bridge("fdb", "del", (victim!.backendData as { VtepMAC: string }).VtepMAC, "dev", "flannel.1", "self");
          await a.ip("route", "del", `${gateway}/24`);
          assert.deepEqual(counts(await backend.reconcile([...peers.values()], signal(), "resync")), { added: 0, removed: 0, repaired: 3, errors: [] });
          assert.deepEqual(await kernelState(a, true), before);
        } finally {
          await backend.close();
        }
      });
    }
  });
}
