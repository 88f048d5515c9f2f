// What each kind's registry strategy does on create and update (kubernetes pkg/registry/*/strategy.go):
// defaults the real server fills, the status-subresource split, the generation rule and the
// update validation that matters to flannel (Node podCIDR/providerID immutability).
// Known departures: only the defaults listed here are filled (no Pod/DaemonSet template defaulting,
// no full object validation); managedFields are not recorded.
import { forbiddenCause, invalidValueCause, type StatusCause } from "./errors.ts";
import { isPlainObject, jsonEqual, type KubeObject } from "./object.ts";

export type Subresource = "" | "status";

const nodeInfoFields = ["machineID", "systemUUID", "bootID", "kernelVersion", "osImage", "containerRuntimeVersion", "kubeletVersion", "kubeProxyVersion", "operatingSystem", "architecture"];

function section(object: KubeObject, name: string): Record<string, unknown> {
  const value = object[name];
  if (isPlainObject(value)) return value;
  const fresh: Record<string, unknown> = {};
  object[name] = fresh;
  return fresh;
}

/**
 * Node serialization: NodeStatus.DaemonEndpoints and NodeInfo are non-pointer structs, so every Node
 * carries them; spec.podCIDR is spec.podCIDRs[0] (the v1 conversion keeps only the list internally).
 */
function normalizeNode(node: KubeObject): void {
  const spec = section(node, "spec");
  const cidrs = Array.isArray(spec.podCIDRs) && spec.podCIDRs.length > 0 ? spec.podCIDRs : typeof spec.podCIDR === "string" && spec.podCIDR !== "" ? [spec.podCIDR] : [];
  if (cidrs.length > 0) {
    spec.podCIDR = cidrs[0];
    spec.podCIDRs = cidrs;
  } else {
    delete spec.podCIDR;
    delete spec.podCIDRs;
  }
  const status = section(node, "status");
  const endpoints = isPlainObject(status.daemonEndpoints) ? status.daemonEndpoints : {};
  const kubelet = isPlainObject(endpoints.kubeletEndpoint) ? endpoints.kubeletEndpoint : {};
  status.daemonEndpoints = { ...endpoints, kubeletEndpoint: { ...kubelet, Port: typeof kubelet.Port === "number" ? kubelet.Port : 0 } };
  const info = isPlainObject(status.nodeInfo) ? status.nodeInfo : {};
  status.nodeInfo = { ...Object.fromEntries(nodeInfoFields.map((key) => [key, typeof info[key] === "string" ? info[key] : ""])), ...info };
}

function normalizeNamespace(namespace: KubeObject): void {
  // The NamespaceDefaultLabelName admission: every namespace is labelled with its own name.
  namespace.metadata.labels = { ...namespace.metadata.labels, "kubernetes.io/metadata.name": namespace.metadata.name ?? "" };
}

const daemonSetZeroStatus = { currentNumberScheduled: 0, numberMisscheduled: 0, desiredNumberScheduled: 0, numberReady: 0 };

export function prepareForCreate(kind: string, object: KubeObject): void {
  switch (kind) {
    case "Node":
      normalizeNode(object);
      break;
    case "Namespace":
      section(object, "spec").finalizers = ["kubernetes"];
      object.status = { phase: "Active" };
      normalizeNamespace(object);
      break;
    case "Pod":
      // No scheduler and no kubelet: a pod stays Pending, as on a cluster whose nodes never report.
      object.status = { phase: "Pending", qosClass: "BestEffort" };
      break;
    case "DaemonSet":
      object.metadata.generation = 1;
      object.status = { ...daemonSetZeroStatus };
      break;
  }
}

/** Splits the write between the main resource and /status, as the kind's strategy does. */
export function prepareForUpdate(kind: string, hasStatus: boolean, object: KubeObject, old: KubeObject, subresource: Subresource): void {
  if (hasStatus && subresource === "") {
    if (old.status === undefined) delete object.status;
    else object.status = old.status;
  }
  if (hasStatus && subresource === "status") {
    if (old.spec === undefined) delete object.spec;
    else object.spec = old.spec;
  }
  switch (kind) {
    case "Node":
      normalizeNode(object);
      break;
    case "Namespace":
      if (subresource === "") section(object, "spec").finalizers = (old.spec as { finalizers?: unknown } | undefined)?.finalizers ?? [];
      normalizeNamespace(object);
      break;
    case "DaemonSet":
      object.metadata.generation = (old.metadata.generation ?? 1) + (subresource === "" && !jsonEqual(object.spec, old.spec) ? 1 : 0);
      break;
  }
}

function cidrList(object: KubeObject): unknown[] {
  const spec = object.spec as { podCIDRs?: unknown } | undefined;
  return Array.isArray(spec?.podCIDRs) ? spec.podCIDRs : [];
}

const cidrPattern = /^(\d{1,3}(\.\d{1,3}){3}\/\d{1,2}|[0-9a-fA-F:]+:[0-9a-fA-F:.]*\/\d{1,3})$/;

export function validate(kind: string, object: KubeObject, old: KubeObject | undefined): StatusCause[] {
  if (kind !== "Node") return [];
  const causes: StatusCause[] = [];
  const cidrs = cidrList(object);
  cidrs.forEach((cidr, index) => {
    if (typeof cidr !== "string" || !cidrPattern.test(cidr)) causes.push(invalidValueCause(`spec.podCIDRs[${index}]`, cidr, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"));
  });
  if (old === undefined) return causes;
  // ValidateNodeUpdate: once set, podCIDRs may not change (not even be cleared); providerID likewise.
  const before = cidrList(old);
  if (before.length > 0 && !jsonEqual(before, cidrs)) causes.push(forbiddenCause("spec.podCIDRs", 'node updates may not change podCIDR except from "" to valid'));
  const oldProvider = (old.spec as { providerID?: string } | undefined)?.providerID ?? "";
  const newProvider = (object.spec as { providerID?: string } | undefined)?.providerID ?? "";
  if (oldProvider !== "" && oldProvider !== newProvider) causes.push(forbiddenCause("spec.providerID", 'node updates may not change providerID except from "" to valid'));
  return causes;
}
