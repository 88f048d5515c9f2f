// Flannel's identity and rights, taken from the manifest a user applies
// (deploy/kubernetes/kube-flannel.yml): the Namespace, the ServiceAccount, the ClusterRole and its
// binding. Tests and fixtures load them into a lab API server from here, so that what the agent is
// tested under is the manifest's RBAC and nothing hand-copied. The lab's one YAML reader.
import { readFileSync } from "node:fs";
import { loadAll } from "js-yaml";
import { flannelManifest } from "./cluster.ts";

/** What this module needs of a store: the lab API server's FixtureStore fits. */
export interface RbacStore {
  create(object: never): unknown;
  get(kind: string, name: string, namespace?: string): unknown;
}

const rbacKinds = new Set(["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"]);

/** The manifest's Namespace, ServiceAccount, ClusterRole and ClusterRoleBinding, in that order. */
export function flannelRbacObjects(manifest = flannelManifest): Array<{ kind: string; metadata: { name: string; namespace?: string } }> {
  const documents = loadAll(readFileSync(manifest, "utf8")) as Array<{ kind?: string; metadata?: { name: string; namespace?: string } } | null>;
  return documents.filter((document) => document !== null && rbacKinds.has(document.kind ?? "")) as Array<{ kind: string; metadata: { name: string; namespace?: string } }>;
}

/** Creates what is not there yet of the manifest's RBAC objects. */
export function applyFlannelRbac(store: RbacStore): void {
  for (const object of flannelRbacObjects()) {
    if (store.get(object.kind, object.metadata.name, object.metadata.namespace) !== undefined) continue;
    store.create(object as never);
  }
}
