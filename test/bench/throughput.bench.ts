// `npm run bench -- throughput`: pod → pod TCP throughput across two nodes, agent-programmed
// versus Flannel's kernel objects and rules programmed by hand, vxlan and host-gw, in one run.
//   agent:   deploy/lab (startLab): real etcd, real flanneld per node run with --ip-masq (as
//            Flannel's kube-flannel.yml runs it), pods through the flannel CNI plugin
//            (bridge + host-local).
//   by hand: hand-bed.ts — the same underlay and pod wiring, Flannel's objects by hand, and
//            Flannel's masquerade and forward rules written from the reference (flannel-rules.ts),
//            not copied from the agent: a wrong or extra rule of the agent costs it throughput
//            here, and the agent's rules are also listed against Flannel's before measuring.
// iperf3 (iperf.ts), 1 stream and -P 4, BENCH_REPS × BENCH_SECONDS (default 7 × 10 s): each rep
// runs every case, agent and by hand back to back (which goes first alternates), so machine
// noise hits both alike. Reported: medians, min–max and spread, the ratio of medians and the
// per-rep ratios (target ≥ 0.97). Nothing is asserted.
import { randomBytes } from "node:crypto";
import { startLab, type Lab } from "../../deploy/lab/lab.ts";
import { unreachablePairs } from "../../deploy/lab/status.ts";
import { run } from "../../deploy/lab/tools/command.ts";
import { cleanup, interrupted, onCleanup } from "./cleanup.ts";
import { diffWithFlannel, type RuleDiff } from "./flannel-rules.ts";
import { buildBed, waitPodsReach } from "./hand-bed.ts";
import { iperfOnce, type Endpoints } from "./iperf.ts";
import { round, writeResults } from "./stats.ts";
import { describeRatio, describeSeries, ratio, summarizeSeries, type Outcome } from "./throughput-series.ts";
import { describeSettings, throughputSettings } from "./throughput-settings.ts";

type Backend = "vxlan" | "host-gw";
const targetRatio = 0.97;
const out = (text: string): void => void process.stdout.write(`${text}\n`);

async function podMtu(pod: string): Promise<number> {
  const { stdout } = await run(["ip", "netns", "exec", pod, "cat", "/sys/class/net/eth0/mtu"]);
  return Number(stdout.trim());
}

/** flannel.1's vxlan attributes (ip -d -json), for comparing the agent's device with ours. */
async function vxlanInfo(ns: string): Promise<Record<string, unknown>> {
  const { stdout } = await run(["ip", "-n", ns, "-d", "-json", "link", "show", "flannel.1"]);
  const [link] = JSON.parse(stdout) as Array<{ mtu: number; linkinfo?: { info_data?: Record<string, unknown> } }>;
  return { mtu: link?.mtu, ...link?.linkinfo?.info_data };
}

/** The agent's netfilter rules on each lab node against Flannel's for that node's subnet. */
async function agentRuleDiffs(lab: Lab): Promise<Record<string, RuleDiff>> {
  const diffs: Record<string, RuleDiff> = {};
  for (const node of lab.nodes) {
    const subnet = node.subnet();
    if (subnet === undefined) throw new Error(`lab node ${node.name} has no subnet`);
    diffs[node.name] = await diffWithFlannel(node.ns, lab.options.network, subnet);
  }
  return diffs;
}

function describeDiffs(diffs: Record<string, RuleDiff>): string {
  const lines = Object.entries(diffs).flatMap(([node, diff]) => [
    ...diff.missing.map((rule) => `    ${node} lacks:  ${rule}`),
    ...diff.extra.map((rule) => `    ${node} extra:  ${rule}`),
  ]);
  return lines.length === 0 ? "identical to Flannel's (§8.1 + §8.2) on every node" : `differ from Flannel's:\n${lines.join("\n")}`;
}

interface Setup {
  readonly backend: Backend;
  readonly agent: Endpoints;
  readonly hand: Endpoints;
  readonly mtu: number;
}

