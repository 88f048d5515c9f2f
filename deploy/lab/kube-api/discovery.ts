// Legacy discovery documents (/api, /apis, /api/v1, /apis/G/V, /apis/G) and /version.
// Aggregated discovery (apidiscovery.k8s.io/v2) is not served: the plain documents are answered
// for any Accept, and kubectl ≥ 1.26 then falls back to the legacy per-group-version requests, as
// it does against a server without aggregated discovery (kube-api.md §4).
import { apiGroups, apiVersionOf, resourceTypes, type ResourceType } from "./resources.ts";

const allVerbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

interface ApiResource {
  name: string;
  singularName: string;
  namespaced: boolean;
  group?: string;
  version?: string;
  kind: string;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
  storageVersionHash?: string;
}

function resourceEntries(type: ResourceType): ApiResource[] {
  const verbs = type.kind === "Namespace" ? allVerbs.filter((verb) => verb !== "deletecollection") : allVerbs;
  const main: ApiResource = {
    name: type.resource,
    singularName: type.singular,
    namespaced: type.namespaced,
    kind: type.kind,
    verbs,
    ...(type.shortNames === undefined ? {} : { shortNames: [...type.shortNames] }),
    ...(type.categories === undefined ? {} : { categories: [...type.categories] }),
    ...(type.storageVersionHash === undefined ? {} : { storageVersionHash: type.storageVersionHash }),
  };
  const entries = [main];
  if (type.hasStatus) entries.push({ name: `${type.resource}/status`, singularName: "", namespaced: type.namespaced, kind: type.kind, verbs: ["get", "patch", "update"] });
  if (type.kind === "ServiceAccount") {
    entries.push({ name: "serviceaccounts/token", singularName: "", namespaced: true, group: "authentication.k8s.io", version: "v1", kind: "TokenRequest", verbs: ["create"] });
  }
  return entries;
}

export function apiVersions(serverAddress: string): object {
  return { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }] };
}

function apiGroup(name: string, version: string): object {
  const groupVersion = { groupVersion: `${name}/${version}`, version };
  return { name, versions: [groupVersion], preferredVersion: groupVersion };
}

export function apiGroupList(): object {
  return { kind: "APIGroupList", apiVersion: "v1", groups: apiGroups().map((group) => apiGroup(group.name, group.version)) };
}

/** GET /apis/GROUP, or undefined for an unknown group. */
export function apiGroupDocument(name: string): object | undefined {
  const group = apiGroups().find((candidate) => candidate.name === name);
  return group === undefined ? undefined : { kind: "APIGroup", apiVersion: "v1", ...apiGroup(group.name, group.version) };
}

/** GET /api/v1 or /apis/GROUP/VERSION, or undefined for an unknown group version. */
export function apiResourceList(group: string, version: string): object | undefined {
  const groupVersion = apiVersionOf({ group, version });
  if (group === "authorization.k8s.io" && version === "v1") {
    return {
      kind: "APIResourceList",
      apiVersion: "v1",
      groupVersion,
      resources: [{ name: "selfsubjectaccessreviews", singularName: "selfsubjectaccessreview", namespaced: false, kind: "SelfSubjectAccessReview", verbs: ["create"] }],
    };
  }
  const types = resourceTypes.filter((type) => type.group === group && type.version === version);
  if (types.length === 0) return undefined;
  // The core list has no apiVersion (a quirk of the real /api/v1 answer); group lists carry "v1".
  return { kind: "APIResourceList", ...(group === "" ? {} : { apiVersion: "v1" }), groupVersion, resources: types.flatMap(resourceEntries) };
}

export function versionInfo(): object {
  return {
    major: "1",
    minor: "34",
    emulationMajor: "1",
    emulationMinor: "34",
    minCompatibilityMajor: "1",
    minCompatibilityMinor: "33",
    gitVersion: "v1.34.0",
    gitCommit: "0000000000000000000000000000000000000000",
    gitTreeState: "clean",
    buildDate: "2026-01-01T00:00:00Z",
    goVersion: "go1.24.6",
    compiler: "gc",
    platform: "linux/amd64",
  };
}
