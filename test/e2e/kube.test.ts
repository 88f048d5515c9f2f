// Kube mode end to end: a 3-node lab on the lab's API server (the manifests applied with kubectl,
// agents in their pods' in-cluster configuration under the manifest's RBAC). The leases come from
// the Nodes' podCIDRs and annotations, and the kernel objects on every node must be exactly what
// Flannel would make of them; the annotations are Flannel's; a Node added or deleted shows on
// every node; the VTEP MAC survives a restart that loses the device; and an API server outage of
// 60 s leaves the pods talking, after which the agents catch up with what changed meanwhile.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, test } from "node:test";
import type { LabNode } from "../../deploy/lab/lab.ts";
import { fullyReachable } from "../../deploy/lab/status.ts";
import { run } from "../../deploy/lab/tools/command.ts";
import { waitFor } from "../../deploy/lab/tools/wait.ts";
import { needsRoot } from "../support/root.ts";
import { flannelVxlanState, parsePingStats, useTestLab, vxlanDevice, vxlanState, type Lease } from "./lab-fixture.ts";

const prefix = "flannel.alpha.coreos.com/";

interface NodeJson {
  readonly metadata: { readonly name: string; readonly annotations?: Record<string, string>; readonly resourceVersion?: string };
  readonly spec: { readonly podCIDR?: string };
  readonly status?: { readonly conditions?: ReadonlyArray<Record<string, string>> };
}

/** The leases as Flannel's kube manager derives them from the Nodes, keyed by public IP (lab-fixture's shape). */
function leasesFromNodes(nodes: readonly NodeJson[]): Map<string, Lease> {
  const leases = new Map<string, Lease>();
  for (const node of nodes) {
    const annotations = node.metadata.annotations ?? {};
    if (annotations[`${prefix}kube-subnet-manager`] !== "true" || node.spec.podCIDR === undefined) continue;
    const [address, prefixLength] = node.spec.podCIDR.split("/");
    const publicIP = annotations[`${prefix}public-ip`]!;
    const data = JSON.parse(annotations[`${prefix}backend-data`] ?? "null") as { VtepMAC?: string } | null;
    leases.set(publicIP, {
      key: node.spec.podCIDR.replace("/", "-"),
      subnet: node.spec.podCIDR,
      address: address!,
      prefix: Number(prefixLength),
      raw: JSON.stringify(annotations),
      publicIP,
      vtepMAC: data?.VtepMAC,
    });
  }
  return leases;
}

