// The Kubernetes API as flannel uses it — get/list/watch nodes, patch nodes/NAME/status, get one
// pod — over @kubernetes/client-node. This file and kube-config.ts are the only ones that import
// it; the rest of the manager sees plain objects and FlannelErrors.
//
// Why not client-node's informer (makeInformer/ListWatch): it stops for good on a TCP reset, it
// ignores ERROR events other than 410, it reports a non-200 watch without its status body,
// bookmarks need a query-string trick, and it caches whole Node objects (our agent keeps a few
// annotations per node). Its single-stream `Watch` and the typed list/get/patch calls are kept:
// auth (tokens, client certificates, token-file rotation) and TLS come from KubeConfig, and the
// list/watch/resume/re-list logic — the part that must be right — is ours (kube-watch.ts).
import { ApiException, CoreV1Api, Observable, PatchStrategy, Watch, type KubeConfig, type RequestContext, type ResponseContext } from "@kubernetes/client-node";
import "./kube-errors.ts";
import { FlannelError } from "../../../backends/errors.ts";
import type { NodeObject } from "./node-lease.ts";

export interface NodeList {
  readonly resourceVersion: string;
  readonly items: readonly NodeObject[];
}

/** One line of a watch stream. `object` is raw JSON (a Node, or a Status for ERROR). */
export interface RawWatchEvent {
  readonly type: string;
  readonly object: unknown;
}

export interface KubeClient {
  /** The API server URL, for logs. */
  readonly server: string;
  getNode(name: string, signal: AbortSignal): Promise<NodeObject>;
  listNodes(signal: AbortSignal): Promise<NodeList>;
  /** PATCH /api/v1/nodes/NAME/status, application/strategic-merge-patch+json. */
  patchNodeStatus(name: string, body: object, signal: AbortSignal): Promise<void>;
  /** spec.nodeName of a pod ("" when unscheduled). */
  podNodeName(namespace: string, name: string, signal: AbortSignal): Promise<string>;
  /**
   * Watches nodes from `resourceVersion` (bookmarks on) and calls `onEvent` for each line; resolves
   * when the server ends the stream (or `signal` aborts), rejects with a classified FlannelError.
   * `onOpen` is called once the server accepted the watch (its 200 arrived).
   */
  watchNodes(resourceVersion: string, onEvent: (event: RawWatchEvent) => void, signal: AbortSignal, onOpen?: () => void): Promise<void>;
}

/** The HTTP status behind a FlannelError from this client (undefined: no answer at all). */
export function httpStatusOf(error: unknown): number | undefined {
  return error instanceof FlannelError && typeof error.details.status === "number" ? error.details.status : undefined;
}

function statusBody(body: unknown): { reason?: string; message?: string } {
  try {
    const parsed = (typeof body === "string" ? JSON.parse(body) : body) as { reason?: unknown; message?: unknown } | null;
    return {
      ...(typeof parsed?.reason === "string" ? { reason: parsed.reason } : {}),
      ...(typeof parsed?.message === "string" ? { message: parsed.message } : {}),
    };
  } catch {
    return {};
  }
}

/**
 * Any failure of a call as a FlannelError: no answer, 5xx and 429 are kube-unavailable (worth
 * waiting for), other statuses kube-request-failed, with the server's Status reason and message.
 */
export function kubeError(error: unknown, what: string, server: string): FlannelError {
  if (error instanceof FlannelError) return error;
  const status = error instanceof ApiException ? (error.code as number) : (error as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === "number") {
    const body = error instanceof ApiException ? statusBody(error.body) : {};
    const unavailable = status >= 500 || status === 429;
    const text = body.message ?? (error instanceof ApiException ? `HTTP ${status}` : (error as Error).message);
    return new FlannelError(unavailable ? "kube-unavailable" : "kube-request-failed", `${what}: ${text} (HTTP ${status}${body.reason === undefined ? "" : ` ${body.reason}`})`, {
      cause: error,
      details: { server, status, ...(body.reason === undefined ? {} : { reason: body.reason }) },
    });
  }
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  const reason = typeof cause?.code === "string" ? cause.code : typeof cause?.message === "string" ? cause.message : String((error as Error)?.message ?? error);
  return new FlannelError("kube-unavailable", `${what}: cannot reach the Kubernetes API server at ${server}: ${reason}`, { cause: error, details: { server } });
}

