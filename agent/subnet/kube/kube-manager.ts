// The Kubernetes subnet manager (F:pkg/subnet/kube/kube.go): subnets are the nodes' podCIDRs,
// leases are node annotations, and peers are learnt by listing and watching all nodes. Start-up
// follows Flannel's NewSubnetManager: annotation names, net-conf.json from --net-config-path
// (parsed, never checked: Flannel's kube manager does not call CheckNetworkConfig), the client,
// the node's name, and a first node list that must succeed within 10 minutes (the informer's
// cache sync) unless CONT_WHEN_CACHE_NOT_READY is true.
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import "./kube-errors.ts";
import { FlannelError, isFlannelError } from "../../../backends/errors.ts";
import { parseNetConf, type NetConf } from "../../config/net-conf.ts";
import type { Log } from "../../ops/log.ts";
import { kubeAnnotations, nodeHintsFrom, type KubeAnnotations } from "./annotations.ts";
import { acquireKubeLease, markNodeNetworkReady, persistently, readOwnNode, type OwnNodeContext } from "./kube-acquire.ts";
import type { DatastoreObserver } from "../datastore-observer.ts";
import { createKubeClient, type KubeClient } from "./kube-client.ts";
import { kubeConfigFor } from "./kube-config.ts";
import { defaultKubeTiming, type KubeManagerOptions, type KubeTiming } from "./kube-options.ts";
import { listNodeFacts, watchNodeLeases, type ListedNodes } from "./kube-watch.ts";
import { observeKubeClient } from "./observed-client.ts";
import type { Lease, LeaseAttrs, LeaseEvent, NodeHints, SubnetManager } from "./manager-contract.ts";

async function readNetConf(path: string): Promise<NetConf> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new FlannelError("netconf-invalid", `failed to read net conf: ${path}: ${(error as Error).message}`, {
      cause: error,
      details: { flag: "net-config-path", file: path },
    });
  }
  try {
    return parseNetConf(text);
  } catch (error) {
    if (!isFlannelError(error)) throw error;
    throw new FlannelError(error.code, `error parsing subnet config ${path}: ${error.message}`, { cause: error, details: { ...error.details, file: path } });
  }
}

/** NODE_NAME, else spec.nodeName of the pod POD_NAMESPACE/POD_NAME (Flannel's stock DaemonSet sets only those). */
async function resolveNodeName(client: KubeClient, options: KubeManagerOptions, log: Log, timing: KubeTiming, signal: AbortSignal): Promise<string> {
  if (options.nodeName !== undefined) return options.nodeName;
  const namespace = options.podNamespace ?? "";
  const pod = options.podName ?? "";
  const nodeName = await persistently({ log, timing, nodeName: `${namespace}/${pod}` }, `get pod ${namespace}/${pod}`, () => client.podNodeName(namespace, pod, signal), signal);
  if (nodeName === "") {
    throw new FlannelError("kube-node-invalid", `node name not present in pod spec '${namespace}/${pod}'`, { details: { pod: `${namespace}/${pod}` } });
  }
  return nodeName;
}

/** Flannel's WaitForCacheSync: the first list, polled every second for up to 10 minutes. */
async function syncNodeCache(client: KubeClient, names: KubeAnnotations, options: KubeManagerOptions, log: Log, timing: KubeTiming, signal: AbortSignal): Promise<ListedNodes | undefined> {
  const deadline = Date.now() + timing.cacheSyncLimitMs;
  let lastProblem: string | undefined;
  for (;;) {
    signal.throwIfAborted();
    try {
      return await listNodeFacts(client, names, signal);
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (!isFlannelError(error)) throw error;
      if (Date.now() >= deadline) {
        if (options.continueWhenCacheNotReady) {
          log.warn("the node cache did not sync in time; continuing because CONT_WHEN_CACHE_NOT_READY is true", { error: error.message });
          return undefined;
        }
        throw new FlannelError(error.code, `the node cache did not sync within ${timing.cacheSyncLimitMs / 1000} s: ${error.message}`, { cause: error, details: error.details });
      }
      if (error.message !== lastProblem) log.warn("listing nodes failed; retrying until the node cache syncs", { error: error.message });
      lastProblem = error.message;
      await sleep(Math.min(1000, timing.cacheSyncLimitMs), undefined, { signal });
    }
  }
}

export async function createKubeSubnetManager(
  options: KubeManagerOptions,
  parentLog: Log,
  signal: AbortSignal = new AbortController().signal,
  observer?: DatastoreObserver,
): Promise<SubnetManager> {
  const log = parentLog.child({ component: "subnet", store: "kube" });
  const timing: KubeTiming = { ...defaultKubeTiming, ...options.timing };
  const names = kubeAnnotations(options.annotationPrefix);
  const conf = await readNetConf(options.netConfigPath);
  const plainClient = createKubeClient(kubeConfigFor(options, log), timing.requestTimeoutMs, timing.watchIdleTimeoutMs);
  const client = observer === undefined ? plainClient : observeKubeClient(plainClient, observer);
  const lifetime = new AbortController();
  const nodeName = await resolveNodeName(client, options, log, timing, signal);
  log.info("kube subnet manager starting", { node: nodeName, server: client.server, annotationPrefix: names.prefix });
  let initialList = await syncNodeCache(client, names, options, log, timing, signal);
  const own: OwnNodeContext = { client, names, nodeName, log, timing };
  let closed = false;
  const live = (callerSignal: AbortSignal) => AbortSignal.any([callerSignal, lifetime.signal]);

  return {
    async networkConfig(): Promise<NetConf> {
      return conf;
    },

    async nodeHints(callerSignal: AbortSignal): Promise<NodeHints> {
      // Flannel reads the node once and, if that fails, only logs: a hint is never worth failing for.
      try {
        const node = await readOwnNode(own, live(callerSignal));
        return nodeHintsFrom(names, node.annotations);
      } catch (error) {
        if (callerSignal.aborted || !isFlannelError(error, "kube-request-failed")) throw error;
        log.error("failed to read the node's stored public IP and VTEP MAC", { node: nodeName, error: error.message });
        return {};
      }
    },

    acquire(attrs: LeaseAttrs, callerSignal: AbortSignal): Promise<Lease> {
      return acquireKubeLease(own, conf, attrs, live(callerSignal));
    },

    watchLeases(callerSignal: AbortSignal): AsyncIterable<readonly LeaseEvent[]> {
      return watchNodeLeases(
        {
          client,
          names,
          families: { ipv4: conf.ipv4.enabled, ipv6: conf.ipv6.enabled },
          log,
          queueDepth: options.eventQueueDepth,
          timing,
          observer,
          takeInitialList: () => {
            const taken = initialList;
            initialList = undefined;
            return taken;
          },
        },
        live(callerSignal),
      );
    },

    async markNetworkReady(callerSignal: AbortSignal): Promise<void> {
      if (!options.setNodeNetworkUnavailable) {
        log.info("skip setting NodeNetworkUnavailable", { node: nodeName });
        return;
      }
      await markNodeNetworkReady(own, live(callerSignal));
    },

    // Nothing can take a podCIDR lease away while the node exists (Flannel: WatchLease is unimplemented).
    lost: new Promise<"revoked">(() => {}),

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      initialList = undefined;
      lifetime.abort(new FlannelError("kube-unavailable", "the kube subnet manager was closed"));
    },
  };
}
