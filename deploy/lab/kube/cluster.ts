// What a Kubernetes cluster would hold before flanneld starts, made in the lab's API server:
// the flannel manifests applied the way a user applies them (`kubectl create -f
// deploy/kubernetes/kube-flannel.yml`, through the real kubectl), the ConfigMap's net-conf.json
// set to the lab's network, one Node per lab node with a podCIDR (kube-controller-manager's
// --allocate-node-cidrs job: /24s in order from the cluster CIDR), and one flannel pod per node
// (the DaemonSet controller's job) whose spec.nodeName tells the agent which node it runs on.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { blockSize, cidrIp, formatCidr, makeCidr, offsetIp, parseCidr } from "../../../backends/net/ip.ts";
import type { LabLayout, NodeLayout } from "../layout.ts";
import type { LabKubeApi } from "./apiserver.ts";

export const flannelManifest = resolve(import.meta.dirname, "../../kubernetes/kube-flannel.yml");
export const flannelNamespace = "kube-flannel";
export const flannelServiceAccount = "flannel";
export const flannelConfigMap = "kube-flannel-cfg";

export function agentPodName(node: NodeLayout): string {
  return `kube-flannel-ds-${node.name}`;
}

/** The ServiceAccount volume's files for one node's agent. */
export function serviceAccountDir(node: NodeLayout): string {
  return join(node.dir, "serviceaccount");
}

/** net-conf.json as the ConfigMap volume would show it at /etc/kube-flannel/net-conf.json. */
export function netConfPath(node: NodeLayout): string {
  return join(node.dir, "net-conf.json");
}

/** The i-th /24 of the cluster network (0-based), as the node IPAM controller hands them out. */
export function podCidrOf(network: string, index: number): string {
  const cidr = parseCidr(network);
  if (cidr === undefined || cidr.family !== 4 || cidr.prefix > 24) throw new Error(`cannot cut /24 pod CIDRs out of ${network}`);
  const count = Number(blockSize(4, cidr.prefix) / blockSize(4, 24));
  if (index >= count) throw new Error(`${network} has only ${count} /24 pod CIDRs; node ${index + 1} gets none`);
  return formatCidr(makeCidr(offsetIp(cidrIp(cidr), BigInt(index) * blockSize(4, 24)), 24));
}

function nodeObject(node: NodeLayout, podCIDR: string): object {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: node.name,
      labels: { "kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64" },
      // What a kubelet-registered node carries: flannel must leave foreign annotations alone.
      annotations: { "node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true" },
    },
    spec: { podCIDR, podCIDRs: [podCIDR] },
    status: {
      addresses: [
        { type: "InternalIP", address: node.publicIP },
        { type: "Hostname", address: node.name },
      ],
      conditions: [{ type: "Ready", status: "True", reason: "KubeletReady", message: "kubelet is posting ready status" }],
      nodeInfo: { kubeletVersion: "v1.35.0", osImage: "flannel-ts lab", kernelVersion: "", containerRuntimeVersion: "containerd://lab", operatingSystem: "linux", architecture: "amd64" },
    },
  };
}

function agentPod(node: NodeLayout): object {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: agentPodName(node), namespace: flannelNamespace, labels: { app: "flannel", tier: "node" } },
    spec: { nodeName: node.name, serviceAccountName: flannelServiceAccount, hostNetwork: true, containers: [{ name: "kube-flannel", image: "flannel-ts" }] },
  };
}

/** Applies the manifests and makes Nodes and agent pods; writes each agent's mounted files. */
export async function prepareCluster(api: LabKubeApi, layout: LabLayout, netConf: string, network: string): Promise<void> {
  // --validate=false: the lab's server publishes no OpenAPI document for kubectl to validate
  // against (a real one does); the manifests' schemas are checked offline in the tests instead.
  await api.kubectl(["create", "--validate=false", "-f", flannelManifest]);
  await api.call("store.patch", "ConfigMap", flannelConfigMap, { data: { "net-conf.json": netConf } }, { type: "merge", namespace: flannelNamespace });
  const configMap = await api.call<{ data: Record<string, string> }>("store.get", "ConfigMap", flannelConfigMap, flannelNamespace);
  const token = await api.call<string>("serviceAccountToken", flannelNamespace, flannelServiceAccount);
  const ca = readFileSync(api.caFile, "utf8");
  for (const node of layout.nodes) {
    await api.call("store.create", nodeObject(node, podCidrOf(network, node.index - 1)));
    await api.call("store.create", agentPod(node));
    const dir = serviceAccountDir(node);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, "token"), token, { mode: 0o600 });
    writeFileSync(join(dir, "ca.crt"), ca);
    writeFileSync(join(dir, "namespace"), flannelNamespace);
    writeFileSync(netConfPath(node), configMap.data["net-conf.json"] ?? netConf);
  }
}
