// The floor of the udp benchmark: Flannel's own design, one packet per syscall on one thread
// (test/support/flannel-udp-peer.c, written for the wire-compatibility tests), compiled with
// gcc -O2 into a temporary directory and run on both nodes of a "none" bed (hand-bed.ts) as
// Flannel's udp backend would be: TUN flannel0 with the node subnet's .0/32, MTU = underlay
// MTU − 28, a route for the whole Network via flannel0, UDP port 8285.
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { run } from "../../deploy/lab/tools/command.ts";
import { startDaemon, type Daemon } from "./daemon.ts";
import { bedNetwork, type Bed } from "./hand-bed.ts";

export const floorSource = resolve(import.meta.dirname, "../support/flannel-udp-peer.c");
const port = 8285;

/** Compiles the floor into `dir`; returns the binary's path. */
export async function buildFloor(dir: string): Promise<string> {
  if (!existsSync(floorSource)) throw new Error(`${floorSource} is missing`);
  const binary = join(dir, "flannel-udp-peer");
  await run(["gcc", "-O2", "-Wall", "-o", binary, floorSource]);
  return binary;
}

async function waitReady(daemon: Daemon): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (readFileSync(daemon.logFile, "utf8").includes("READY")) return;
    if (!daemon.running) throw new Error(`flannel-udp-peer ${daemon.pid} exited:\n${daemon.logTail()}`);
    await sleep(25);
  }
  throw new Error(`flannel-udp-peer ${daemon.pid} never said READY:\n${daemon.logTail()}`);
}

export async function startFloor(binary: string, bed: Bed, mtu: number, dir: string): Promise<Daemon[]> {
  const daemons = bed.nodes.map((node) => {
    const peers = bed.nodes.filter((other) => other !== node).map((peer) => `${peer.subnet}=${peer.ip}`);
    return startDaemon(node.ns, [binary, "flannel0", node.ip, String(port), String(mtu), ...peers], join(dir, `floor-${node.n}.log`));
  });
  for (const daemon of daemons) await waitReady(daemon);
  for (const node of bed.nodes) {
    const lines = [`link set flannel0 mtu ${mtu} up`, `addr replace ${node.subnet.replace(/\/24$/, "/32")} dev flannel0`, `route replace ${bedNetwork} dev flannel0`];
    await run(["ip", "-n", node.ns, "-batch", "-"], { input: `${lines.join("\n")}\n` });
  }
  return daemons;
}
