// Runs the udp backend inside a network namespace for the namespace tests: the data plane opens
// its TUN in the namespace of the process that calls it, so the backend cannot be driven from the
// test process (which stays in the root namespace). Started as
// `ip netns exec NS node udp-driver.ts`, it reads one JSON command per line on stdin and answers
// one JSON line per command on stdout; its log goes to stderr. With FLANNEL_TEST_SNAPSHOT set, it
// first resumes the data plane from that snapshot, as flanneld does at start, and hands both to
// the backend. Not a test file itself.
import { createInterface } from "node:readline";
import type { LocalNode, Peer } from "../../../backends/backend.ts";
import { isFlannelError } from "../../../backends/errors.ts";
import { openKernel } from "../../../backends/kernel/kernel.ts";
import { readLink } from "../../../backends/kernel/link.ts";
import { parseCidr, parseIp } from "../../../backends/net/ip.ts";
import { createUdpBackend } from "../../../backends/udp/udp-backend.ts";
import { resumeDataPlane } from "../../../backends/udp/resume.ts";

export type DriverCommand =
  | { readonly op: "prepare"; readonly device: string; readonly address: string; readonly network: string; readonly backendConfig: unknown }
  | { readonly op: "configure"; readonly subnet: string }
  | { readonly op: "reconcile"; readonly peers: readonly { readonly subnet: string; readonly publicIP: string }[] }
  | { readonly op: "apply"; readonly changes: readonly { readonly kind: "added" | "removed"; readonly subnet: string; readonly publicIP: string }[] }
  | { readonly op: "counters" }
  | { readonly op: "resumed" }
  | { readonly op: "close" };

export type DriverAnswer =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly error: { readonly code?: string; readonly message: string; readonly details?: unknown } };

const kernel = openKernel();
const write = (level: string) => (message: string, fields?: Readonly<Record<string, unknown>>) => process.stderr.write(`${JSON.stringify({ level, message, ...fields })}\n`);
const log = { error: write("error"), warn: write("warn"), info: write("info"), debug: write("debug") };
const snapshotFile = process.env.FLANNEL_TEST_SNAPSHOT || undefined;
const resumed = snapshotFile === undefined ? undefined : resumeDataPlane(snapshotFile, log);
const backend = createUdpBackend({ kernel, log, snapshotFile, resumed });
const signal = new AbortController().signal;

const peerOf = (entry: { subnet: string; publicIP: string }): Peer => ({ subnet: parseCidr(entry.subnet)!, publicIP: parseIp(entry.publicIP)!, backendType: "" });
const report = (r: { added: number; removed: number; repaired: number; errors: readonly Error[] }) => ({
  added: r.added,
  removed: r.removed,
  repaired: r.repaired,
  errors: r.errors.map((error) => error.message),
});

async function run(command: DriverCommand): Promise<unknown> {
  switch (command.op) {
    case "prepare": {
      const link = await readLink(kernel.runner, command.device);
      if (link === undefined) throw new Error(`no ${command.device}`);
      const ip = parseIp(command.address)!;
      const local: LocalNode = { link: { name: link.name, index: link.index, mtu: link.mtu }, ifaceAddr: ip, extAddr: ip, network: parseCidr(command.network)!, backendConfig: command.backendConfig };
      return backend.prepare(local, signal);
    }
    case "configure":
      return backend.configure({ subnet: parseCidr(command.subnet)! }, signal);
    case "reconcile":
      return report(await backend.reconcile(command.peers.map(peerOf), signal));
    case "apply":
      return report(await backend.apply(command.changes.map((change) => ({ kind: change.kind, peer: peerOf(change) })), signal));
    case "counters":
      return { ...backend.counters(), peers: backend.programmedPeers() };
    case "resumed":
      return resumed === undefined ? null : { peers: resumed.snapshot.peers.length, options: resumed.snapshot.options };
    case "close":
      await backend.close();
      await kernel.close();
      return null;
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === "") continue;
  const command = JSON.parse(line) as DriverCommand;
  let answer: DriverAnswer;
  try {
    answer = { ok: true, result: (await run(command)) ?? null };
  } catch (error) {
    answer = isFlannelError(error)
      ? { ok: false, error: { code: error.code, message: error.message, details: error.details } }
      : { ok: false, error: { message: error instanceof Error ? error.message : String(error) } };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
  if (command.op === "close") break;
}