try {
  const settings = throughputSettings();
  out(`throughput: ${describeSettings(settings)}`);
  const tag = randomBytes(2).toString("hex");
  const setups: Setup[] = [];
  const deviceCheck: Record<string, unknown> = {};
  const ruleCheck: Record<string, Record<string, RuleDiff>> = {};
  for (const backend of ["vxlan", "host-gw"] as const) {
    const short = backend === "vxlan" ? "vx" : "hg";
    out(`starting the ${backend} lab (2 nodes, --ip-masq) and the by-hand ${backend} bed …`);
    // Registered before the start: a Ctrl-C during start-up waits for startLab to remove what it made.
    const starting = startLab({ name: `tp${tag}-${short}`, nodes: 2, backend, podsPerNode: 1, ipMasq: true }, interrupted);
    onCleanup(async () => void (await (await starting.catch(() => undefined))?.teardown()));
    const lab = await starting;
    const src = lab.nodes[0]!.pods[0]!;
    const dst = lab.nodes[1]!.pods[0]!;
    const agent = { srcPod: src.ns, dstPod: dst.ns, dstIp: dst.ip };
    const matrix = await lab.waitConverged({ timeoutMs: 30_000 });
    const mtu = await podMtu(agent.srcPod);
    const bed = await buildBed(`tp${tag}-h${short}`, backend, mtu);
    await waitPodsReach(bed);
    await waitPodsReach(agent);
    out(`  lab ${lab.name}: pods ${agent.srcPod} → ${agent.dstIp}, pod MTU ${mtu}; unreachable pod pairs ${unreachablePairs(matrix).length}`);
    ruleCheck[backend] = await agentRuleDiffs(lab);
    out(`  agent's netfilter rules ${describeDiffs(ruleCheck[backend]!)}`);
    if (backend === "vxlan") {
      const [agentDevice, handDevice] = await Promise.all([vxlanInfo(lab.nodes[0]!.ns), vxlanInfo(bed.nodes[0].ns)]);
      const differing = [...new Set([...Object.keys(agentDevice), ...Object.keys(handDevice)])].filter(
        (key) => JSON.stringify(agentDevice[key]) !== JSON.stringify(handDevice[key]) && key !== "local",
      );
      Object.assign(deviceCheck, { agent: agentDevice, byHand: handDevice, differingAttributes: differing });
      out(`  flannel.1 attributes differing agent vs by hand (besides local): ${differing.length === 0 ? "none" : differing.map((key) => `${key}: ${JSON.stringify(agentDevice[key])} vs ${JSON.stringify(handDevice[key])}`).join(", ")}`);
    }
    setups.push({ backend, agent, hand: bed, mtu });
  }

  const outcomes = new Map<string, Outcome[]>();
  const record = (key: string, outcome: Outcome): void => void outcomes.set(key, [...(outcomes.get(key) ?? []), outcome]);
  for (let rep = 0; rep < settings.reps; rep++) {
    for (const streams of [1, 4]) {
      for (const setup of setups) {
        // Alternate which side goes first, so a drift over the run does not favour one side.
        const order = rep % 2 === 0 ? (["agent", "hand"] as const) : (["hand", "agent"] as const);
        for (const side of order) {
          const key = `${setup.backend}|${streams}|${side}`;
          const label = `  rep ${rep + 1} ${setup.backend} P${streams} ${side === "agent" ? "agent  " : "by hand"}`;
          interrupted.throwIfAborted();
          try {
            const sample = await iperfOnce(side === "agent" ? setup.agent : setup.hand, { streams, seconds: settings.seconds });
            record(key, sample);
            out(`${label}: ${sample.gbps.toFixed(2)} Gbit/s (retr ${sample.retransmits}, machine ${sample.cpu.machineCores.toFixed(2)} cores)`);
          } catch (error) {
            record(key, { failed: error instanceof Error ? error.message : String(error) });
            out(`${label}: FAILED ${error instanceof Error ? error.message : String(error)}`);
          }
        }
      }
    }
  }

  const cases: Record<string, unknown>[] = [];
  out(`\nthroughput, Gbit/s: median of ${describeSettings(settings)}; ratio agent/by-hand of medians, and per-rep (median, min–max); target ≥ ${targetRatio}`);
  out("CPU: machine busy cores (/proc/stat user+nice+system+irq+softirq over the client run, of 2) per Gbit/s, median over reps");
  for (const setup of setups) {
    for (const streams of [1, 4]) {
      const agent = outcomes.get(`${setup.backend}|${streams}|agent`) ?? [];
      const hand = outcomes.get(`${setup.backend}|${streams}|hand`) ?? [];
      const [agentSummary, handSummary, r] = [summarizeSeries(agent), summarizeSeries(hand), ratio(agent, hand)];
      out(`  ${setup.backend.padEnd(7)} ${streams === 1 ? "1 stream" : "-P 4    "}`);
      out(`    agent   ${describeSeries(agentSummary)}; ${agentSummary.machineCoresPerGbps} cores per Gbit/s`);
      out(`    by hand ${describeSeries(handSummary)}; ${handSummary.machineCoresPerGbps} cores per Gbit/s`);
      out(`    ratio   ${describeRatio(r)} ${r.ofMedians >= targetRatio ? "ok" : "MISSED"}`);
      cases.push({ backend: setup.backend, streams, podMtu: setup.mtu, agent: agentSummary, byHand: handSummary, ratio: r.ofMedians, pairedRatio: r, targetRatio });
    }
  }
  const path = writeResults("throughput", {
    method:
      `iperf3 -t ${settings.seconds} -J, ${settings.reps} reps, server -s -1 in dst pod, Gbit/s = end.sum_received; every rep runs every case, agent and by hand back to back (alternating first); ` +
      "ratio of medians and per-rep ratios; lab agents run with --ip-masq; by-hand nodes carry Flannel's masquerade and forward rules written from the reference (§8.1, §8.2), not copied from the agent",
    trialRun: !settings.full,
    reps: settings.reps,
    seconds: settings.seconds,
    cases,
    agentRulesVsFlannel: ruleCheck,
    vxlanDevice: deviceCheck,
    medianRatios: cases.map((c) => ({ backend: c.backend, streams: c.streams, ratio: round(c.ratio as number, 3) })),
  });
  out(`results: ${path}`);
} catch (error) {
  if (interrupted.aborted) process.stderr.write("interrupted: cleaning up\n");
  else process.stderr.write(`throughput bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
