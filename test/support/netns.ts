// Network namespaces for tests: create them with the run's prefix, run commands inside them,
// join them with a veth underlay, and remove every one of them, also when a test fails or the
// process is interrupted. Nothing here touches the root namespace: links are created inside a
// namespace of the run (`ip -n NS …`) or moved straight into one.
import { run, runSync, type CommandResult, type RunOptions } from "../../deploy/lab/tools/command.ts";
import { runPrefix, uniqueName } from "./run-context.ts";
import { endProcessesSync, onExitOrSignal } from "../../deploy/lab/tools/exit-guard.ts";

export interface Namespace {
  readonly name: string;
  /** `ip netns exec NAME argv…` */
  exec(argv: readonly string[], options?: RunOptions): Promise<CommandResult>;
  /** `ip -n NAME args…` */
  ip(...args: string[]): Promise<CommandResult>;
  /** `ip -n NAME -json args…`, parsed. */
  ipJson<T = unknown>(...args: string[]): Promise<T>;
  remove(): Promise<void>;
}

const createdByThisProcess = new Set<string>();

function handle(name: string): Namespace {
  return {
    name,
    exec: (argv, options) => run(["ip", "netns", "exec", name, ...argv], options),
    ip: (...args) => run(["ip", "-n", name, ...args]),
    ipJson: async <T>(...args: string[]) => {
      const { stdout } = await run(["ip", "-n", name, "-json", ...args]);
      return (stdout.trim() === "" ? [] : JSON.parse(stdout)) as T;
    },
    remove: () => removeNamespace(name),
  };
}

export async function createNamespace(hint = "ns"): Promise<Namespace> {
  const name = uniqueName(hint);
  createdByThisProcess.add(name);
  await run(["ip", "netns", "add", name]);
  await run(["ip", "-n", name, "link", "set", "lo", "up"]);
  return handle(name);
}

/** PIDs of processes living in a namespace (they would keep it alive after `ip netns del`). */
function pidsInNamespace(name: string): number[] {
  const { stdout } = runSync(["ip", "netns", "pids", name]);
  return stdout.split(/\s+/).filter((s) => s !== "").map(Number).filter((pid) => pid !== process.pid);
}

function removeNamespaceSync(name: string): void {
  endProcessesSync(pidsInNamespace(name));
  runSync(["ip", "netns", "del", name]);
  createdByThisProcess.delete(name);
}

export async function removeNamespace(name: string): Promise<void> {
  removeNamespaceSync(name);
}

/** Namespaces that exist now and carry this run's prefix (from any process of the run). */
export function listRunNamespaces(prefix = runPrefix): string[] {
  const { stdout } = runSync(["ip", "netns", "list"]);
  return stdout
    .split("\n")
    .map((line) => line.split(" ")[0] ?? "")
    .filter((name) => name.startsWith(prefix));
}

export function removeAllNamespacesOfThisProcess(): void {
  for (const name of [...createdByThisProcess]) removeNamespaceSync(name);
}

onExitOrSignal(removeAllNamespacesOfThisProcess);

// ---- underlay ----------------------------------------------------------------------------

export interface UnderlayNode {
  readonly ns: Namespace;
  /** The node's address on the underlay, e.g. 198.18.0.1 */
  readonly address: string;
  /** The node's underlay interface (inside its namespace). */
  readonly device: string;
}

export interface Underlay {
  /** The namespace holding the bridge every node is plugged into (the "switch" and gateway). */
  readonly fabric: Namespace;
  readonly gateway: string;
  readonly prefixLength: number;
  readonly nodes: readonly UnderlayNode[];
  remove(): Promise<void>;
}

export interface UnderlayOptions {
  /** First three octets of the underlay /24 (a benchmark range, RFC 2544). */
  readonly net24?: string;
  /** Give every node a default route via the fabric's bridge address. */
  readonly defaultRoute?: boolean;
  readonly mtu?: number;
}

/**
 * Builds `count` node namespaces, each with an `eth0` veth whose peer sits on bridge `br0` in a
 * fabric namespace. Node i gets <net24>.i/24; the bridge is <net24>.254.
 */
export async function createUnderlay(count: number, options: UnderlayOptions = {}): Promise<Underlay> {
  const net24 = options.net24 ?? "198.18.0";
  const gateway = `${net24}.254`;
  const fabric = await createNamespace("fab");
  const nodes: UnderlayNode[] = [];
  try {
    await fabric.ip("link", "add", "br0", "type", "bridge");
    await fabric.ip("addr", "add", `${gateway}/24`, "dev", "br0");
    await fabric.ip("link", "set", "br0", "up");
    for (let i = 1; i <= count; i++) {
      const ns = await createNamespace(`n${i}-`);
      const port = `p${i}`;
      await fabric.ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns.name);
      if (options.mtu !== undefined) {
        await fabric.ip("link", "set", port, "mtu", String(options.mtu));
        await ns.ip("link", "set", "eth0", "mtu", String(options.mtu));
      }
      await fabric.ip("link", "set", port, "master", "br0", "up");
      await ns.ip("addr", "add", `${net24}.${i}/24`, "dev", "eth0");
      await ns.ip("link", "set", "eth0", "up");
      if (options.defaultRoute !== false) await ns.ip("route", "add", "default", "via", gateway);
      nodes.push({ ns, address: `${net24}.${i}`, device: "eth0" });
    }
  } catch (error) {
    for (const node of nodes) await node.ns.remove();
    await fabric.remove();
    throw error;
  }
  return {
    fabric,
    gateway,
    prefixLength: 24,
    nodes,
    remove: async () => {
      for (const node of nodes) await node.ns.remove();
      await fabric.remove();
    },
  };
}
