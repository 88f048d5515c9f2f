// Where everything of one lab lives: namespace names, underlay addresses, ports and the files in
// its state directory. Pure, so the running lab, `down` and the tests agree on every name.
//
// Every namespace carries the lab's name as prefix (`<name>-fabric`, `<name>-node1`,
// `<name>-node1-pod1`), which is what lets two labs run side by side: each has its own fabric
// namespace, so both may use 198.18.0.0/24 and the same pod network without ever meeting.
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** Underlay: a /24 of the RFC 2544 benchmark range (198.18.0.0/15), only ever inside the lab's namespaces. */
export const underlayNet24 = "198.18.0";
export const underlayGateway = `${underlayNet24}.254`;
export const etcdClientPort = 2379;
export const etcdPeerPort = 2380;
/** The lab API server (kube mode) listens on the fabric's address, as a cluster's API server on its service IP. */
export const kubeApiPort = 6443;
/** flanneld's --healthz-port; every node is its own namespace, so one port serves all. */
export const healthzPort = 9180;
/** The node's uplink inside its namespace, and flanneld's --iface. */
export const nodeUplink = "eth0";
/** The network configuration key of Flannel's default --etcd-prefix. */
export const networkConfigKey = "/coreos.com/network/config";

/** All labs keep their state under here, one directory per lab name. */
export const defaultStateRoot = join(tmpdir(), "flannel-ts-lab");

const projectRoot = resolve(import.meta.dirname, "../..");
/** The built agent, by absolute path (the launcher runs it on the pinned Node from any directory). */
export const flanneldBinary = join(projectRoot, "dist/bin/flanneld");

export interface NodeLayout {
  /** 1-based. */
  readonly index: number;
  /** node1, node2, … */
  readonly name: string;
  readonly ns: string;
  readonly publicIP: string;
  /** Per-node directory: subnet.env, flanneld.log, the CNI plugin's dataDir, host-local's dataDir. */
  readonly dir: string;
  readonly subnetFile: string;
  readonly logFile: string;
  readonly cniDataDir: string;
  readonly ipamDataDir: string;
}

export interface PodLayout {
  /** node1-pod1, … */
  readonly name: string;
  readonly ns: string;
  readonly containerId: string;
  readonly node: NodeLayout;
}

export interface LabLayout {
  readonly name: string;
  readonly stateDir: string;
  readonly recordFile: string;
  readonly fabricNs: string;
  readonly etcdEndpoint: string;
  readonly etcdPeerUrl: string;
  readonly etcdDataDir: string;
  readonly etcdLogFile: string;
  /** Kube mode: the API server's address, state (CA, tokens, control socket) and log. */
  readonly kubeApiHost: string;
  readonly kubeApiPort: number;
  readonly kubeApiDir: string;
  readonly kubeApiLogFile: string;
  readonly nodes: readonly NodeLayout[];
  readonly pods: readonly PodLayout[];
}

export function labStateDir(name: string, stateRoot = defaultStateRoot): string {
  return join(stateRoot, name);
}

export function labLayout(name: string, nodeCount: number, podsPerNode: number, stateRoot = defaultStateRoot): LabLayout {
  const stateDir = labStateDir(name, stateRoot);
  const nodes: NodeLayout[] = [];
  for (let index = 1; index <= nodeCount; index++) {
    const dir = join(stateDir, `node${index}`);
    nodes.push({
      index,
      name: `node${index}`,
      ns: `${name}-node${index}`,
      publicIP: `${underlayNet24}.${index}`,
      dir,
      subnetFile: join(dir, "subnet.env"),
      logFile: join(dir, "flanneld.log"),
      cniDataDir: join(dir, "cni"),
      ipamDataDir: join(dir, "ipam"),
    });
  }
  const pods = nodes.flatMap((node) =>
    Array.from({ length: podsPerNode }, (_, i) => {
      const podName = `${node.name}-pod${i + 1}`;
      return { name: podName, ns: `${name}-${podName}`, containerId: `${name}-${podName}`, node };
    }),
  );
  return {
    name,
    stateDir,
    recordFile: join(stateDir, "lab.json"),
    fabricNs: `${name}-fabric`,
    etcdEndpoint: `http://${underlayGateway}:${etcdClientPort}`,
    etcdPeerUrl: `http://${underlayGateway}:${etcdPeerPort}`,
    etcdDataDir: join(stateDir, "etcd"),
    etcdLogFile: join(stateDir, "etcd.log"),
    kubeApiHost: underlayGateway,
    kubeApiPort,
    kubeApiDir: join(stateDir, "kube-api"),
    kubeApiLogFile: join(stateDir, "kube-apiserver.log"),
    nodes,
    pods,
  };
}
