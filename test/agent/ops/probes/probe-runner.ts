// A child process for the namespace tests: the real prober on the real raw-socket transport,
// started inside a node's namespace (`ip netns exec NS node probe-runner.ts '<json>'`) before
// the daemon runs probes itself. Given peers, it starts the probes as the daemon does
// (startPeerProbes); given plain addresses, it runs the prober on them and reports every send.
// It prints one line per event on stdout:
//   SENT <address>       every echo request handed to the kernel (addresses only)
//   LOG <json>           every log line of the prober (the unreachable / reachable messages)
//   STATS <json>         the per-target stats, every 200 ms
// and stops on SIGTERM by closing the probes, after which nothing should keep it alive. Not a test file.
import type { BackendType, Peer } from "../../../../backends/backend.ts";
import { parseCidr, parseIp } from "../../../../backends/net/ip.ts";
import { openIcmpTransport } from "../../../../agent/ops/probes/icmp-socket.ts";
import { createProber, type ProbeStats } from "../../../../agent/ops/probes/prober.ts";
import { startPeerProbes } from "../../../../agent/ops/probes/start.ts";
import type { Log, LogFields } from "../../../../agent/ops/log.ts";

export interface RunnerArgs {
  readonly backend: BackendType;
  /** Peer subnets ("10.244.3.0/24" or IPv6), each with its public IP. */
  readonly peers: readonly { readonly subnet: string; readonly publicIP: string }[];
  readonly intervalMs: number;
  readonly unreachableAfterMs: number;
  /** Only with `addresses` (the daemon's probes wait min(2 s, interval)). */
  readonly timeoutMs?: number;
  /** Probe these addresses instead of the peers' (a plain underlay without flannel). */
  readonly addresses?: readonly string[];
}

const args = JSON.parse(process.argv[2] ?? "{}") as RunnerArgs;
const say = (line: string): void => void process.stdout.write(`${line}\n`);

const log: Log = {
  error: (message, fields) => say(`LOG ${JSON.stringify({ level: "error", message, ...fields })}`),
  warn: (message, fields) => say(`LOG ${JSON.stringify({ level: "warn", message, ...fields })}`),
  info: (message, fields) => say(`LOG ${JSON.stringify({ level: "info", message, ...fields })}`),
  debug: (message, fields) => say(`LOG ${JSON.stringify({ level: "debug", message, ...fields })}`),
  child: (_fields: LogFields) => log,
};

const peers: Peer[] = args.peers.map((peer) => {
  const subnet = parseCidr(peer.subnet)!;
  return { ...(subnet.family === 4 ? { subnet } : { subnetV6: subnet }), publicIP: parseIp(peer.publicIP)!, backendType: args.backend };
});
const options = { intervalMs: args.intervalMs, unreachableAfterMs: args.unreachableAfterMs, log };
let probes: ProbeStats & { close(): Promise<void> };
if (args.addresses === undefined) {
  probes = await startPeerProbes({ ...options, backend: args.backend, peers: () => peers });
} else {
  const targets = args.addresses.map((address) => ({ peer: address, family: parseIp(address)!.family, address }));
  probes = createProber(
    (receive) => {
      const transport = openIcmpTransport(receive);
      return {
        send(family, address, message, done) {
          say(`SENT ${address}`);
          transport.send(family, address, message, done);
        },
        close: () => transport.close(),
      };
    },
    { ...options, targets: () => targets, ...(args.timeoutMs === undefined ? {} : { timeoutMs: args.timeoutMs }) },
  );
}
const stats = setInterval(() => say(`STATS ${JSON.stringify(probes.peers())}`), 200);
process.once("SIGTERM", () => {
  clearInterval(stats);
  void probes.close().then(() => say("CLOSED"));
});
