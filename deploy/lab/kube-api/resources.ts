// The kinds the lab API server serves, with what discovery, RBAC, the field selectors and the
// status-subresource rules need to know about each. One table: adding a kind is one entry here.
import type { KubeObject } from "./object.ts";

export interface ResourceType {
  readonly group: string;
  readonly version: string;
  readonly resource: string;
  readonly singular: string;
  readonly kind: string;
  readonly namespaced: boolean;
  readonly shortNames?: readonly string[];
  readonly categories?: readonly string[];
  /** A `status` subresource: main-resource writes keep the stored status, /status writes keep the spec. */
  readonly hasStatus: boolean;
  readonly storageVersionHash?: string;
  /** Field selector labels beyond metadata.name/metadata.namespace (the real registries' *ToSelectableFields). */
  readonly fieldLabels: Readonly<Record<string, (object: KubeObject) => string>>;
}

type FieldPath = readonly string[];
function field(path: FieldPath, fallback = ""): (object: KubeObject) => string {
  return (object) => {
    let value: unknown = object;
    for (const step of path) value = value !== null && typeof value === "object" ? (value as Record<string, unknown>)[step] : undefined;
    return value === undefined || value === null ? fallback : String(value);
  };
}

export const resourceTypes: readonly ResourceType[] = [
  {
    group: "", version: "v1", resource: "nodes", singular: "node", kind: "Node", namespaced: false, shortNames: ["no"], hasStatus: true,
    storageVersionHash: "XwShjMxG9Fs=",
    fieldLabels: { "spec.unschedulable": field(["spec", "unschedulable"], "false") },
  },
  {
    group: "", version: "v1", resource: "pods", singular: "pod", kind: "Pod", namespaced: true, shortNames: ["po"], categories: ["all"], hasStatus: true,
    storageVersionHash: "xPOwRZ+Yhw8=",
    fieldLabels: {
      "spec.nodeName": field(["spec", "nodeName"]),
      "spec.restartPolicy": field(["spec", "restartPolicy"]),
      "spec.schedulerName": field(["spec", "schedulerName"]),
      "spec.serviceAccountName": field(["spec", "serviceAccountName"]),
      "spec.hostNetwork": field(["spec", "hostNetwork"], "false"),
      "status.phase": field(["status", "phase"]),
      "status.podIP": field(["status", "podIP"]),
      "status.nominatedNodeName": field(["status", "nominatedNodeName"]),
    },
  },
  {
    group: "", version: "v1", resource: "namespaces", singular: "namespace", kind: "Namespace", namespaced: false, shortNames: ["ns"], hasStatus: true,
    storageVersionHash: "Q3oi5N2YM8M=",
    fieldLabels: { "status.phase": field(["status", "phase"]) },
  },
  {
    group: "", version: "v1", resource: "serviceaccounts", singular: "serviceaccount", kind: "ServiceAccount", namespaced: true, shortNames: ["sa"], hasStatus: false,
    storageVersionHash: "pbx9ZvyFpBE=", fieldLabels: {},
  },
  {
    group: "", version: "v1", resource: "configmaps", singular: "configmap", kind: "ConfigMap", namespaced: true, shortNames: ["cm"], hasStatus: false,
    storageVersionHash: "qFsyl6wFWjQ=", fieldLabels: {},
  },
  {
    group: "apps", version: "v1", resource: "daemonsets", singular: "daemonset", kind: "DaemonSet", namespaced: true, shortNames: ["ds"], categories: ["all"], hasStatus: true,
    storageVersionHash: "dd7pWHUlMKQ=", fieldLabels: {},
  },
  {
    group: "rbac.authorization.k8s.io", version: "v1", resource: "clusterroles", singular: "clusterrole", kind: "ClusterRole", namespaced: false, hasStatus: false,
    storageVersionHash: "bYE5ZWDrJ44=", fieldLabels: {},
  },
  {
    group: "rbac.authorization.k8s.io", version: "v1", resource: "clusterrolebindings", singular: "clusterrolebinding", kind: "ClusterRoleBinding", namespaced: false, hasStatus: false,
    storageVersionHash: "48tpQ8gZHFc=", fieldLabels: {},
  },
  {
    group: "rbac.authorization.k8s.io", version: "v1", resource: "roles", singular: "role", kind: "Role", namespaced: true, hasStatus: false,
    storageVersionHash: "7FuwZcIIItM=", fieldLabels: {},
  },
  {
    group: "rbac.authorization.k8s.io", version: "v1", resource: "rolebindings", singular: "rolebinding", kind: "RoleBinding", namespaced: true, hasStatus: false,
    storageVersionHash: "eGsCzGH6b1g=", fieldLabels: {},
  },
];

export function apiVersionOf(type: { group: string; version: string }): string {
  return type.group === "" ? type.version : `${type.group}/${type.version}`;
}

export function typeByKind(kind: string): ResourceType | undefined {
  return resourceTypes.find((type) => type.kind === kind);
}

export function typeByResource(group: string, version: string, resource: string): ResourceType | undefined {
  return resourceTypes.find((type) => type.group === group && type.version === version && type.resource === resource);
}

/** The API groups other than the core one, in the order discovery lists them. */
export function apiGroups(): { name: string; version: string }[] {
  const groups: { name: string; version: string }[] = [];
  for (const type of resourceTypes) {
    if (type.group !== "" && !groups.some((group) => group.name === type.group)) groups.push({ name: type.group, version: type.version });
  }
  groups.push({ name: "authorization.k8s.io", version: "v1" });
  return groups;
}
