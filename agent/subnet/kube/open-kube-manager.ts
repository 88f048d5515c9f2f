// The kube manager from flanneld's flags and environment: what agent/subnet/open-manager.ts
// loads (with a dynamic import, so @kubernetes/client-node is loaded only in kube mode).
import type { FlanneldOptions } from "../../config/flag-table.ts";
import type { Log } from "../../ops/log.ts";
import type { DatastoreObserver } from "../datastore-observer.ts";
import { createKubeSubnetManager } from "./kube-manager.ts";
import { kubeManagerOptions } from "./kube-options.ts";
import type { SubnetManager } from "./manager-contract.ts";

export function openKubeSubnetManager(
  options: FlanneldOptions,
  env: Readonly<Record<string, string | undefined>>,
  log: Log,
  signal?: AbortSignal,
  observer?: DatastoreObserver,
): Promise<SubnetManager> {
  return createKubeSubnetManager(kubeManagerOptions(options, env), log, signal, observer);
}
