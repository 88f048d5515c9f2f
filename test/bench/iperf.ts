// One iperf3 TCP run pod → pod: `iperf3 -s -1` in the destination pod (ended by PID), the client
// in the source pod with `-t SECONDS -J [-P N]`; Gbit/s = end.sum_received.bits_per_second.
// CPU time (cpu-time.ts) is read just before and just after the client, for the machine and for
// the data-plane processes named by the caller.
import { spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { run } from "../../deploy/lab/tools/command.ts";
import { onCleanup } from "./cleanup.ts";
import { cpuBetween, cpuSnapshot, type CpuUse } from "./cpu-time.ts";

export interface Endpoints {
  readonly srcPod: string;
  readonly dstPod: string;
  readonly dstIp: string;
}

export interface IperfSample {
  readonly gbps: number;
  readonly retransmits: number;
  readonly cpu: CpuUse;
}

interface IperfReport {
  readonly end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits?: number } };
}

async function waitListening(pod: string, port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const { stdout } = await run(["ip", "netns", "exec", pod, "ss", "-Hltn", `sport = :${port}`]);
    if (stdout.includes("LISTEN")) return;
    await sleep(50);
  }
  throw new Error(`iperf3 server in ${pod} did not listen on ${port}`);
}

export async function iperfOnce(where: Endpoints, options: { streams: number; seconds: number; cpuPids?: readonly number[] }): Promise<IperfSample> {
  const port = 5201 + Math.floor(Math.random() * 500);
  // `ip netns exec` execs iperf3, so this PID is the server's own.
  const server = spawn("ip", ["netns", "exec", where.dstPod, "iperf3", "-s", "-1", "-p", String(port)], { stdio: "ignore" });
  const serverGone = new Promise<void>((resolve) => server.once("exit", () => resolve()));
  const stopServer = async (): Promise<void> => {
    if (server.exitCode === null && server.signalCode === null && server.pid !== undefined) process.kill(server.pid, "SIGTERM");
    await serverGone;
  };
  const forget = onCleanup(stopServer);
  try {
    await waitListening(where.dstPod, port);
    const streams = options.streams === 1 ? [] : ["-P", String(options.streams)];
    const before = cpuSnapshot(options.cpuPids);
    const client = await run(["ip", "netns", "exec", where.srcPod, "iperf3", "-c", where.dstIp, "-p", String(port), "-t", String(options.seconds), "-J", ...streams], {
      timeoutMs: (options.seconds + 30) * 1000,
      allowFailure: true,
    });
    const cpu = cpuBetween(before, cpuSnapshot(options.cpuPids));
    if (client.code !== 0) {
      // With -J, iperf3 reports its error inside the JSON on stdout.
      const reason = /"error":\s*"([^"]*)"/.exec(client.stdout)?.[1] ?? (client.stderr.trim() || `exit ${client.code}`);
      throw new Error(`iperf3 ${where.srcPod} → ${where.dstIp}: ${reason}`);
    }
    const report = JSON.parse(client.stdout) as IperfReport;
    return { gbps: report.end.sum_received.bits_per_second / 1e9, retransmits: report.end.sum_sent.retransmits ?? 0, cpu };
  } finally {
    forget();
    await stopServer();
  }
}
