// `npm run bench -- cni`: what our CNI plugin costs per pod, against what it cannot avoid.
// In one run, interleaved round by round (so machine noise hits every variant alike), inside a
// node namespace made for the run:
//   - dist/bin/flannel ADD and DEL (which hands over to bridge + host-local),
//   - the bare bridge plugin ADD and DEL with the equivalent (delegate) config,
//   - `node -e 0` on the same pinned Node (the runtime's own boot time).
// Target (issue 5): flannel ADD median ≤ bridge ADD median + 1.3 × node boot median, and
// flannel ADD p95 ≤ 1.3 × its median. Also: artefact size and its cold-start time.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createNamespace } from "../support/netns.ts";
import { runPrefix } from "../support/run-context.ts";
import { summarize, writeResults, type Summary } from "./stats.ts";

const projectRoot = resolve(import.meta.dirname, "../..");
const plugin = join(projectRoot, "dist/bin/flannel");
const rounds = Number(process.env.CNI_BENCH_ROUNDS ?? 200);

const node = await createNamespace("cnibench");
const scratch = mkdtempSync(join(tmpdir(), `${runPrefix}cnibench-`));
try {
  writeFileSync(join(scratch, "subnet.env"), "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.9.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n");
  const flannelConf = {
    cniVersion: "0.3.1",
    name: "cbr0",
    type: "flannel",
    subnetFile: join(scratch, "subnet.env"),
    dataDir: join(scratch, "flannel-data"),
    delegate: { hairpinMode: true, isDefaultGateway: true },
  };
  // What flannel's delegate is for this subnet.env (§9.3), for the bare bridge variant; its own
  // host-local data dir and bridge so the two never share an allocation.
  const bridgeConf = {
    cniVersion: "0.3.1",
    name: "cbr0",
    type: "bridge",
    bridge: "cni1",
    hairpinMode: true,
    isDefaultGateway: true,
    isGateway: true,
    ipMasq: true,
    mtu: 1450,
    ipam: { type: "host-local", ranges: [[{ subnet: "10.244.10.0/24" }]], routes: [{ dst: "10.244.0.0/16" }], dataDir: join(scratch, "bridge-ipam") },
  };
  const inner = join(import.meta.dirname, "cni-loop.ts");
  const input = JSON.stringify({ plugin, rounds, flannelConf, bridgeConf, podPrefix: `${runPrefix}cbp` });
  const result = spawnSync("ip", ["netns", "exec", node.name, process.execPath, inner], { input, encoding: "utf8", maxBuffer: 64 << 20, stdio: ["pipe", "pipe", "inherit"] });
  if (result.status !== 0) throw new Error(`cni-loop failed (exit ${result.status})`);
  const samples = JSON.parse(result.stdout) as Record<"flannelAdd" | "flannelDel" | "bridgeAdd" | "bridgeDel" | "nodeBoot" | "coldStart", number[]>;

  const s = Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, summarize(values)])) as Record<keyof typeof samples, Summary>;
  const budget = s.bridgeAdd.medianMs + 1.3 * s.nodeBoot.medianMs;
  const ratios = {
    flannelAddOverBridgeAdd: round(s.flannelAdd.medianMs / s.bridgeAdd.medianMs),
    flannelDelOverBridgeDel: round(s.flannelDel.medianMs / s.bridgeDel.medianMs),
    flannelAddOverheadOverNodeBoot: round((s.flannelAdd.medianMs - s.bridgeAdd.medianMs) / s.nodeBoot.medianMs),
    flannelAddP95OverMedian: round(s.flannelAdd.p95Ms / s.flannelAdd.medianMs),
  };
  const sizeBytes = statSync(plugin).size;
  const lines = [
    `rounds: ${rounds} (interleaved)`,
    `flannel ADD  median ${s.flannelAdd.medianMs} ms  p95 ${s.flannelAdd.p95Ms} ms`,
    `bridge  ADD  median ${s.bridgeAdd.medianMs} ms  p95 ${s.bridgeAdd.p95Ms} ms`,
    `flannel DEL  median ${s.flannelDel.medianMs} ms  p95 ${s.flannelDel.p95Ms} ms`,
    `bridge  DEL  median ${s.bridgeDel.medianMs} ms  p95 ${s.bridgeDel.p95Ms} ms`,
    `node -e 0    median ${s.nodeBoot.medianMs} ms  p95 ${s.nodeBoot.p95Ms} ms`,
    `ratios: flannel/bridge ADD ${ratios.flannelAddOverBridgeAdd}, DEL ${ratios.flannelDelOverBridgeDel}; ` +
      `(flannel − bridge) ADD / node boot ${ratios.flannelAddOverheadOverNodeBoot} (target ≤ 1.3); flannel ADD p95/median ${ratios.flannelAddP95OverMedian} (target ≤ 1.3)`,
    `target: flannel ADD median ≤ ${round(budget)} ms → ${s.flannelAdd.medianMs <= budget ? "met" : "NOT met"}`,
    `artefact: ${plugin} ${(sizeBytes / 1048576).toFixed(1)} MiB; cold start (page cache of the file dropped) median ${s.coldStart.medianMs} ms over ${s.coldStart.n}`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  const path = writeResults("cni", { rounds, summaries: s, ratios, budgetMs: round(budget), targetMet: s.flannelAdd.medianMs <= budget, artefactBytes: sizeBytes });
  process.stdout.write(`results: ${path}\n`);
} finally {
  await node.remove();
  rmSync(scratch, { recursive: true, force: true });
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
