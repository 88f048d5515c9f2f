// The lab's start-up sequence, step by step with progress: underlay, etcd, network config, one
// flanneld per node, wait for every subnet.env and /readyz, then the pods. Each side effect is
// recorded in the ledger as it happens, so a failure at any point can be undone (lab.ts does).
import { existsSync, mkdirSync } from "node:fs";
import { flannelCniPlugin } from "./tools/cni.ts";
import { startAgent, type AgentDatastore, type LabAgent } from "./agent.ts";
import { networkConfig, putNetworkConfig, startLabEtcd, type LabEtcd } from "./etcd.ts";
import { flanneldBinary, networkConfigKey, underlayGateway, type LabLayout } from "./layout.ts";
import { namespaceExists } from "./namespace.ts";
import type { LabOptions } from "./options.ts";
import { addPod, type LabPod } from "./pods.ts";
import { logTail } from "./processes.ts";
import type { Progress } from "./progress.ts";
import type { Ledger } from "./state.ts";
import { createUnderlay } from "./underlay.ts";
import { startLabKubeApi, type LabKubeApi } from "./kube/apiserver.ts";
import { agentPodName, flannelNamespace, netConfPath, prepareCluster, serviceAccountDir } from "./kube/cluster.ts";

export interface LogTail {
  readonly file: string;
  readonly lines: string;
}

/** Refuses before anything is made: not root, not built, or the name is taken. */
export function checkPreconditions(layout: LabLayout): void {
  if (process.getuid?.() !== 0) throw new Error("the lab needs root: it creates network namespaces");
  for (const file of [flanneldBinary, flannelCniPlugin]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: build first (node scripts/build.ts)`);
  }
  if (existsSync(layout.stateDir)) {
    throw new Error(`a lab named ${layout.name} exists (${layout.stateDir}); remove it with: npm run lab -- down --name ${layout.name}`);
  }
  const clash = [layout.fabricNs, ...layout.nodes.map((node) => node.ns), ...layout.pods.map((pod) => pod.ns)].find(namespaceExists);
  if (clash !== undefined) throw new Error(`namespace ${clash} exists already: pick another --name`);
}

export interface Built {
  /** etcd mode. */
  readonly etcd?: LabEtcd;
  /** Kube mode (--kube). */
  readonly kube?: LabKubeApi;
  readonly agents: readonly LabAgent[];
  /** Per node, in node order. */
  readonly pods: readonly (readonly LabPod[])[];
}

export async function buildLab(layout: LabLayout, options: LabOptions, ledger: Ledger, progress: Progress, signal: AbortSignal): Promise<Built> {
  const n = options.nodes;
  await progress.step(`underlay: ${layout.fabricNs} (br0 ${underlayGateway}/24) + ${n} node namespaces`, () => createUnderlay(layout, ledger, signal));
  const netConf = networkConfig(options.network, options.backend);
  let etcd: LabEtcd | undefined;
  let kube: LabKubeApi | undefined;
  let datastore: AgentDatastore;
  for (const node of layout.nodes) mkdirSync(node.dir, { recursive: true });
  if (options.kube) {
    const api = await progress.step(`API server in ${layout.fabricNs} at https://${layout.kubeApiHost}:${layout.kubeApiPort}`, () => startLabKubeApi(layout, ledger, signal));
    kube = api;
    await progress.step(`kubectl create -f deploy/kubernetes/kube-flannel.yml; net-conf.json ${netConf}; ${n} Node${n === 1 ? "" : "s"} with podCIDRs`, () =>
      prepareCluster(api, layout, netConf, options.network),
    );
    datastore = { kind: "kube", apiHost: layout.kubeApiHost, apiPort: layout.kubeApiPort, podNamespace: flannelNamespace, podName: agentPodName, serviceAccountDir, netConfPath };
  } else {
    const started = await progress.step(`etcd in ${layout.fabricNs} at ${layout.etcdEndpoint}`, () => startLabEtcd(layout, ledger, signal));
    etcd = started;
    await progress.step(`network config ${netConf} at ${networkConfigKey}`, () => putNetworkConfig(started, options.network, options.backend));
    datastore = { kind: "etcd", endpoint: layout.etcdEndpoint };
  }
  const agents = await progress.step(`flanneld${options.kube ? " --kube-subnet-mgr" : ""} on ${n} node${n === 1 ? "" : "s"}`, async () => {
    signal.throwIfAborted();
    return layout.nodes.map((node) => startAgent(node, { datastore, ipMasq: options.ipMasq }, ledger));
  });
  await progress.step("subnet.env written and /readyz 200 on every node", () =>
    Promise.all(agents.map((agent) => agent.waitReady({ timeoutMs: 60_000, signal }))),
  );
  const pods = await progress.step(`${layout.pods.length} pods (${options.podsPerNode} per node) through the flannel CNI plugin`, () =>
    // Nodes in parallel, pods of one node one after the other (as a kubelet mostly does).
    Promise.all(
      layout.nodes.map(async (node) => {
        const wired: LabPod[] = [];
        for (const pod of layout.pods.filter((candidate) => candidate.node === node)) wired.push(await addPod(pod, ledger, signal));
        return wired;
      }),
    ),
  );
  return { ...(etcd === undefined ? {} : { etcd }), ...(kube === undefined ? {} : { kube }), agents, pods };
}

/** The last lines of etcd's (or the API server's) and each flanneld's log (read before teardown removes them). */
export function logTails(layout: LabLayout, lines: number): LogTail[] {
  return [layout.etcdLogFile, layout.kubeApiLogFile, ...layout.nodes.map((node) => node.logFile)]
    .filter((file) => existsSync(file))
    .map((file) => ({ file, lines: logTail(file, lines) }));
}
