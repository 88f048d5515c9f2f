// The kube subnet manager against the lab API server (stock flannel RBAC): the lease from the
// node's podCIDR, the annotations it publishes through nodes/NAME/status, Flannel's errors,
// NetworkUnavailable, the hints read back, and the ways of finding the server and the node.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { isFlannelError } from "../../../../backends/errors.ts";
import { formatCidr, formatIp, parseIp } from "../../../../backends/net/ip.ts";
import { createKubeSubnetManager } from "../../../../agent/subnet/kube/kube-manager.ts";
import { serviceAccountDir } from "../../../../agent/subnet/kube/kube-config.ts";
import type { LeaseAttrs } from "../../../../agent/subnet/manager.ts";
import { createMemoryLog } from "../../../support/memory-log.ts";
import { ensureDir, flannelAnnotations, nodeFixture, prefix, startKubeLab, type KubeLab } from "./kube-lab.ts";

const vxlan: LeaseAttrs = { publicIP: parseIp("192.168.7.1")!, backendType: "vxlan", backendData: { VNI: 1, VtepMAC: "02:00:00:00:07:01" } };
const v4Conf = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}';
const dualConf = '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"vxlan"}}';

let lab: KubeLab;
let v4: string;
let dual: string;
let nodeCount = 0;
const signal = () => AbortSignal.timeout(15_000);
const patches = (node: string) => lab.requests.filter((line) => line.startsWith("PATCH ") && line.includes(`/nodes/${node}`));
const annotationsOf = (node: string) => lab.api.store.get("Node", node)?.metadata.annotations ?? {};

/** A fresh node name for each test, so tests do not see each other's nodes. */
function newNode(podCIDRs: readonly string[], annotations: Record<string, string> = {}): string {
  nodeCount += 1;
  const name = `node-${nodeCount}`;
  lab.api.store.create(nodeFixture(name, podCIDRs, annotations));
  return name;
}

before(async () => {
  lab = await startKubeLab();
  v4 = await lab.writeNetConf(v4Conf);
  dual = await lab.writeNetConf(dualConf);
});
after(() => lab.close());

