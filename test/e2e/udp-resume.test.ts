// End to end, udp backend: an agent restarted while etcd is down forwards pod traffic again at
// once, from the table its previous run saved beside subnet.env (backends/udp/resume.ts) — before
// it can read its config, lease or peers. Without that, the node would carry nothing until etcd
// came back. Once etcd is back, the agent finishes its start and adopts that data plane.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { snapshotFileBeside } from "../../backends/udp/data-plane-snapshot.ts";
import { run } from "../../deploy/lab/tools/command.ts";
import type { Lab } from "../../deploy/lab/lab.ts";
import { needsRoot } from "../support/root.ts";
import { waitFor } from "../support/process.ts";
import { needsAddon } from "../backends/udp/udp-fixture.ts";
import { assertConverged, buildUnlessInSuite, etcdSwitch, parsePingStats, startTestLab, tearDown, type EtcdSwitch } from "./lab-fixture.ts";

describe("udp lab: an agent restarted while etcd is down", { skip: needsRoot || needsAddon, timeout: 240_000 }, () => {
  let lab: Lab | undefined;
  let etcd: EtcdSwitch | undefined;
  before(async () => {
    await buildUnlessInSuite();
    lab = await startTestLab({ nodes: 2, backend: "udp" });
    etcd = etcdSwitch(lab);
    await assertConverged(lab, "the lab did not converge");
  });
  after(async () => {
    await etcd?.close();
    await tearDown(lab);
  });

  test("forwards with its previous table before it hears from etcd, then adopts that data plane once etcd is back", async () => {
    const theLab = lab!;
    const [node1, node2] = [theLab.nodes[0]!, theLab.nodes[1]!];
    const snapshot = snapshotFileBeside(node2.flanneld.subnetFile);
    await waitFor(() => existsSync(snapshot) || undefined, { what: `${snapshot} written`, timeoutMs: 10_000, intervalMs: 100 });

    await etcd!.stop();
    await node2.flanneld.kill();
    const logBefore = readFileSync(node2.flanneld.logFile, "utf8").length;
    node2.flanneld.start();
    const logSince = (): string => readFileSync(node2.flanneld.logFile, "utf8").slice(logBefore);
    await waitFor(() => /waiting for the network config/.test(logSince()) || undefined, { what: "the restarted agent waiting for etcd", timeoutMs: 20_000, intervalMs: 100 });

    const ping = await run(["ip", "netns", "exec", node1.pods[0]!.ns, "ping", "-n", "-q", "-c", "20", "-i", "0.05", "-W", "1", node2.pods[0]!.ip], { allowFailure: true, timeoutMs: 30_000 });
    const stats = parsePingStats(ping.stdout);
    assert.equal(stats.received, stats.transmitted, `pod → pod while node2's agent waits for etcd: ${ping.stdout}`);
    assert.match(logSince(), /udp data plane resumed with the previous run's table/);
    assert.doesNotMatch(logSince(), /lease acquired/, "the agent heard from etcd: the test proves nothing");

    await etcd!.start();
    await node2.flanneld.waitReady({ timeoutMs: 30_000 });
    assert.match(logSince(), /udp data plane kept: the one resumed at start/);
    await assertConverged(theLab, "pods unreachable after etcd came back");
  });
});
