// Pods, wired exactly as a container runtime wires them: a fresh network namespace, then — inside
// the NODE namespace, never the root one, since a CNI plugin wires the namespace it runs in — the
// real `loopback` plugin for lo and our `flannel` plugin (which hands over to bridge + host-local)
// for eth0, with the runtime's environment (CNI_PATH=/usr/lib/cni, CNI_NETNS, CNI_IFNAME) and the
// network config on stdin. DEL goes through the same plugin with the same config.
import { callCni, flannelCniPlugin, referenceCniDir, type CniReply } from "./tools/cni.ts";
import type { NodeLayout, PodLayout } from "./layout.ts";
import { addNamespace, deleteNamespaceIfPresent, namespaceExists } from "./namespace.ts";
import type { Ledger, PodRecord } from "./state.ts";

export interface LabPod {
  /** node1-pod1, … */
  readonly name: string;
  readonly ns: string;
  readonly node: string;
  readonly containerId: string;
  /** The pod's eth0 address, as the plugin's result gave it. */
  readonly ip: string;
}

export const cniVersion = "1.0.0";
export const networkName = "cbr0";
/** The pod side of the veth (CNI_IFNAME). */
export const podInterface = "eth0";

/**
 * The flannel plugin's config for one node, as in Flannel's kube-flannel.yml (`cbr0`, the
 * delegate's hairpinMode/isDefaultGateway), with subnetFile and dataDir pointing into the lab's
 * state — and host-local's dataDir too, so no lab writes under /var/lib/cni and two labs with
 * the same pod network never share IP reservations.
 */
export function flannelCniConfig(node: NodeLayout): Record<string, unknown> {
  return {
    cniVersion,
    name: networkName,
    type: "flannel",
    subnetFile: node.subnetFile,
    dataDir: node.cniDataDir,
    ipam: { dataDir: node.ipamDataDir },
    delegate: { hairpinMode: true, isDefaultGateway: true },
  };
}

const loopbackConfig = { cniVersion, name: "lo", type: "loopback" };

function failure(what: string, reply: CniReply): Error {
  return new Error(`${what} failed (exit ${reply.code}): ${reply.stdout.trim()} ${reply.stderr.trim()}`.trim());
}

function firstAddress(result: unknown): string {
  const ips = (result as { ips?: Array<{ address?: unknown }> }).ips ?? [];
  const address = ips[0]?.address;
  if (typeof address !== "string") throw new Error(`the CNI result holds no address: ${JSON.stringify(result)}`);
  return address.split("/")[0]!;
}

/** Creates the pod's namespace and runs ADD for lo and eth0 inside its node's namespace. */
export async function addPod(pod: PodLayout, ledger: Ledger, signal: AbortSignal): Promise<LabPod> {
  signal.throwIfAborted();
  const record: PodRecord = { nodeNs: pod.node.ns, podNs: pod.ns, containerId: pod.containerId, cniConfig: flannelCniConfig(pod.node) };
  ledger.namespace(pod.ns);
  await addNamespace(pod.ns);
  // Recorded before ADD: a half-done ADD is still undone by DEL.
  ledger.pod(record);
  const common = { node: pod.node.ns, pod: pod.ns, containerId: pod.containerId, cniPath: referenceCniDir };
  const lo = await callCni({ ...common, plugin: `${referenceCniDir}/loopback`, command: "ADD", ifname: "lo", config: loopbackConfig });
  if (lo.code !== 0) throw failure(`loopback ADD for ${pod.name}`, lo);
  const eth0 = await callCni({ ...common, plugin: flannelCniPlugin, command: "ADD", ifname: podInterface, config: record.cniConfig });
  if (eth0.code !== 0) throw failure(`flannel ADD for ${pod.name}`, eth0);
  return { name: pod.name, ns: pod.ns, node: pod.node.name, containerId: pod.containerId, ip: firstAddress(eth0.json()) };
}

/** DEL for eth0 and lo (only while the node namespace exists), then the pod namespace goes. */
export async function removePod(pod: PodRecord): Promise<void> {
  if (namespaceExists(pod.nodeNs)) {
    const common = { node: pod.nodeNs, pod: pod.podNs, containerId: pod.containerId, cniPath: referenceCniDir };
    const eth0 = await callCni({ ...common, plugin: flannelCniPlugin, command: "DEL", ifname: podInterface, config: pod.cniConfig });
    if (eth0.code !== 0) throw failure(`flannel DEL for ${pod.containerId}`, eth0);
    const lo = await callCni({ ...common, plugin: `${referenceCniDir}/loopback`, command: "DEL", ifname: "lo", config: loopbackConfig });
    if (lo.code !== 0) throw failure(`loopback DEL for ${pod.containerId}`, lo);
  }
  await deleteNamespaceIfPresent(pod.podNs);
}