describe("kube manager: acquiring the lease", () => {
  test("the lease is the node's podCIDR and the annotations go to nodes/NAME/status with the stock RBAC", async () => {
    const name = newNode(["10.244.1.0/24"]);
    const manager = await createKubeSubnetManager(lab.options(name, v4), createMemoryLog());
    try {
      const lease = await manager.acquire(vxlan, signal());
      assert.equal(formatCidr(lease.subnet!), "10.244.1.0/24");
      assert.equal(lease.subnetV6, undefined);
      assert.ok(lease.expiresAt!.getTime() > Date.now() + 23 * 3600_000, "expires in 24 h");
      assert.deepEqual(annotationsOf(name), {
        "node.alpha.kubernetes.io/ttl": "0",
        [`${prefix}backend-data`]: '{"VNI":1,"VtepMAC":"02:00:00:00:07:01"}',
        [`${prefix}backend-type`]: "vxlan",
        [`${prefix}kube-subnet-manager`]: "true",
        [`${prefix}public-ip`]: "192.168.7.1",
      });
      assert.deepEqual(patches(name), [`PATCH /api/v1/nodes/${name}/status 200`]);
      const stored = lab.api.store.get("Node", name) as unknown as { spec: { podCIDR: string }; status: { conditions: { type: string }[] } };
      assert.equal(stored.spec.podCIDR, "10.244.1.0/24", "the spec is untouched");
      assert.deepEqual(stored.status.conditions.map((c) => c.type), ["Ready"], "the status is untouched");
    } finally {
      await manager.close();
    }
  });

  test("a restart with the same attributes sends no patch at all; a new public IP sends one", async () => {
    const name = newNode(["10.244.2.0/24"]);
    for (const attrs of [vxlan, vxlan, { ...vxlan, publicIP: parseIp("192.168.7.99")! }]) {
      const manager = await createKubeSubnetManager(lab.options(name, v4), createMemoryLog());
      await manager.acquire(attrs, signal());
      await manager.close();
    }
    assert.equal(patches(name).length, 2);
    assert.equal(annotationsOf(name)[`${prefix}public-ip`], "192.168.7.99");
  });

  test("a node without any annotations (Flannel would panic) gets them all", async () => {
    nodeCount += 1;
    const name = `node-${nodeCount}`;
    lab.api.store.create({ kind: "Node", apiVersion: "v1", metadata: { name }, spec: { podCIDR: "10.244.9.0/24", podCIDRs: ["10.244.9.0/24"] } } as never);
    const manager = await createKubeSubnetManager(lab.options(name, v4), createMemoryLog());
    await manager.acquire(vxlan, signal());
    await manager.close();
    assert.equal(annotationsOf(name)[`${prefix}kube-subnet-manager`], "true");
    assert.equal(Object.keys(annotationsOf(name)).length, 4);
  });

  test("dual-stack: both podCIDRs make the lease and the IPv6 pair is published", async () => {
    const name = newNode(["10.244.3.0/24", "fd00:10:244:3::/64"]);
    const manager = await createKubeSubnetManager(lab.options(name, dual), createMemoryLog());
    try {
      const attrs: LeaseAttrs = { ...vxlan, publicIPv6: parseIp("fd00::7:1")!, backendV6Data: { VNI: 1, VtepMAC: "02:00:00:00:17:01" } };
      const lease = await manager.acquire(attrs, signal());
      assert.equal(formatCidr(lease.subnet!), "10.244.3.0/24");
      assert.equal(formatCidr(lease.subnetV6!), "fd00:10:244:3::/64");
      assert.equal(annotationsOf(name)[`${prefix}public-ipv6`], "fd00::7:1");
      assert.equal(annotationsOf(name)[`${prefix}backend-v6-data`], '{"VNI":1,"VtepMAC":"02:00:00:00:17:01"}');
    } finally {
      await manager.close();
    }
  });

  test("public-ip-overwrite decides the published public-ip", async () => {
    const name = newNode(["10.244.4.0/24"], { [`${prefix}public-ip-overwrite`]: "203.0.113.4" });
    const log = createMemoryLog();
    const manager = await createKubeSubnetManager(lab.options(name, v4), log);
    await manager.acquire(vxlan, signal());
    await manager.close();
    assert.equal(annotationsOf(name)[`${prefix}public-ip`], "203.0.113.4");
    assert.equal(log.find("overriding public ip with '203.0.113.4'").length, 1);
  });

  test("a node without podCIDR fails with Flannel's message", async () => {
    const name = newNode([]);
    const manager = await createKubeSubnetManager(lab.options(name, v4), createMemoryLog());
    await assert.rejects(manager.acquire(vxlan, signal()), (error) => isFlannelError(error, "kube-node-invalid") && error.message === `node "${name}" pod cidr not assigned`);
    await manager.close();
  });

  test("a podCIDR outside Network fails with Flannel's message and publishes nothing", async () => {
    const name = newNode(["10.99.5.0/24"]);
    const manager = await createKubeSubnetManager(lab.options(name, v4), createMemoryLog());
    await assert.rejects(
      manager.acquire(vxlan, signal()),
      (error) => isFlannelError(error, "kube-node-invalid") && error.message === `subnet "10.244.0.0/16" specified in the flannel net config doesn't contain "10.99.5.0/24" PodCIDR of the "${name}" node`,
    );
    await manager.close();
    assert.equal(annotationsOf(name)[`${prefix}kube-subnet-manager`], undefined);
  });

  test("a node that never appears fails after the retry limit", async () => {
    const manager = await createKubeSubnetManager(lab.options("no-such-node", v4), createMemoryLog());
    await assert.rejects(manager.acquire(vxlan, signal()), (error) => isFlannelError(error, "kube-request-failed") && error.message.startsWith("timeout contacting kube-api") && error.details.status === 404);
    await manager.close();
  });

  test("the network config is net-conf.json parsed but not checked (no SubnetLen derived)", async () => {
    const name = newNode(["10.244.6.0/24"]);
    const manager = await createKubeSubnetManager(lab.options(name, v4), createMemoryLog());
    const conf = await manager.networkConfig(signal());
    await manager.close();
    assert.equal(formatCidr(conf.ipv4.network!), "10.244.0.0/16");
    assert.equal(conf.ipv4.subnetLen, undefined);
  });
});

