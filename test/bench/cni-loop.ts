// The measuring loop of the cni benchmark, run inside the benchmark's node namespace (so each
// plugin is exec'd directly, as a runtime would, with no `ip netns exec` in the timing). Reads
// its parameters as JSON on stdin and prints the samples (ms) as JSON on stdout.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

interface Parameters {
  readonly plugin: string;
  readonly rounds: number;
  readonly flannelConf: object;
  readonly bridgeConf: object;
  readonly podPrefix: string;
}

const parameters = JSON.parse(readFileSync(0, "utf8")) as Parameters;
// The environment a runtime gives a plugin: its own PATH plus the CNI_* variables, no NODE_*.
const baseEnv = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" };

function timed(file: string, args: string[], env: Record<string, string>, input: string): number {
  const start = performance.now();
  const result = spawnSync(file, args, { env, input, encoding: "utf8" });
  const elapsed = performance.now() - start;
  if (result.status !== 0) throw new Error(`${file} ${env.CNI_COMMAND ?? args.join(" ")} failed (exit ${result.status}): ${result.stdout}${result.stderr}`);
  return elapsed;
}

function ipNetns(...args: string[]): void {
  const result = spawnSync("ip", ["netns", ...args], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`ip netns ${args.join(" ")}: ${result.stderr}`);
}

function cni(command: string, file: string, conf: object, pod: string, containerId: string): number {
  const env = {
    ...baseEnv,
    CNI_COMMAND: command,
    CNI_CONTAINERID: containerId,
    CNI_NETNS: `/var/run/netns/${pod}`,
    CNI_IFNAME: "eth0",
    CNI_PATH: "/usr/lib/cni",
  };
  return timed(file, [], env, JSON.stringify(conf));
}

const samples = { flannelAdd: [] as number[], flannelDel: [] as number[], bridgeAdd: [] as number[], bridgeDel: [] as number[], nodeBoot: [] as number[], coldStart: [] as number[] };
const warmup = 3;
for (let round = -warmup; round < parameters.rounds; round++) {
  const podA = `${parameters.podPrefix}a${round + warmup}`;
  const podB = `${parameters.podPrefix}b${round + warmup}`;
  ipNetns("add", podA);
  ipNetns("add", podB);
  try {
    const fa = cni("ADD", parameters.plugin, parameters.flannelConf, podA, `bench-f-${round + warmup}`);
    const ba = cni("ADD", "/usr/lib/cni/bridge", parameters.bridgeConf, podB, `bench-b-${round + warmup}`);
    const nb = timed(process.execPath, ["-e", "0"], baseEnv, "");
    const fd = cni("DEL", parameters.plugin, parameters.flannelConf, podA, `bench-f-${round + warmup}`);
    const bd = cni("DEL", "/usr/lib/cni/bridge", parameters.bridgeConf, podB, `bench-b-${round + warmup}`);
    if (round >= 0) {
      samples.flannelAdd.push(fa);
      samples.bridgeAdd.push(ba);
      samples.nodeBoot.push(nb);
      samples.flannelDel.push(fd);
      samples.bridgeDel.push(bd);
    }
  } finally {
    ipNetns("del", podA);
    ipNetns("del", podB);
  }
}

// Cold start: drop the page cache of the plugin file only (nothing machine-wide), then time one
// VERSION call, which execs nothing else.
for (let i = 0; i < 5; i++) {
  const dropped = spawnSync("dd", [`if=${parameters.plugin}`, "iflag=nocache", "count=0"], { encoding: "utf8" });
  if (dropped.status !== 0) throw new Error(`dd: ${dropped.stderr}`);
  samples.coldStart.push(timed(parameters.plugin, [], { ...baseEnv, CNI_COMMAND: "VERSION" }, '{"cniVersion":"1.0.0"}'));
}
process.stdout.write(JSON.stringify(samples));
