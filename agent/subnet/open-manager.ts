// Picks the subnet manager for the mode flanneld runs in, as backends/registry.ts picks the
// backend: --kube-subnet-mgr → the Kubernetes API, otherwise etcd. Each mode loads only its own
// client (etcd3 with gRPC and protobufjs, or @kubernetes/client-node): a per-node agent pays
// in memory for every library it imports, so the other mode's is never loaded.
import type { FlanneldOptions } from "../config/flag-table.ts";
import type { PreviousSubnetEnv } from "../config/subnet-env.ts";
import type { Log } from "../ops/log.ts";
import type { DatastoreObserver } from "./datastore-observer.ts";
import type { SubnetManager } from "./manager.ts";

export interface OpenManagerContext {
  readonly log: Log;
  /** The process environment: kube mode reads NODE_NAME, POD_NAME, POD_NAMESPACE, EVENT_QUEUE_DEPTH… */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The previous subnet.env: etcd mode's second choice of subnet. */
  readonly previous: PreviousSubnetEnv;
  /** Stops a start-up that waits (kube: up to 10 minutes for the node cache to sync). */
  readonly signal: AbortSignal;
  /** Hears of datastore errors, watch state and lease changes (metrics, readiness). */
  readonly observer?: DatastoreObserver;
}

export async function openSubnetManager(options: FlanneldOptions, context: OpenManagerContext): Promise<SubnetManager> {
  if (options.kubeSubnetMgr) {
    const { openKubeSubnetManager } = await import("./kube/open-kube-manager.ts");
    return openKubeSubnetManager(options, context.env, context.log, context.signal, context.observer);
  }
  const [{ connectEtcdStore }, { createEtcdSubnetManager }, { etcdStoreOptions }] = await Promise.all([
    import("./etcd/store.ts"),
    import("./etcd/etcd-manager.ts"),
    import("./etcd/etcd-options.ts"),
  ]);
  const store = await connectEtcdStore(etcdStoreOptions(options, context.log));
  return createEtcdSubnetManager({
    store,
    prefix: options.etcdPrefix,
    log: context.log,
    previous: context.previous,
    renewMarginMs: options.subnetLeaseRenewMargin * 60_000,
    ...(context.observer === undefined ? {} : { observer: context.observer }),
  });
}