describe("kube manager: around the lease", () => {
  test("markNetworkReady sets NetworkUnavailable=False (FlannelIsUp) and keeps the other conditions", async () => {
    const name = newNode(["10.244.10.0/24"]);
    const manager = await createKubeSubnetManager(lab.options(name, v4), createMemoryLog());
    await manager.markNetworkReady(signal());
    await manager.close();
    const conditions = (lab.api.store.get("Node", name) as unknown as { status: { conditions: Record<string, string>[] } }).status.conditions;
    assert.deepEqual(conditions.map((c) => c.type), ["Ready", "NetworkUnavailable"]);
    const condition = conditions[1]!;
    assert.equal(condition.status, "False");
    assert.equal(condition.reason, "FlannelIsUp");
    assert.equal(condition.message, "Flannel is running on this node");
    assert.match(condition.lastTransitionTime!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  test("with --set-node-network-unavailable=false the condition is left alone", async () => {
    const name = newNode(["10.244.11.0/24"]);
    const manager = await createKubeSubnetManager(lab.options(name, v4, { setNodeNetworkUnavailable: false }), createMemoryLog());
    await manager.markNetworkReady(signal());
    await manager.close();
    assert.equal(patches(name).length, 0);
  });

  test("hints: the stored VTEP MACs and node-public-ip are read back", async () => {
    const name = newNode(["10.244.12.0/24"], {
      ...flannelAnnotations(12),
      [`${prefix}backend-v6-data`]: '{"VNI":1,"VtepMAC":"02:00:00:00:17:0c"}',
      [`${prefix}node-public-ip`]: "198.51.100.12",
    });
    const manager = await createKubeSubnetManager(lab.options(name, v4), createMemoryLog());
    const hints = await manager.nodeHints(signal());
    await manager.close();
    assert.equal(hints.vtepMAC, "02:00:00:00:07:0c");
    assert.equal(hints.vtepMACv6, "02:00:00:00:17:0c");
    assert.equal(formatIp(hints.publicIP!), "198.51.100.12");
  });

  test("without NODE_NAME the node is found through the pod POD_NAMESPACE/POD_NAME", async () => {
    const name = newNode(["10.244.13.0/24"]);
    lab.api.store.create({
      kind: "Pod",
      apiVersion: "v1",
      metadata: { name: "kube-flannel-ds-x1", namespace: "kube-flannel" },
      spec: { nodeName: name, containers: [{ name: "kube-flannel", image: "flannel" }] },
    } as never);
    const options = { ...lab.options(name, v4), nodeName: undefined, podName: "kube-flannel-ds-x1", podNamespace: "kube-flannel" };
    const manager = await createKubeSubnetManager(options, createMemoryLog());
    const lease = await manager.acquire(vxlan, signal());
    await manager.close();
    assert.equal(formatCidr(lease.subnet!), "10.244.13.0/24");
  });

  test("the in-cluster configuration: KUBERNETES_SERVICE_HOST/PORT, the service account token and CA", async () => {
    const name = newNode(["10.244.14.0/24"]);
    const root = join(lab.dir, "pod-root");
    const dir = await ensureDir(`${root}${serviceAccountDir}`);
    await writeFile(join(dir, "token"), lab.api.serviceAccountToken("kube-flannel", "flannel"));
    await writeFile(join(dir, "ca.crt"), await readFile(lab.api.caFile));
    const url = new URL(lab.api.url);
    const options = { ...lab.options(name, v4), kubeconfigFile: "", serviceHost: url.hostname, servicePort: url.port, serviceAccountRoot: root };
    const manager = await createKubeSubnetManager(options, createMemoryLog());
    const lease = await manager.acquire(vxlan, signal());
    await manager.close();
    assert.equal(formatCidr(lease.subnet!), "10.244.14.0/24");
  });

  test("--kube-api-url replaces the kubeconfig's server", async () => {
    const name = newNode(["10.244.15.0/24"]);
    const kubeconfig = join(lab.dir, "wrong-server.kubeconfig");
    const text = await readFile(lab.kubeconfig, "utf8");
    await writeFile(kubeconfig, text.replace(lab.api.url, "https://127.0.0.1:9"));
    const manager = await createKubeSubnetManager(lab.options(name, v4, { kubeconfigFile: kubeconfig, apiUrl: lab.api.url }), createMemoryLog());
    const lease = await manager.acquire(vxlan, signal());
    await manager.close();
    assert.equal(formatCidr(lease.subnet!), "10.244.15.0/24");
  });

  test("a server certificate that does not verify: start-up fails when the cache cannot sync, saying why", async () => {
    const options = lab.options("x", v4, { kubeconfigFile: "", apiUrl: lab.api.url });
    await assert.rejects(
      createKubeSubnetManager({ ...options, timing: { ...options.timing, cacheSyncLimitMs: 300 } }, createMemoryLog()),
      (error) => isFlannelError(error, "kube-unavailable") && /did not sync within 0.3 s: .*UNABLE_TO_VERIFY_LEAF_SIGNATURE/.test(error.message),
    );
  });

  test("no kubeconfig, no URL and no in-cluster variables: an error naming what is missing", async () => {
    const options = { ...lab.options("x", v4), kubeconfigFile: "" };
    await assert.rejects(createKubeSubnetManager(options, createMemoryLog()), (error) => isFlannelError(error, "kube-config-invalid") && error.message.includes("KUBERNETES_SERVICE_HOST"));
  });

  test("an unreadable kubeconfig names --kubeconfig-file", async () => {
    const options = lab.options("x", v4, { kubeconfigFile: join(lab.dir, "missing.yaml") });
    await assert.rejects(createKubeSubnetManager(options, createMemoryLog()), (error) => isFlannelError(error, "kube-config-invalid") && error.details.flag === "kubeconfig-file");
  });

  test("a missing net-conf.json is Flannel's 'failed to read net conf'", async () => {
    await assert.rejects(createKubeSubnetManager(lab.options("x", join(lab.dir, "nope.json")), createMemoryLog()), (error) => isFlannelError(error, "netconf-invalid") && error.message.startsWith("failed to read net conf"));
  });
});
