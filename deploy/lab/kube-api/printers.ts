// The real printers' columns (kubernetes pkg/printers/internalversion/printers.go) for the lab's
// kinds: Node's NAME STATUS ROLES AGE VERSION, plus INTERNAL-IP … CONTAINER-RUNTIME at priority 1
// (-o wide); Namespace, ConfigMap, ServiceAccount, Pod, DaemonSet and the bindings likewise. Kinds
// without a printer (ClusterRole, Role) get NAME + CREATED AT, as the real ones and the default do.
import { isPlainObject, type KubeObject } from "./object.ts";

export interface Column {
  readonly name: string;
  readonly type: string;
  readonly format?: string;
  readonly description: string;
  readonly priority?: number;
}
export type Cell = string | number;
export interface Printer {
  readonly columns: readonly Column[];
  row(object: KubeObject, now: number): Cell[];
}

/** apimachinery pkg/util/duration HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  const years = Math.floor(hours / 24 / 365);
  const days = Math.floor(hours / 24) % 365;
  if (hours < 24 * 365 * 8) return days === 0 ? `${years}y` : `${years}y${days}d`;
  return `${years}y`;
}

function age(object: KubeObject, now: number): string {
  const created = object.metadata.creationTimestamp;
  return created === undefined ? "<unknown>" : humanDuration(now - Date.parse(created));
}

function at(object: unknown, ...path: string[]): unknown {
  let value = object;
  for (const step of path) value = isPlainObject(value) ? value[step] : undefined;
  return value;
}

function text(value: unknown, fallback: string): string {
  return typeof value === "string" && value !== "" ? value : fallback;
}

const name: Column = { name: "Name", type: "string", format: "name", description: "Name must be unique within a namespace." };
const ageColumn: Column = { name: "Age", type: "string", description: "CreationTimestamp is a timestamp representing the server time when this object was created." };

function nodeAddress(node: KubeObject, type: string): string {
  const addresses = at(node, "status", "addresses");
  const found = Array.isArray(addresses) ? addresses.find((address) => at(address, "type") === type) : undefined;
  return text(at(found, "address"), "<none>");
}

function nodeRoles(node: KubeObject): string {
  const roles = new Set<string>();
  for (const [key, value] of Object.entries(node.metadata.labels ?? {})) {
    if (key.startsWith("node-role.kubernetes.io/") && key.length > "node-role.kubernetes.io/".length) roles.add(key.slice("node-role.kubernetes.io/".length));
    if (key === "kubernetes.io/role" && value !== "") roles.add(value);
  }
  return roles.size === 0 ? "<none>" : [...roles].sort().join(",");
}

function nodeStatus(node: KubeObject): string {
  const conditions = at(node, "status", "conditions");
  const ready = Array.isArray(conditions) ? conditions.find((condition) => at(condition, "type") === "Ready") : undefined;
  const status = ready === undefined ? ["Unknown"] : [at(ready, "status") === "True" ? "Ready" : "NotReady"];
  if (at(node, "spec", "unschedulable") === true) status.push("SchedulingDisabled");
  return status.join(",");
}

const nodePrinter: Printer = {
  columns: [
    name,
    { name: "Status", type: "string", description: "The status of the node" },
    { name: "Roles", type: "string", description: "The roles of the node" },
    ageColumn,
    { name: "Version", type: "string", description: "Kubelet Version reported by the node." },
    { name: "Internal-IP", type: "string", description: "List of addresses reachable to the node.", priority: 1 },
    { name: "External-IP", type: "string", description: "List of addresses reachable to the node.", priority: 1 },
    { name: "OS-Image", type: "string", description: "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", priority: 1 },
    { name: "Kernel-Version", type: "string", description: "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", priority: 1 },
    { name: "Container-Runtime", type: "string", description: "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).", priority: 1 },
  ],
  row: (node, now) => [
    node.metadata.name ?? "",
    nodeStatus(node),
    nodeRoles(node),
    age(node, now),
    String(at(node, "status", "nodeInfo", "kubeletVersion") ?? ""),
    nodeAddress(node, "InternalIP"),
    nodeAddress(node, "ExternalIP"),
    text(at(node, "status", "nodeInfo", "osImage"), "<unknown>"),
    text(at(node, "status", "nodeInfo", "kernelVersion"), "<unknown>"),
    text(at(node, "status", "nodeInfo", "containerRuntimeVersion"), "<unknown>"),
  ],
};

function count(value: unknown): number {
  return Array.isArray(value) ? value.length : isPlainObject(value) ? Object.keys(value).length : 0;
}

function containers(object: unknown): unknown[] {
  return Array.isArray(object) ? object : [];
}

function subjects(object: KubeObject, kind: string): string {
  const list = Array.isArray(object.subjects) ? (object.subjects as { kind?: string; name?: string; namespace?: string }[]) : [];
  const names = list.filter((subject) => subject.kind === kind).map((subject) => (kind === "ServiceAccount" ? `${subject.namespace ?? ""}/${subject.name ?? ""}` : (subject.name ?? "")));
  return names.join(", ");
}

const bindingPrinter: Printer = {
  columns: [
    name,
    { name: "Role", type: "string", description: "RoleRef can only reference the current namespace's Role or a ClusterRole." },
    ageColumn,
    { name: "Users", type: "string", description: "Users in the binding", priority: 1 },
    { name: "Groups", type: "string", description: "Groups in the binding", priority: 1 },
    { name: "ServiceAccounts", type: "string", description: "ServiceAccounts in the binding", priority: 1 },
  ],
  row: (object, now) => [
    object.metadata.name ?? "",
    `${String(at(object, "roleRef", "kind") ?? "")}/${String(at(object, "roleRef", "name") ?? "")}`,
    age(object, now),
    subjects(object, "User"),
    subjects(object, "Group"),
    subjects(object, "ServiceAccount"),
  ],
};

const printers: Readonly<Record<string, Printer>> = {
  Node: nodePrinter,
  ClusterRoleBinding: bindingPrinter,
  RoleBinding: bindingPrinter,
  Namespace: {
    columns: [name, { name: "Status", type: "string", description: "The status of the namespace" }, ageColumn],
    row: (object, now) => [object.metadata.name ?? "", String(at(object, "status", "phase") ?? ""), age(object, now)],
  },
  ConfigMap: {
    columns: [name, { name: "Data", type: "string", description: "Data contains the configuration data." }, ageColumn],
    row: (object, now) => [object.metadata.name ?? "", count(object.data) + count(object.binaryData), age(object, now)],
  },
  ServiceAccount: {
    columns: [name, { name: "Secrets", type: "string", description: "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use." }, ageColumn],
    row: (object, now) => [object.metadata.name ?? "", count(object.secrets), age(object, now)],
  },
  Pod: {
    columns: [
      name,
      { name: "Ready", type: "string", description: "The aggregate readiness state of this pod for accepting traffic." },
      { name: "Status", type: "string", description: "The aggregate status of the containers in this pod." },
      { name: "Restarts", type: "string", description: "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted." },
      ageColumn,
      { name: "IP", type: "string", description: "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.", priority: 1 },
      { name: "Node", type: "string", description: "NodeName is a request to schedule this pod onto a specific node.", priority: 1 },
      { name: "Nominated Node", type: "string", description: "nominatedNodeName is set when this pod preempts other pods on the node.", priority: 1 },
      { name: "Readiness Gates", type: "string", description: "If specified, all readiness gates will be evaluated for pod readiness.", priority: 1 },
    ],
    row: (object, now) => [
      object.metadata.name ?? "",
      `0/${containers(at(object, "spec", "containers")).length}`,
      text(at(object, "status", "phase"), "Unknown"),
      0,
      age(object, now),
      text(at(object, "status", "podIP"), "<none>"),
      text(at(object, "spec", "nodeName"), "<none>"),
      text(at(object, "status", "nominatedNodeName"), "<none>"),
      "<none>",
    ],
  },
  DaemonSet: {
    columns: [
      name,
      ...["Desired", "Current", "Ready", "Up-to-date", "Available"].map((column) => ({ name: column, type: "integer", description: `The ${column.toLowerCase()} number of nodes.` })),
      { name: "Node Selector", type: "string", description: "NodeSelector is a selector which must be true for the pod to fit on a node." },
      ageColumn,
      { name: "Containers", type: "string", description: "Names of each container in the template.", priority: 1 },
      { name: "Images", type: "string", description: "Images referenced by each container in the template.", priority: 1 },
      { name: "Selector", type: "string", description: "A label query over pods that are managed by the daemon set.", priority: 1 },
    ],
    row: (object, now) => {
      const status = (key: string): number => Number(at(object, "status", key) ?? 0);
      const selector = at(object, "spec", "template", "spec", "nodeSelector");
      const matchLabels = at(object, "spec", "selector", "matchLabels");
      const list = containers(at(object, "spec", "template", "spec", "containers"));
      return [
        object.metadata.name ?? "",
        status("desiredNumberScheduled"),
        status("currentNumberScheduled"),
        status("numberReady"),
        status("updatedNumberScheduled"),
        status("numberAvailable"),
        isPlainObject(selector) && Object.keys(selector).length > 0 ? Object.entries(selector).map(([key, value]) => `${key}=${String(value)}`).join(",") : "<none>",
        age(object, now),
        list.map((container) => String(at(container, "name"))).join(","),
        list.map((container) => String(at(container, "image"))).join(","),
        isPlainObject(matchLabels) ? Object.entries(matchLabels).map(([key, value]) => `${key}=${String(value)}`).join(",") : "<none>",
      ];
    },
  },
};

const defaultPrinter: Printer = {
  columns: [name, { name: "Created At", type: "date", description: "CreationTimestamp is a timestamp representing the server time when this object was created." }],
  row: (object) => [object.metadata.name ?? "", object.metadata.creationTimestamp ?? ""],
};

export function printerFor(kind: string): Printer {
  return printers[kind] ?? defaultPrinter;
}
