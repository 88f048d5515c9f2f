// Not a test: measures what N rule resyncs with nothing to repair cost in CPU — this process's
// user+system time plus that of the iptables/nft processes it ran (reaped children,
// /proc/self/stat cutime+cstime; the `nft monitor` counts once the keeper is closed) — for a read
// every time (checkNow) and for idle timer resyncs with the `nft monitor` feed. Run as root:
//   node_modules/node/bin/node test/backends/kernel/rules/resync-cost.measure.ts [checks] [foreignRules]
// It re-runs itself inside a fresh test namespace, so the tools run without an `ip netns exec`
// in front (as in the agent), and the namespace's nat/filter tables get `foreignRules` rules of
// someone else's (a kube-proxy-sized table) before the keeper starts.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { spawnCoprocess } from "../../../../backends/kernel/batch-process.ts";
import { execCommandRunner } from "../../../../backends/kernel/command-runner.ts";
import { startRuleKeeper, type RuleKeeperOptions } from "../../../../backends/kernel/rules/rule-keeper.ts";
import { run } from "../../../../deploy/lab/tools/command.ts";
import { createNamespace } from "../../../support/netns.ts";
import { cidr } from "./firewall-fixture.ts";

const checks = Number(process.argv[2] ?? 200);
const foreign = Number(process.argv[3] ?? 0);
const ticksPerSecond = 100;

function childrenCpuMs(): number {
  const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  // After "pid (comm) ": state is field 3, so cutime (16) and cstime (17) are at 13 and 14.
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / ticksPerSecond;
}

async function fillForeign(): Promise<void> {
  const lines = ["*nat", ":KUBE-TEST - [0:0]", "-A POSTROUTING -j KUBE-TEST"];
  for (let i = 0; i < foreign; i++) lines.push(`-A KUBE-TEST -d 172.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32 -p tcp --dport 80 -j RETURN`);
  lines.push("COMMIT", "*filter", ":KUBE-TEST - [0:0]", "-A FORWARD -j KUBE-TEST");
  for (let i = 0; i < foreign; i++) lines.push(`-A KUBE-TEST -d 172.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32 -p tcp --dport 80 -j ACCEPT`);
  lines.push("COMMIT", "");
  await run(["iptables-restore", "--noflush"], { input: lines.join("\n") });
}

const log = { info: () => {}, warn: (m: string, f?: object) => console.error(m, f) };

function keeperOptions(mode: RuleKeeperOptions["mode"], resyncMs: number, feed: boolean): RuleKeeperOptions {
  return {
    runner: execCommandRunner,
    ...(feed ? { spawner: spawnCoprocess } : {}),
    mode,
    families: [{ family: 4, network: cidr("10.244.0.0/16"), subnet: cidr("10.244.1.0/24") }],
    masquerade: true,
    forward: true,
    randomFullyDisable: false,
    resyncMs,
    log,
  };
}

/** Idle timer resyncs, with or without the feed: CPU per resync, the monitor included. */
async function measureTimer(mode: RuleKeeperOptions["mode"], feed: boolean): Promise<void> {
  const resyncMs = 20;
  const keeper = await startRuleKeeper(keeperOptions(mode, resyncMs, feed), new AbortController().signal);
  // Let the first timer reads settle, then count.
  while (keeper.stats().checks < 5) await new Promise((resolve) => setTimeout(resolve, resyncMs));
  const own0 = process.cpuUsage();
  const children0 = childrenCpuMs();
  const checks0 = keeper.stats().checks;
  const skipped0 = keeper.stats().skippedReads ?? 0;
  while (keeper.stats().checks < checks0 + checks) await new Promise((resolve) => setTimeout(resolve, resyncMs));
  const n = keeper.stats().checks - checks0;
  const skipped = (keeper.stats().skippedReads ?? 0) - skipped0;
  await keeper.close();
  const own = process.cpuUsage(own0);
  const ownMs = (own.user + own.system) / 1000;
  const childMs = childrenCpuMs() - children0;
  console.log(
    `${mode} timer${feed ? " + nft monitor" : ""}: ${n} resyncs (${skipped} reads skipped), ${foreign} foreign rules: agent ${(ownMs / n).toFixed(2)} ms + children ${(childMs / n).toFixed(2)} ms CPU per resync ` +
      `(= ${(((ownMs + childMs) / n / 5000) * 100).toFixed(3)} % of a core at a 5 s resync; the timer's own 20 ms wake-ups included)`,
  );
}

async function measure(mode: RuleKeeperOptions["mode"]): Promise<void> {
  const controller = new AbortController();
  const keeper = await startRuleKeeper(keeperOptions(mode, 3_600_000, false), controller.signal);
  const own0 = process.cpuUsage();
  const children0 = childrenCpuMs();
  const started = performance.now();
  for (let i = 0; i < checks; i++) {
    const report = await keeper.checkNow();
    if (report.repaired !== 0) throw new Error("a check found drift in a quiet namespace");
  }
  const wall = performance.now() - started;
  const own = process.cpuUsage(own0);
  const ownMs = (own.user + own.system) / 1000;
  const childMs = childrenCpuMs() - children0;
  await keeper.close();
  console.log(
    `${mode}: ${checks} checks, ${foreign} foreign rules: agent ${(ownMs / checks).toFixed(2)} ms + children ${(childMs / checks).toFixed(2)} ms CPU per check ` +
      `(= ${(((ownMs + childMs) / checks / 5000) * 100).toFixed(3)} % of a core at a 5 s resync); wall ${(wall / checks).toFixed(2)} ms per check`,
  );
}

if (process.env.RESYNC_COST_INSIDE === "1") {
  if (foreign > 0) await fillForeign();
  await measure("iptables");
  await measure("nftables");
  for (const mode of ["iptables", "nftables"] as const) {
    await measureTimer(mode, false);
    await measureTimer(mode, true);
  }
} else {
  const ns = await createNamespace("cost");
  try {
    const self = fileURLToPath(import.meta.url);
    const result = await run(["ip", "netns", "exec", ns.name, process.execPath, self, String(checks), String(foreign)], {
      env: { ...process.env, RESYNC_COST_INSIDE: "1" },
      timeoutMs: 600_000,
    });
    process.stdout.write(result.stdout);
    process.stderr.write(result.stderr);
  } finally {
    await ns.remove();
  }
}