describe("kube mode: a 3-node vxlan lab on the lab's API server", { skip: needsRoot }, () => {
  const theLab = useTestLab({ nodes: 3, backend: "vxlan", kube: true });
  const api = () => {
    const kube = theLab().kube;
    if (kube === undefined) throw new Error("the lab has no API server");
    return kube;
  };
  const nodes = () => api().call<NodeJson[]>("store.list", "Node");
  const node = async (name: string) => (await api().call<NodeJson | null>("store.get", "Node", name)) ?? undefined;

  async function expectFlannelState(what: string, extraPeers: readonly NodeJson[] = []): Promise<void> {
    const lab = theLab();
    for (const labNode of lab.nodes) {
      let last: unknown;
      await waitFor(
        async () => {
          const leases = leasesFromNodes(await nodes());
          const expected = flannelVxlanState(lab.nodes, labNode, leases);
          // Peers that are Node objects only (no lab namespace behind them) are programmed too.
          const ghosts = leasesFromNodes(extraPeers);
          for (const ghost of ghosts.values()) {
            (expected.neighbours as unknown[]).push({ dst: ghost.address, lladdr: ghost.vtepMAC, state: ["PERMANENT"] });
            (expected.fdb as unknown[]).push({ mac: ghost.vtepMAC, dst: ghost.publicIP, flags: ["self"], state: "permanent" });
            (expected.routes as unknown[]).push({ dst: ghost.subnet, gateway: ghost.address, dev: vxlanDevice, flags: ["onlink"] });
          }
          const sorted = (items: unknown[]) => items.map((item) => JSON.stringify(item)).sort();
          last = await vxlanState(labNode);
          const actual = last as typeof expected;
          return (
            JSON.stringify(actual.link) === JSON.stringify(expected.link) &&
            JSON.stringify(actual.addresses) === JSON.stringify(expected.addresses) &&
            JSON.stringify(sorted(actual.neighbours)) === JSON.stringify(sorted(expected.neighbours)) &&
            JSON.stringify(sorted(actual.fdb)) === JSON.stringify(sorted(expected.fdb)) &&
            JSON.stringify(sorted(actual.routes)) === JSON.stringify(sorted(expected.routes))
          );
        },
        { what: `${what} on ${labNode.name}`, timeoutMs: 15_000, intervalMs: 200 },
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}\nlast seen: ${JSON.stringify(last)}\nflanneld log:\n${labNode.flanneld.logTail(15)}`);
      });
    }
  }

  /** A Node with flannel's annotations but no namespace behind it: a peer the agents must program. */
  function ghostNode(name: string, podCIDR: string, publicIP: string, mac: string): object {
    return {
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        name,
        annotations: {
          [`${prefix}backend-data`]: JSON.stringify({ VNI: 1, VtepMAC: mac }),
          [`${prefix}backend-type`]: "vxlan",
          [`${prefix}kube-subnet-manager`]: "true",
          [`${prefix}public-ip`]: publicIP,
        },
      },
      spec: { podCIDR, podCIDRs: [podCIDR] },
    };
  }

  test("every node's vxlan device, neighbours, FDB entries and routes are Flannel's for the leases the Nodes carry", async () => {
    const leases = leasesFromNodes(await nodes());
    assert.equal(leases.size, 3);
    await expectFlannelState("Flannel's kernel objects");
    const matrix = await theLab().waitConverged({ timeoutMs: 15_000 });
    assert.ok(fullyReachable(matrix), JSON.stringify(matrix.reachable));
  });

  test("each agent writes Flannel's annotations on its Node, keeps the kubelet's, and sets NetworkUnavailable=False (FlannelIsUp) beside Ready", async () => {
    const lab = theLab();
    for (const labNode of lab.nodes) {
      const object = (await node(labNode.name))!;
      const annotations = object.metadata.annotations ?? {};
      const [device] = await labNode.ipJson<Array<{ address: string }>>("link", "show", vxlanDevice);
      assert.deepEqual(
        Object.fromEntries(Object.entries(annotations).filter(([key]) => key.startsWith(prefix))),
        {
          [`${prefix}backend-data`]: `{"VNI":1,"VtepMAC":"${device!.address}"}`,
          [`${prefix}backend-type`]: "vxlan",
          [`${prefix}kube-subnet-manager`]: "true",
          [`${prefix}public-ip`]: labNode.publicIP,
        },
        labNode.name,
      );
      assert.equal(annotations["node.alpha.kubernetes.io/ttl"], "0", "the kubelet's annotation is kept");
      const conditions = object.status?.conditions ?? [];
      const unavailable = conditions.find((condition) => condition.type === "NetworkUnavailable");
      assert.equal(unavailable?.status, "False", JSON.stringify(conditions));
      assert.equal(unavailable?.reason, "FlannelIsUp");
      assert.equal(unavailable?.message, "Flannel is running on this node");
      assert.equal(conditions.find((condition) => condition.type === "Ready")?.status, "True", "strategic merge by type keeps Ready");
    }
  });

  test("a Node added with flannel's annotations is programmed on every node; a Node without them is ignored; kubectl delete removes the peer", async () => {
    const ghost = ghostNode("ghost1", "10.244.200.0/24", "198.18.0.200", "0a:58:c6:12:00:c8");
    await api().call("store.create", ghost);
    // Registered by a kubelet, but flannel does not run there: no kube-subnet-manager annotation.
    await api().call("store.create", { apiVersion: "v1", kind: "Node", metadata: { name: "plain1" }, spec: { podCIDR: "10.244.201.0/24" } });
    await expectFlannelState("the added peer", [ghost as NodeJson]);
    await api().kubectl(["delete", "node", "ghost1", "plain1"]);
    await expectFlannelState("the peer removed");
  });

  test("the VTEP MAC survives a restart that lost the device: the agent takes it back from its Node's annotation", async () => {
    const labNode: LabNode = theLab().nodes[2]!;
    const before = (await node(labNode.name))!.metadata.annotations![`${prefix}backend-data`];
    await labNode.flanneld.kill();
    // A reboot loses the device; the peers still hold the old MAC in their FDB and neighbour tables.
    await labNode.ip("link", "del", vxlanDevice);
    labNode.flanneld.start();
    await labNode.flanneld.waitReady({ timeoutMs: 30_000 });
    const [device] = await labNode.ipJson<Array<{ address: string }>>("link", "show", vxlanDevice);
    assert.equal(`{"VNI":1,"VtepMAC":"${device!.address}"}`, before, "the recreated device has another MAC");
    assert.equal((await node(labNode.name))!.metadata.annotations![`${prefix}backend-data`], before);
    await expectFlannelState("the state after the restart");
  });

  test("the API server down for 60 s: pods keep talking with no ping lost, agents stay up, then catch up with what changed", { timeout: 180_000 }, async () => {
    const lab = theLab();
    const [from, to] = [lab.nodes[0]!.pods[0]!, lab.nodes[1]!.pods[0]!];
    await api().call("stop");
    let restarted = false;
    try {
      // 65 s of pings, 5 per second, across the whole outage.
      const ping = run(["ip", "netns", "exec", from.ns, "ping", "-n", "-q", "-i", "0.2", "-c", "325", "-W", "1", to.ip], { allowFailure: true, timeoutMs: 120_000 });
      // A change the agents cannot see while the server is down (written straight into its store).
      const ghost = ghostNode("ghost2", "10.244.202.0/24", "198.18.0.202", "0a:58:c6:12:00:ca");
      await api().call("store.create", ghost);
      await sleep(60_000);
      for (const labNode of lab.nodes) assert.ok(labNode.flanneld.running, `flanneld on ${labNode.name} exited during the outage:\n${labNode.flanneld.logTail(10)}`);
      const routes = await lab.nodes[0]!.ipJson<Array<{ dst: string }>>("route", "show", "10.244.202.0/24");
      assert.deepEqual(routes, [], "a peer appeared while the API server was down");
      await api().call("start");
      restarted = true;
      await expectFlannelState("caught up after the outage", [ghost as NodeJson]);
      const stats = parsePingStats((await ping).stdout);
      assert.deepEqual(stats, { transmitted: 325, received: 325 });
      await api().kubectl(["delete", "node", "ghost2"]);
      await expectFlannelState("the peer removed");
    } finally {
      if (!restarted) await api().call("start");
    }
  });
});