export function createKubeClient(config: KubeConfig, requestTimeoutMs: number, watchIdleTimeoutMs: number): KubeClient {
  const server = config.getCurrentCluster()?.server ?? "";
  const api = config.makeApiClient(CoreV1Api);
  const watcher = new Watch(config);
  // Public at run time, private in its typings: the inactivity limit of one watch stream.
  (watcher as unknown as { requestTimeoutMs: number }).requestTimeoutMs = watchIdleTimeoutMs;

  /**
   * Per-call options: the caller's signal plus a timeout, and extra headers (the patch type: without
   * it client-node sends application/json-patch+json whatever the body). The object-style API runs
   * middleware in its Observable form.
   */
  const callOptions = (signal: AbortSignal, headers: Readonly<Record<string, string>> = {}) => {
    const combined = AbortSignal.any([signal, AbortSignal.timeout(requestTimeoutMs)]);
    return {
      middleware: [
        {
          pre: (context: RequestContext) => {
            context.setSignal(combined);
            for (const [key, value] of Object.entries(headers)) context.setHeaderParam(key, value);
            return new Observable(Promise.resolve(context));
          },
          post: (response: ResponseContext) => new Observable(Promise.resolve(response)),
        },
      ],
      middlewareMergeStrategy: "append" as const,
    };
  };

  const call = async <T>(what: string, signal: AbortSignal, run: () => Promise<T>): Promise<T> => {
    signal.throwIfAborted();
    try {
      return await run();
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw kubeError(error, what, server);
    }
  };

  return {
    server,

    getNode(name, signal) {
      return call(`reading node ${name}`, signal, () => api.readNode({ name }, callOptions(signal)));
    },

    async listNodes(signal) {
      const list = await call("listing nodes", signal, () => api.listNode({}, callOptions(signal)));
      return { resourceVersion: list.metadata?.resourceVersion ?? "", items: list.items };
    },

    async patchNodeStatus(name, body, signal) {
      const options = callOptions(signal, { "Content-Type": PatchStrategy.StrategicMergePatch });
      await call(`patching node ${name} status`, signal, () => api.patchNodeStatus({ name, body }, options));
    },

    async podNodeName(namespace, name, signal) {
      const pod = await call(`reading pod ${namespace}/${name}`, signal, () => api.readNamespacedPod({ namespace, name }, callOptions(signal)));
      return pod.spec?.nodeName ?? "";
    },

    watchNodes(resourceVersion, onEvent, signal, onOpen) {
      if (signal.aborted) return Promise.resolve(); // nothing to watch any more: a normal end
      return new Promise<void>((resolve, reject) => {
        let controller: AbortController | undefined;
        const abort = () => controller?.abort();
        signal.addEventListener("abort", abort, { once: true });
        const finish = (error: unknown) => {
          signal.removeEventListener("abort", abort);
          // A stream we aborted ourselves, or one client-node dropped after 30 s of silence
          // (it then expects a re-watch from the last RV), is a normal end.
          const timedOut = (error as { name?: unknown } | null)?.name === "TimeoutError";
          if (error === null || error === undefined || signal.aborted || timedOut) resolve();
          else reject(kubeError(error, "watching nodes", server));
        };
        watcher
          .watch(
            "/api/v1/nodes",
            { resourceVersion, allowWatchBookmarks: true },
            (type: string, object: unknown) => onEvent({ type, object }),
            finish,
          )
          .then((started) => {
            controller = started;
            if (signal.aborted) started.abort();
            else onOpen?.();
          }, finish);
      });
    },
  };
}
