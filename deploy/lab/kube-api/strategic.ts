// Strategic merge patch (apimachinery pkg/util/strategicpatch) driven by the patch tags of the Go
// types (k8s.io/api, release-1.34) for the lists the lab's kinds carry: lists with a merge key are
// merged element by element (Node status.conditions and status.addresses by `type`, containers by
// `name`, …), primitive lists with the merge strategy are unions (spec.podCIDRs, finalizers), every
// other list is replaced, as in a merge patch. Directives ($patch, $retainKeys, $setElementOrder/…,
// $deleteFromPrimitiveList/…) are interpreted and never stored.
// Known simplification: $setElementOrder puts the listed elements in the listed order in the
// positions they occupy; server-only elements keep their positions.
import { badRequest } from "./errors.ts";
import { clone, isPlainObject, jsonEqual } from "./object.ts";

/** A merge list: `key` for lists of objects (patchMergeKey), none for a list of primitives. */
interface MergeList {
  readonly key?: string;
}

const podSpecLists: Record<string, MergeList> = {
  containers: { key: "name" },
  initContainers: { key: "name" },
  ephemeralContainers: { key: "name" },
  volumes: { key: "name" },
  imagePullSecrets: { key: "name" },
  hostAliases: { key: "ip" },
};
const containerLists: Record<string, MergeList> = {
  env: { key: "name" },
  ports: { key: "containerPort" },
  volumeMounts: { key: "mountPath" },
  volumeDevices: { key: "devicePath" },
};

function withPrefix(prefix: string, lists: Record<string, MergeList>): Record<string, MergeList> {
  return Object.fromEntries(Object.entries(lists).map(([path, list]) => [`${prefix}${path}`, list]));
}

function podSpec(prefix: string): Record<string, MergeList> {
  const entries: Record<string, MergeList> = withPrefix(prefix, podSpecLists);
  for (const containers of ["containers", "initContainers", "ephemeralContainers"]) Object.assign(entries, withPrefix(`${prefix}${containers}.`, containerLists));
  return entries;
}

const metadataLists: Record<string, MergeList> = {
  "metadata.finalizers": {},
  "metadata.ownerReferences": { key: "uid" },
};

const mergeLists: Readonly<Record<string, Readonly<Record<string, MergeList>>>> = {
  Node: { ...metadataLists, "spec.podCIDRs": {}, "status.conditions": { key: "type" }, "status.addresses": { key: "type" } },
  Pod: { ...metadataLists, ...podSpec("spec."), "status.conditions": { key: "type" } },
  DaemonSet: { ...metadataLists, ...podSpec("spec.template.spec."), "status.conditions": { key: "type" } },
};

function listSpec(kind: string, path: string): MergeList | undefined {
  return (mergeLists[kind] ?? metadataLists)[path];
}

const orderPrefix = "$setElementOrder/";
const deletePrefix = "$deleteFromPrimitiveList/";

function keyOf(element: unknown, key: string): unknown {
  return isPlainObject(element) ? element[key] : undefined;
}

function mergeList(kind: string, path: string, original: unknown, patch: unknown[], spec: MergeList): unknown[] {
  const replace = patch.find((element) => isPlainObject(element) && element.$patch === "replace");
  const rest = patch.filter((element) => element !== replace);
  if (replace !== undefined) return rest.map((element) => (isPlainObject(element) ? mergeObject(kind, path, {}, element) : clone(element)));
  const result: unknown[] = Array.isArray(original) ? [...original] : [];
  if (spec.key === undefined) {
    for (const value of rest) if (!result.some((existing) => jsonEqual(existing, value))) result.push(clone(value));
    return result;
  }
  const key = spec.key;
  for (const element of rest) {
    if (!isPlainObject(element)) throw badRequest(`json: cannot unmarshal ${typeof element} into a list of objects at ${path}`);
    const index = result.findIndex((existing) => jsonEqual(keyOf(existing, key), element[key]));
    if (element.$patch === "delete") {
      if (index >= 0) result.splice(index, 1);
      continue;
    }
    if (index >= 0) result[index] = mergeObject(kind, path, result[index], element);
    else result.push(mergeObject(kind, path, {}, element));
  }
  return result;
}

function applyOrder(list: unknown[], order: unknown[], spec: MergeList | undefined): unknown[] {
  const identity = (element: unknown): unknown => (spec?.key === undefined ? element : keyOf(element, spec.key));
  const orderIndex = (element: unknown): number =>
    order.findIndex((entry) => jsonEqual(spec?.key === undefined ? entry : keyOf(entry, spec.key), identity(element)));
  const listed = list.filter((element) => orderIndex(element) >= 0).sort((a, b) => orderIndex(a) - orderIndex(b));
  let next = 0;
  return list.map((element) => (orderIndex(element) >= 0 ? listed[next++] : element));
}

/** Strategic merge of `patch` into `original` (an object at `path` of a `kind`); undefined = delete it. */
function mergeObject(kind: string, path: string, original: unknown, patch: Record<string, unknown>): unknown {
  const directive = patch.$patch;
  if (directive === "delete") return undefined;
  if (directive === "replace") return mergeObject(kind, path, {}, { ...patch, $patch: undefined });
  if (directive !== undefined && directive !== "merge") throw badRequest(`Unknown patch type: ${String(directive)}`);
  const result: Record<string, unknown> = isPlainObject(original) ? { ...original } : {};
  const prefix = path === "" ? "" : `${path}.`;
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith("$") || value === undefined) continue;
    if (value === null) {
      delete result[key];
    } else if (isPlainObject(value)) {
      const merged = mergeObject(kind, `${prefix}${key}`, result[key], value);
      if (merged === undefined) delete result[key];
      else result[key] = merged;
    } else if (Array.isArray(value)) {
      const spec = listSpec(kind, `${prefix}${key}`);
      result[key] = spec === undefined ? clone(value) : mergeList(kind, `${prefix}${key}`, result[key], value, spec);
    } else {
      result[key] = value;
    }
  }
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith(deletePrefix) && Array.isArray(value)) {
      const field = key.slice(deletePrefix.length);
      const current = result[field];
      if (Array.isArray(current)) result[field] = current.filter((item) => !value.some((gone) => jsonEqual(gone, item)));
    }
  }
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith(orderPrefix) && Array.isArray(value)) {
      const field = key.slice(orderPrefix.length);
      const current = result[field];
      if (Array.isArray(current)) result[field] = applyOrder(current, value, listSpec(kind, `${prefix}${field}`));
    }
  }
  const retain = patch.$retainKeys;
  if (Array.isArray(retain)) for (const key of Object.keys(result)) if (!retain.includes(key)) delete result[key];
  return result;
}

export function strategicMergePatch(kind: string, original: unknown, patch: Record<string, unknown>): unknown {
  return mergeObject(kind, "", original, patch) ?? {};
}
