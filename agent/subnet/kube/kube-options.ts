// From flanneld's --kube-* flags and the pod's environment to the kube manager's options
// (F:main.go newSubnetManager, F:pkg/subnet/kube/kube.go NewSubnetManager): NODE_NAME (or
// POD_NAME + POD_NAMESPACE to look it up), EVENT_QUEUE_DEPTH, CONT_WHEN_CACHE_NOT_READY, and the
// in-cluster variables client-go reads. Pure: the environment is passed in.
import "./kube-errors.ts";
import { FlannelError } from "../../../backends/errors.ts";
import type { FlanneldOptions } from "../../config/flag-table.ts";

/** How long things take; tests shorten them. Defaults are Flannel's (and client-go's). */
export interface KubeTiming {
  /** Own node lookup and annotation patch: retry interval and limit (Flannel: 3 s, 30 s). */
  readonly retryIntervalMs: number;
  readonly retryLimitMs: number;
  /** The first list must succeed within this (Flannel's cache sync: 10 min). */
  readonly cacheSyncLimitMs: number;
  /** One list/get/patch request gives up after this. */
  readonly requestTimeoutMs: number;
  /**
   * A watch stream silent this long is dropped and re-opened from the last RV (client-node's
   * default, 30 s): it finds half-open connections. A real server bookmarks about every minute.
   */
  readonly watchIdleTimeoutMs: number;
  /** Reconnect backoff of the watch: first and longest wait. */
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
}

export const defaultKubeTiming: KubeTiming = {
  retryIntervalMs: 3000,
  retryLimitMs: 30_000,
  cacheSyncLimitMs: 10 * 60_000,
  requestTimeoutMs: 30_000,
  watchIdleTimeoutMs: 30_000,
  backoffInitialMs: 200,
  backoffMaxMs: 10_000,
};

export interface KubeManagerOptions {
  readonly apiUrl: string; //          --kube-api-url
  readonly kubeconfigFile: string; //  --kubeconfig-file
  readonly annotationPrefix: string; // --kube-annotation-prefix
  readonly netConfigPath: string; //   --net-config-path
  readonly setNodeNetworkUnavailable: boolean;
  /** NODE_NAME; when absent the node is looked up from the pod POD_NAMESPACE/POD_NAME. */
  readonly nodeName?: string;
  readonly podName?: string;
  readonly podNamespace?: string;
  /** EVENT_QUEUE_DEPTH: how many watch events may wait for the consumer (default 5000). */
  readonly eventQueueDepth: number;
  /** CONT_WHEN_CACHE_NOT_READY: start even when the first node list did not succeed in time. */
  readonly continueWhenCacheNotReady: boolean;
  /** KUBERNETES_SERVICE_HOST / _PORT, for the in-cluster configuration. */
  readonly serviceHost?: string;
  readonly servicePort?: string;
  /** Prepended to /var/run/secrets/kubernetes.io/serviceaccount (tests point it elsewhere). */
  readonly serviceAccountRoot?: string;
  readonly timing?: Partial<KubeTiming>;
}

/** Go's strconv.ParseBool; anything else is false (Flannel ignores the parse error). */
function goBool(text: string | undefined): boolean {
  return text !== undefined && ["1", "t", "T", "TRUE", "true", "True"].includes(text);
}

function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text === "" ? undefined : text;
}

export function kubeManagerOptions(options: FlanneldOptions, env: Readonly<Record<string, string | undefined>>): KubeManagerOptions {
  const depthText = env.EVENT_QUEUE_DEPTH;
  let eventQueueDepth = 5000;
  if (depthText !== undefined && depthText !== "") {
    // Go's strconv.Atoi: an optional sign and decimal digits only.
    if (!/^[+-]?\d+$/.test(depthText) || Number(depthText) < 1) {
      throw new FlannelError("kube-config-invalid", `env EVENT_QUEUE_DEPTH=${depthText} format error: expected a positive integer`, {
        details: { env: "EVENT_QUEUE_DEPTH", value: depthText },
      });
    }
    eventQueueDepth = Number(depthText);
  }
  const nodeName = nonEmpty(env.NODE_NAME);
  const podName = nonEmpty(env.POD_NAME);
  const podNamespace = nonEmpty(env.POD_NAMESPACE);
  if (nodeName === undefined && (podName === undefined || podNamespace === undefined)) {
    throw new FlannelError("kube-config-invalid", "env variables POD_NAME and POD_NAMESPACE must be set", {
      details: { env: "POD_NAME,POD_NAMESPACE" },
    });
  }
  const serviceHost = nonEmpty(env.KUBERNETES_SERVICE_HOST);
  const servicePort = nonEmpty(env.KUBERNETES_SERVICE_PORT);
  return {
    apiUrl: options.kubeApiUrl,
    kubeconfigFile: options.kubeconfigFile,
    annotationPrefix: options.kubeAnnotationPrefix,
    netConfigPath: options.netConfigPath,
    setNodeNetworkUnavailable: options.setNodeNetworkUnavailable,
    ...(nodeName === undefined ? {} : { nodeName }),
    ...(podName === undefined ? {} : { podName }),
    ...(podNamespace === undefined ? {} : { podNamespace }),
    eventQueueDepth,
    continueWhenCacheNotReady: goBool(env.CONT_WHEN_CACHE_NOT_READY),
    ...(serviceHost === undefined ? {} : { serviceHost }),
    ...(servicePort === undefined ? {} : { servicePort }),
  };
}
