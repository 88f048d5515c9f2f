// A KubeClient that reports every failed request to a DatastoreObserver (datastore errors by
// kind, for /metrics) and otherwise behaves exactly as the client it wraps: the kube manager's
// one door to the API server, as observed-store.ts is the etcd manager's.
import { errorCode, type DatastoreObserver } from "../datastore-observer.ts";
import type { KubeClient } from "./kube-client.ts";

export function observeKubeClient(client: KubeClient, observer: DatastoreObserver): KubeClient {
  const counted = <T>(operation: string, call: Promise<T>, signal: AbortSignal): Promise<T> =>
    call.catch((error: unknown) => {
      if (!signal.aborted) observer.requestFailed(operation, errorCode(error));
      throw error;
    });
  return {
    server: client.server,
    getNode: (name, signal) => counted("get-node", client.getNode(name, signal), signal),
    listNodes: (signal) => counted("list-nodes", client.listNodes(signal), signal),
    patchNodeStatus: (name, body, signal) => counted("patch-node-status", client.patchNodeStatus(name, body, signal), signal),
    podNodeName: (namespace, name, signal) => counted("get-pod", client.podNodeName(namespace, name, signal), signal),
    watchNodes: (resourceVersion, onEvent, signal, onOpen) => counted("watch-nodes", client.watchNodes(resourceVersion, onEvent, signal, onOpen), signal),
  };
}
