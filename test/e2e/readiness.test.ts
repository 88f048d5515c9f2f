// End to end on 2-node vxlan labs: /readyz follows what happens. With etcd stopped, every agent
// answers 503 within one resync, naming its interrupted lease watch, while /healthz stays 200
// (kubelet must not restart the agents) and pod-to-pod traffic loses nothing; /metrics shows the
// watch interrupted and the datastore errors. With etcd back, every agent is ready again. The same
// in kube mode with the lab's API server stopped and started.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { Lab } from "../../deploy/lab/lab.ts";
import { waitFor } from "../../deploy/lab/tools/wait.ts";
import { sampleSum, sampleValue } from "../agent/ops/exposition.ts";
import { spawnProcess } from "../support/process.ts";
import { needsRoot } from "../support/root.ts";
import { agentGet, assertConverged, buildUnlessInSuite, etcdSwitch, type EtcdSwitch, oneResyncDeadlineMs, parsePingStats, scrapeMetrics, startTestLab, tearDown } from "./lab-fixture.ts";

describe("readiness in a vxlan lab while etcd is stopped and started again", { skip: needsRoot, timeout: 180_000 }, () => {
  let lab: Lab | undefined;
  let etcd: EtcdSwitch | undefined;
  before(async () => {
    await buildUnlessInSuite();
    lab = await startTestLab({ nodes: 2, backend: "vxlan" });
    etcd = etcdSwitch(lab);
    await assertConverged(lab, "the lab did not converge");
  });
  after(async () => {
    await etcd?.close();
    await tearDown(lab);
  });

  test("503 within one resync naming the watch, /healthz 200, no ping lost; 200 again once etcd is back", async () => {
    const theLab = lab!;
    const [node1, node2] = theLab.nodes as [Lab["nodes"][0], Lab["nodes"][0]];
    for (const node of theLab.nodes) assert.deepEqual(await agentGet(node, "/readyz"), { status: 200, body: "ok\n" }, node.name);

    // Pods on node1 and node2 ping each other every 50 ms through the whole outage.
    const ping = spawnProcess(["ping", "-n", "-q", "-i", "0.05", "-W", "1", node2.pods[0]!.ip], { netns: node1.pods[0]!.ns });
    try {
      await sleep(500);
      await etcd!.stop();
      const stoppedAt = Date.now();
      const bodies = await Promise.all(
        theLab.nodes.map((node) =>
          waitFor(
            async () => {
              const answer = await agentGet(node, "/readyz");
              return answer.status === 503 ? answer.body : undefined;
            },
            { what: `/readyz 503 on ${node.name}`, timeoutMs: oneResyncDeadlineMs, intervalMs: 100 },
          ),
        ),
      );
      const turnedAfterMs = Date.now() - stoppedAt;
      for (const body of bodies) {
        assert.match(body, /^datastore watch: leases interrupted since \S+ \(etcd-unavailable\), reconnecting$/m, body);
        assert.ok(!body.includes("reconcile:") && !body.includes("device:") && !body.includes("rules:"), `only the datastore fails:\n${body}`);
      }
      for (const node of theLab.nodes) assert.deepEqual(await agentGet(node, "/healthz"), { status: 200, body: "ok\n" }, `${node.name} liveness`);

      // A few seconds of outage: the watch keeps retrying and stays down.
      await sleep(4000);
      assert.equal((await agentGet(node1, "/readyz")).status, 503, "a watch that keeps retrying is not alive");
      const during = await scrapeMetrics(node1);
      assert.equal(sampleValue(during, "flannel_datastore_watch_following", { watch: "leases" }), 0);
      assert.equal(sampleValue(during, "flannel_ready"), 0);
      assert.equal(sampleValue(during, "flannel_lease_held"), 1, "the lease is not lost by an outage");
      assert.ok(sampleSum(during, "flannel_datastore_watch_restarts_total", { watch: "leases" }) >= 1, "no watch restart counted");
      assert.ok(sampleSum(during, "flannel_datastore_errors_total", { datastore: "etcd", code: "etcd-unavailable" }) >= 1, "no datastore error counted");

      await etcd!.start();
      const startedAt = Date.now();
      await Promise.all(
        theLab.nodes.map((node) =>
          waitFor(async () => (await agentGet(node, "/readyz")).status === 200, { what: `/readyz 200 again on ${node.name}`, timeoutMs: 20_000, intervalMs: 200 }),
        ),
      );
      const recoveredAfterMs = Date.now() - startedAt;
      const afterwards = await scrapeMetrics(node1);
      assert.equal(sampleValue(afterwards, "flannel_datastore_watch_following", { watch: "leases" }), 1);
      assert.equal(sampleValue(afterwards, "flannel_ready"), 1);
      await sleep(500);
      const exit = await ping.stop("SIGINT");
      const stats = parsePingStats(ping.output());
      assert.ok(stats.transmitted > 100, `only ${stats.transmitted} pings sent`);
      assert.equal(stats.received, stats.transmitted, `pings lost during the etcd outage:\n${ping.output()}`);
      console.log(`# 503 after ${turnedAfterMs} ms (limit ${oneResyncDeadlineMs}); 200 again ${recoveredAfterMs} ms after etcd restarted; ping ${stats.received}/${stats.transmitted} (exit ${exit.code})`);
    } finally {
      await ping.stop("SIGKILL");
      if (!etcd!.running) await etcd!.start();
    }
  });
});

describe("readiness in a kube-mode vxlan lab while the API server is stopped and started again", { skip: needsRoot, timeout: 180_000 }, () => {
  let lab: Lab | undefined;
  before(async () => {
    await buildUnlessInSuite();
    lab = await startTestLab({ nodes: 2, backend: "vxlan", kube: true });
  });
  after(() => tearDown(lab));

  test("503 within one resync naming the nodes watch, /healthz 200; 200 again once the API server is back", async () => {
    const theLab = lab!;
    const api = theLab.kube!;
    for (const node of theLab.nodes) assert.deepEqual(await agentGet(node, "/readyz"), { status: 200, body: "ok\n" }, node.name);
    await api.call("stop");
    let restarted = false;
    try {
      for (const node of theLab.nodes) {
        const body = await waitFor(
          async () => {
            const answer = await agentGet(node, "/readyz");
            return answer.status === 503 ? answer.body : undefined;
          },
          { what: `/readyz 503 on ${node.name}`, timeoutMs: oneResyncDeadlineMs, intervalMs: 100 },
        );
        assert.match(body, /^datastore watch: nodes interrupted since \S+ \(kube-unavailable\), reconnecting$/m, body);
        assert.ok(!/^lease:/m.test(body), `a kube lease never expires:\n${body}`);
        assert.deepEqual(await agentGet(node, "/healthz"), { status: 200, body: "ok\n" });
      }
      await api.call("start");
      restarted = true;
      for (const node of theLab.nodes) {
        await waitFor(async () => (await agentGet(node, "/readyz")).status === 200, { what: `/readyz 200 again on ${node.name}`, timeoutMs: 20_000, intervalMs: 200 });
      }
      const m = await scrapeMetrics(theLab.nodes[0]!);
      assert.equal(sampleValue(m, "flannel_datastore_watch_following", { watch: "nodes" }), 1);
      assert.ok(sampleSum(m, "flannel_datastore_errors_total", { datastore: "kube" }) >= 1, "no datastore error counted");
      assert.equal(m.get("flannel_lease_expiry_timestamp_seconds")?.samples.length, 0, "kube leases have no expiry to export");
    } finally {
      if (!restarted) await api.call("start");
    }
  });
});
