// Shared set-up for the CNI plugin tests: a scratch directory per test (subnet.env, our dataDir,
// host-local's dataDir — nothing under /run or /var/lib), the plugin config pointing at it, and
// readers for what a plugin leaves behind in a node namespace (veths, host-local reservations,
// saved delegate configs).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Namespace } from "../support/netns.ts";
import { runPrefix } from "../support/run-context.ts";

export interface Scratch {
  readonly dir: string;
  readonly subnetFile: string;
  readonly dataDir: string;
  readonly ipamDir: string;
  remove(): void;
}

export function makeScratch(hint: string): Scratch {
  const dir = mkdtempSync(join(tmpdir(), `${runPrefix}cni-${hint}-`));
  return {
    dir,
    subnetFile: join(dir, "subnet.env"),
    dataDir: join(dir, "flannel"),
    ipamDir: join(dir, "host-local"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** subnet.env as the agent writes it; the node's subnet is 10.244.<third>.0/24. */
export function subnetEnvText(third: number, options: { mtu?: number; ipMasq?: boolean } = {}): string {
  return (
    `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.${third}.1/24\n` +
    `FLANNEL_MTU=${options.mtu ?? 1450}\nFLANNEL_IPMASQ=${options.ipMasq ?? true}\n`
  );
}

export function writeSubnetEnv(scratch: Scratch, third: number, options: { mtu?: number; ipMasq?: boolean } = {}): void {
  writeFileSync(scratch.subnetFile, subnetEnvText(third, options));
}

/**
 * The standard flannel plugin config (the cbr0 conflist's first plugin, name and cniVersion as the
 * runtime injects them) with every path in the scratch dir. FLANNEL_IPMASQ=true in the tests'
 * subnet.env makes the delegate's ipMasq false, so bridge touches no iptables.
 */
export function flannelConf(scratch: Scratch, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: "0.3.1",
    name: "cbr0",
    type: "flannel",
    subnetFile: scratch.subnetFile,
    dataDir: scratch.dataDir,
    ipam: { dataDir: scratch.ipamDir },
    delegate: { hairpinMode: true, isDefaultGateway: true },
    ...overrides,
  };
}

/** host-local's reservations for a network: address → owner ("<containerID>\r\n<ifname>"). */
export function allocations(scratch: Scratch, network = "cbr0"): Map<string, string> {
  const dir = join(scratch.ipamDir, network);
  if (!existsSync(dir)) return new Map();
  return new Map(
    readdirSync(dir)
      .filter((name) => /^\d+\.\d+\.\d+\.\d+$/.test(name) || name.includes(":"))
      .map((ip) => [ip, readFileSync(join(dir, ip), "utf8")]),
  );
}

/** Files in our dataDir (saved delegate configs and anything else left there). */
export function savedFiles(scratch: Scratch): string[] {
  return existsSync(scratch.dataDir) ? readdirSync(scratch.dataDir).sort() : [];
}

export function savedConf(scratch: Scratch, containerId: string): string {
  return readFileSync(join(scratch.dataDir, containerId), "utf8");
}

interface IpLink {
  readonly ifname: string;
  readonly mtu: number;
  readonly master?: string;
  readonly linkinfo?: { readonly info_kind?: string };
}

export async function vethsIn(node: Namespace): Promise<string[]> {
  const links = await node.ipJson<IpLink[]>("-details", "link", "show");
  return links.filter((link) => link.linkinfo?.info_kind === "veth").map((link) => link.ifname);
}

export async function linksIn(ns: Namespace): Promise<IpLink[]> {
  return ns.ipJson<IpLink[]>("-details", "link", "show");
}

export interface IpAddr {
  readonly ifname: string;
  readonly mtu: number;
  readonly addr_info: ReadonlyArray<{ readonly family: string; readonly local: string; readonly prefixlen: number }>;
}

export async function ipv4Of(ns: Namespace, device: string): Promise<{ mtu: number; addresses: string[] }> {
  const [link] = await ns.ipJson<IpAddr[]>("addr", "show", "dev", device);
  if (link === undefined) throw new Error(`no ${device} in ${ns.name}`);
  return { mtu: link.mtu, addresses: link.addr_info.filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`) };
}

export interface IpRoute {
  readonly dst: string;
  readonly gateway?: string;
  readonly dev: string;
}

export async function routesOf(ns: Namespace): Promise<IpRoute[]> {
  return ns.ipJson<IpRoute[]>("route", "show");
}

export function ensureDir(path: string): string {
  mkdirSync(path, { recursive: true });
  return path;
}

/**
 * A stand-in delegate plugin (a sh script named `bridge` in its own CNI_PATH directory) that
 * records each call — its command in `calls`, its stdin in `stdin.<COMMAND>` — and answers from
 * files the test writes: `result` for ADD, or `fail.<COMMAND>` (printed, then exit 7), after sleeping `delay` seconds if set.
 */
export interface FakeDelegate {
  readonly dir: string;
  readonly path: string;
  calls(): string[];
  stdin(command: string): string;
  setResult(text: string): void;
  /** From now on, `command` prints `output` and exits 7 (until succeed). */
  fail(command: string, output: string): void;
  succeed(command: string): void;
  /** Every call sleeps this long first. */
  setDelay(seconds: number): void;
}

export function makeFakeDelegate(dir: string, name = "bridge"): FakeDelegate {
  ensureDir(dir);
  const path = join(dir, name);
  writeFileSync(
    path,
    `#!/bin/sh
dir='${dir}'
cat > "$dir/stdin.$CNI_COMMAND"
echo "$CNI_COMMAND" >> "$dir/calls"
if [ -f "$dir/delay" ]; then sleep "$(cat "$dir/delay")"; fi
if [ -f "$dir/fail.$CNI_COMMAND" ]; then cat "$dir/fail.$CNI_COMMAND"; exit 7; fi
if [ "$CNI_COMMAND" = ADD ]; then cat "$dir/result"; fi
exit 0
`,
    { mode: 0o755 },
  );
  writeFileSync(join(dir, "result"), '{"cniVersion":"0.3.1","ips":[{"version":"4","address":"10.244.1.2/24"}]}\n');
  return {
    dir,
    path,
    calls: () => (existsSync(join(dir, "calls")) ? readFileSync(join(dir, "calls"), "utf8").split("\n").filter(Boolean) : []),
    stdin: (command) => readFileSync(join(dir, `stdin.${command}`), "utf8"),
    setResult: (text) => writeFileSync(join(dir, "result"), text),
    fail: (command, output) => writeFileSync(join(dir, `fail.${command}`), output),
    succeed: (command) => rmSync(join(dir, `fail.${command}`), { force: true }),
    setDelay: (seconds) => writeFileSync(join(dir, "delay"), String(seconds)),
  };
}
