// The lab's options and its command line: `lab [--nodes N] [--backend vxlan|host-gw|udp]
// [--network CIDR] [--name NAME] [--once] [--ip-masq] [--kube]` and `lab down [--name NAME]`.
// Pure: parsing returns a value or throws a LabUsageError; the CLI decides what to print.
import { randomBytes } from "node:crypto";
import { parseCidr, formatCidr } from "../../backends/net/ip.ts";

export type LabBackend = "vxlan" | "host-gw" | "udp";
export const labBackends: readonly LabBackend[] = ["vxlan", "host-gw", "udp"];

export interface LabOptions {
  /** Prefix of every namespace the lab makes (`<name>-fabric`, `<name>-node1`, …). */
  readonly name: string;
  readonly nodes: number;
  readonly backend: LabBackend;
  /** The flannel Network (net-conf.json "Network"). */
  readonly network: string;
  readonly ipMasq: boolean;
  /** Pods wired per node. */
  readonly podsPerNode: number;
  /** Kube mode: the lab's API server instead of etcd, agents with --kube-subnet-mgr. */
  readonly kube: boolean;
}

export type LabCommand =
  | { readonly kind: "up"; readonly options: LabOptions; readonly once: boolean }
  | { readonly kind: "down"; readonly name: string | undefined }
  | { readonly kind: "help" };

export class LabUsageError extends Error {
  override readonly name = "LabUsageError";
}

export const labUsage = `usage: npm run lab [-- --nodes N] [--backend vxlan|host-gw|udp] [--network CIDR] [--name NAME] [--once] [--ip-masq] [--kube]
       npm run lab -- down [--name NAME]

  --nodes N        nodes (network namespaces, one flanneld each), 1..50, default 3
  --backend TYPE   vxlan (default), host-gw or udp (flannel0, port 8285, the native data plane)
  --network CIDR   the flannel Network, an IPv4 /8../22, default 10.244.0.0/16
  --name NAME      prefix of the lab's namespaces (lowercase letters, digits, inner hyphens, starting
                   with a letter, at most 24); default a random labXXXX
  --once           start, check that every pod reaches every other pod, tear down; exit 1 if not
  --ip-masq        run flanneld with --ip-masq
  --kube           Kubernetes mode: the lab's own API server (HTTPS, RBAC) instead of etcd, the
                   manifests of deploy/kubernetes applied with kubectl, one Node per node with a
                   podCIDR, and flanneld --kube-subnet-mgr with its pod's in-cluster configuration
  down             remove what a killed lab left behind (--name NAME: that lab; none: every lab
                   whose owning process is gone)
`;

// Hyphens are allowed inside so that a test run can give its labs its own prefix (`ft1a2b3c-lab1`).
const namePattern = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const nameMaxLength = 24;

/** A fresh lab name such as `lab3f9a`. */
export function randomLabName(): string {
  return `lab${randomBytes(2).toString("hex")}`;
}

export function checkLabName(name: string): string {
  if (!namePattern.test(name) || name.length > nameMaxLength) {
    throw new LabUsageError(`invalid --name ${JSON.stringify(name)}: lowercase letters, digits and inner hyphens, starting with a letter, at most ${nameMaxLength}`);
  }
  return name;
}

function checkNetwork(text: string): string {
  const cidr = parseCidr(text);
  // A /23 or longer leaves no room for /24 node subnets (Flannel's default SubnetLen for IPv4).
  if (cidr === undefined || cidr.family !== 4 || cidr.prefix < 8 || cidr.prefix > 22) {
    throw new LabUsageError(`invalid --network ${JSON.stringify(text)}: an IPv4 CIDR from /8 to /22, e.g. 10.244.0.0/16`);
  }
  return formatCidr(cidr);
}

function checkCount(what: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max) throw new LabUsageError(`invalid ${what} ${JSON.stringify(value)}: a number from 1 to ${max}`);
  return value;
}

function checkNodes(text: string): number {
  if (!/^\d+$/.test(text)) throw new LabUsageError(`invalid --nodes ${JSON.stringify(text)}: a number from 1 to 50`);
  return checkCount("--nodes", Number(text), 50);
}

function checkBackend(text: string): LabBackend {
  const backend = labBackends.find((known) => known === text);
  if (backend === undefined) throw new LabUsageError(`invalid --backend ${JSON.stringify(text)}: ${labBackends.join(", ")}`);
  return backend;
}

/** Defaults for everything not given; the name is random unless given. */
export function labOptions(partial: Partial<LabOptions> = {}): LabOptions {
  return {
    name: checkLabName(partial.name ?? randomLabName()),
    nodes: checkCount("--nodes", partial.nodes ?? 3, 50),
    backend: checkBackend(partial.backend ?? "vxlan"),
    network: checkNetwork(partial.network ?? "10.244.0.0/16"),
    ipMasq: partial.ipMasq ?? false,
    podsPerNode: checkCount("podsPerNode", partial.podsPerNode ?? 2, 10),
    kube: partial.kube ?? false,
  };
}

/** Parses the lab's arguments (after `npm run lab --`); `--flag value` and `--flag=value` both work. */
export function parseLabArgs(argv: readonly string[]): LabCommand {
  const args = [...argv];
  const down = args[0] === "down";
  if (down) args.shift();
  const given: { -readonly [K in keyof LabOptions]?: LabOptions[K] } = {};
  let once = false;
  while (args.length > 0) {
    const arg = args.shift()!;
    if (arg === "-h" || arg === "--help" || arg === "help") return { kind: "help" };
    const match = /^--?([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (match === null) throw new LabUsageError(`unexpected argument ${JSON.stringify(arg)}`);
    const flag = match[1]!;
    const value = (): string => {
      const inline = match[2];
      if (inline !== undefined) return inline;
      const next = args.shift();
      if (next === undefined) throw new LabUsageError(`--${flag} needs a value`);
      return next;
    };
    if (flag === "name") given.name = checkLabName(value());
    else if (down) throw new LabUsageError(`down takes only --name (got --${flag})`);
    else if (flag === "nodes") given.nodes = checkNodes(value());
    else if (flag === "backend") given.backend = checkBackend(value());
    else if (flag === "network") given.network = checkNetwork(value());
    else if (flag === "once") once = true;
    else if (flag === "ip-masq") given.ipMasq = true;
    else if (flag === "kube") given.kube = true;
    else throw new LabUsageError(`unknown flag --${flag}`);
  }
  if (down) return { kind: "down", name: given.name };
  return { kind: "up", options: labOptions(given), once };
}
