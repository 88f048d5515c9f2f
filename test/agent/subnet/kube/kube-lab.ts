// A lab Kubernetes API server for the kube manager's tests: the stock flannel RBAC (so a patch
// of the main node resource would be refused, as on a real cluster), a kubeconfig with the
// flannel service account's token, net-conf.json files, and Node fixtures.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startKubeApiServer, type KubeApiServer, type KubeObject } from "../../../../deploy/lab/kube-api/server.ts";
import { applyFlannelRbac } from "../../../../deploy/lab/kube/flannel-rbac.ts";
import type { KubeManagerOptions } from "../../../../agent/subnet/kube/kube-options.ts";
import { runStateDir } from "../../../support/run-context.ts";

export const prefix = "flannel.alpha.coreos.com/";

export interface KubeLab {
  readonly api: KubeApiServer;
  readonly dir: string;
  /** kubeconfig of the flannel service account (stock RBAC). */
  readonly kubeconfig: string;
  /** "METHOD URL STATUS" of every request the server answered. */
  readonly requests: string[];
  writeNetConf(json: string): Promise<string>;
  /** Options for a manager of `nodeName`, with short retry timings. */
  options(nodeName: string, netConfigPath: string, overrides?: Partial<KubeManagerOptions>): KubeManagerOptions;
  close(): Promise<void>;
}

export async function startKubeLab(): Promise<KubeLab> {
  const dir = await mkdtemp(join(runStateDir, "kube-"));
  const requests: string[] = [];
  const api = await startKubeApiServer({ stateDir: dir, log: (line) => void requests.push(line) });
  // The manifest's own RBAC (deploy/kubernetes/kube-flannel.yml): Flannel's ClusterRole.
  applyFlannelRbac(api.store);
  const kubeconfig = await api.writeKubeconfig(join(dir, "kubeconfig"), api.serviceAccountToken("kube-flannel", "flannel"));
  let confCount = 0;
  return {
    api,
    dir,
    kubeconfig,
    requests,
    async writeNetConf(json) {
      confCount += 1;
      const path = join(dir, `net-conf-${confCount}.json`);
      await writeFile(path, json);
      return path;
    },
    options(nodeName, netConfigPath, overrides = {}) {
      return {
        apiUrl: "",
        kubeconfigFile: kubeconfig,
        annotationPrefix: "flannel.alpha.coreos.com",
        netConfigPath,
        setNodeNetworkUnavailable: true,
        nodeName,
        eventQueueDepth: 5000,
        continueWhenCacheNotReady: false,
        timing: { retryIntervalMs: 100, retryLimitMs: 1500, cacheSyncLimitMs: 3000, requestTimeoutMs: 5000, backoffInitialMs: 20, backoffMaxMs: 300 },
        ...overrides,
      };
    },
    async close() {
      await api.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A Node as kube-controller-manager leaves it: podCIDR(s) assigned, kubelet's annotations. */
export function nodeFixture(name: string, podCIDRs: readonly string[], annotations: Record<string, string> = {}): KubeObject {
  return {
    kind: "Node",
    apiVersion: "v1",
    metadata: { name, annotations: { "node.alpha.kubernetes.io/ttl": "0", ...annotations } },
    spec: podCIDRs.length === 0 ? {} : { podCIDR: podCIDRs[0], podCIDRs: [...podCIDRs] },
    status: { conditions: [{ type: "Ready", status: "True", reason: "KubeletReady", message: "kubelet is posting ready status" }] },
  } as KubeObject;
}

/** The annotations a running flannel node carries (vxlan, IPv4). */
export function flannelAnnotations(index: number, publicIP = `192.168.7.${index}`): Record<string, string> {
  return {
    [`${prefix}kube-subnet-manager`]: "true",
    [`${prefix}backend-type`]: "vxlan",
    [`${prefix}backend-data`]: `{"VNI":1,"VtepMAC":"02:00:00:00:07:${index.toString(16).padStart(2, "0")}"}`,
    [`${prefix}public-ip`]: publicIP,
  };
}

export async function ensureDir(path: string): Promise<string> {
  await mkdir(path, { recursive: true });
  return path;
}
