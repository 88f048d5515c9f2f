// The userspace tunnels from Debian that a udp backend is compared with, with encryption off, as
// set up in /work/shared/reference/testbed.md (whose machines measured 0.6–0.7 Gbit/s each):
//   openvpn 2.6: p2p over UDP, no TLS and no static key => cleartext, no auth; --disable-dco
//                --fast-io, 4 MiB socket buffers;
//   fastd v22:   mode tun, method "null" (the handshake is authenticated, the data is plain);
//   tinc 1.0:    Mode router, Cipher none, Digest none, no compression, no PMTU discovery.
// One daemon per node inside the node namespace of a "none" bed (hand-bed.ts); device MTU = pod
// MTU; the device gets the node's subnet .0/32 and a route to the peer's subnet, as Flannel's
// udp backend gives flannel0. The packages are installed (apt-get, as root) only when missing.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { run } from "../../deploy/lab/tools/command.ts";
import { startDaemon, type Daemon } from "./daemon.ts";
import type { Bed, BedNode } from "./hand-bed.ts";

export type PeerKind = "openvpn" | "fastd" | "tinc";
export const peerKinds: readonly PeerKind[] = ["openvpn", "fastd", "tinc"];
const debianPackage: Record<PeerKind, string> = { openvpn: "openvpn", fastd: "fastd", tinc: "tinc" };

function installed(pkg: string): boolean {
  try {
    return execFileSync("dpkg-query", ["-W", "-f=${Status}", pkg], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }) === "install ok installed";
  } catch {
    return false;
  }
}

/** Installs the Debian packages of the peers that are missing; returns what it installed. */
export async function ensurePeerPackages(kinds: readonly PeerKind[], say: (text: string) => void): Promise<string[]> {
  const missing = kinds.map((kind) => debianPackage[kind]).filter((pkg) => !installed(pkg));
  if (missing.length === 0) return [];
  if (process.getuid?.() !== 0) throw new Error(`missing Debian packages ${missing.join(" ")} (run as root to have the bench install them)`);
  say(`installing missing Debian packages with apt-get (as root): ${missing.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  await run(["apt-get", "update", "-qq"], { env, timeoutMs: 300_000 });
  await run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", ...missing], { env, timeoutMs: 600_000 });
  return missing;
}

export interface RunningPeer {
  readonly kind: PeerKind;
  readonly device: string;
  readonly daemons: readonly Daemon[];
}

async function waitDevice(ns: string, device: string, daemons: readonly Daemon[]): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await run(["ip", "-n", ns, "link", "show", device], { allowFailure: true })).code === 0) return;
    const dead = daemons.find((daemon) => !daemon.running);
    if (dead !== undefined) throw new Error(`tunnel daemon ${dead.pid} exited:\n${dead.logTail()}`);
    await sleep(50);
  }
  throw new Error(`device ${device} did not appear in ${ns}`);
}

/** The tunnel device carries the pod subnets: address .0/32, route to the peer's subnet. */
async function routePods(bed: Bed, device: string, mtu: number): Promise<void> {
  for (const node of bed.nodes) {
    const peer = bed.nodes.find((other) => other !== node)!;
    const lines = [`link set ${device} mtu ${mtu} up`, `addr replace ${node.subnet.replace(/\/24$/, "/32")} dev ${device}`, `route replace ${peer.subnet} dev ${device}`];
    await run(["ip", "-n", node.ns, "-batch", "-"], { input: `${lines.join("\n")}\n` });
  }
}

const other = (bed: Bed, node: BedNode): BedNode => bed.nodes.find((candidate) => candidate !== node)!;

function startOpenvpn(bed: Bed, mtu: number, dir: string): Daemon[] {
  return bed.nodes.map((node) =>
    startDaemon(node.ns, [
      "openvpn", "--dev", "ovpn0", "--dev-type", "tun", "--proto", "udp",
      "--local", node.ip, "--lport", "1194", "--remote", other(bed, node).ip, "--rport", "1194",
      "--ifconfig-noexec", "--route-noexec", "--tun-mtu", String(mtu), "--mssfix", "0", "--disable-dco", "--fast-io",
      "--sndbuf", "4194304", "--rcvbuf", "4194304", "--txqueuelen", "1000", "--verb", "3",
    ], join(dir, `openvpn-${node.n}.log`)),
  );
}

function startFastd(bed: Bed, mtu: number, dir: string): Daemon[] {
  // `fastd --generate-key` prints "Secret: …" and "Public: …".
  const keys = bed.nodes.map(() => {
    const text = execFileSync("fastd", ["--generate-key"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const field = (name: string): string => new RegExp(`${name}:\\s*(\\S+)`).exec(text)?.[1] ?? "";
    return { secret: field("Secret"), public: field("Public") };
  });
  return bed.nodes.map((node, i) => {
    const peer = other(bed, node);
    const config = join(dir, `fastd-${node.n}.conf`);
    writeFileSync(config, [
      "log level warn;", "mode tun;", 'interface "fastd0";', 'method "null";', `bind ${node.ip}:10000;`,
      `secret "${keys[i]!.secret}";`, `mtu ${mtu};`, `peer "node${peer.n}" { key "${keys[1 - i]!.public}"; remote ${peer.ip}:10000; }`, "",
    ].join("\n"));
    return startDaemon(node.ns, ["fastd", "-c", config], join(dir, `fastd-${node.n}.log`));
  });
}

function startTinc(bed: Bed, dir: string): Daemon[] {
  for (const node of bed.nodes) {
    const home = join(dir, `tinc-${node.n}`);
    mkdirSync(join(home, "hosts"), { recursive: true });
    writeFileSync(join(home, "tinc.conf"), [`Name = node${node.n}`, "Mode = router", "DeviceType = tun", "Interface = tinc0", "AddressFamily = ipv4", `BindToAddress = ${node.ip}`, `ConnectTo = node${other(bed, node).n}`, ""].join("\n"));
    writeFileSync(join(home, "hosts", `node${node.n}`), [`Address = ${node.ip}`, "Port = 655", `Subnet = ${node.subnet}`, "Cipher = none", "Digest = none", "Compression = 0", "PMTUDiscovery = no", ""].join("\n"));
    // tinc 1.0 needs an RSA key pair even with Cipher none (the meta connection is authenticated).
    execFileSync("tincd", ["-c", home, "-K2048"], { stdio: ["ignore", "ignore", "ignore"] });
  }
  for (const node of bed.nodes) {
    const host = readFileSync(join(dir, `tinc-${node.n}`, "hosts", `node${node.n}`), "utf8");
    writeFileSync(join(dir, `tinc-${other(bed, node).n}`, "hosts", `node${node.n}`), host);
  }
  return bed.nodes.map((node) => startDaemon(node.ns, ["tincd", "-c", join(dir, `tinc-${node.n}`), "-D", `--pidfile=${join(dir, `tinc-${node.n}.pid`)}`], join(dir, `tinc-${node.n}.log`)));
}

/** Starts the tunnel on both nodes of a "none" bed and routes the pod subnets over it. */
export async function startPeer(kind: PeerKind, bed: Bed, mtu: number, dir: string): Promise<RunningPeer> {
  const device = { openvpn: "ovpn0", fastd: "fastd0", tinc: "tinc0" }[kind];
  const daemons = kind === "openvpn" ? startOpenvpn(bed, mtu, dir) : kind === "fastd" ? startFastd(bed, mtu, dir) : startTinc(bed, dir);
  for (const node of bed.nodes) await waitDevice(node.ns, device, daemons);
  await routePods(bed, device, mtu);
  return { kind, device, daemons };
}
