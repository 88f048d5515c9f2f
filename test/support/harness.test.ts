// The test harness itself: namespaces appear and disappear with the run's prefix, the underlay
// connects nodes, processes end by PID, etcd starts healthy and survives a restart.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, describe, test } from "node:test";
import { run } from "../../deploy/lab/tools/command.ts";
import { startEtcd } from "./etcd.ts";
import { createNamespace, createUnderlay, listRunNamespaces } from "./netns.ts";
import { isAlive } from "../../deploy/lab/tools/exit-guard.ts";
import { spawnProcess, waitForFile } from "./process.ts";
import { needsRoot } from "./root.ts";
import { runPrefix } from "./run-context.ts";

describe("test harness", { skip: needsRoot }, () => {
  test("a namespace carries the run prefix and is gone after remove()", async () => {
    const ns = await createNamespace("h");
    assert.ok(ns.name.startsWith(runPrefix));
    assert.ok(listRunNamespaces().includes(ns.name));
    const links = await ns.ipJson<Array<{ ifname: string; operstate: string }>>("link", "show");
    assert.deepEqual(links.map((link) => link.ifname), ["lo"]);
    await ns.remove();
    assert.ok(!listRunNamespaces().includes(ns.name));
  });

  test("an underlay joins node namespaces so they reach each other and not the root namespace", async () => {
    const rootLinksBefore = (await run(["ip", "-br", "link"])).stdout;
    const underlay = await createUnderlay(3);
    after(() => underlay.remove());
    const [n1, , n3] = underlay.nodes;
    await n1!.ns.exec(["ping", "-c1", "-W2", n3!.address]);
    await n3!.ns.exec(["ping", "-c1", "-W2", underlay.gateway]);
    assert.equal((await run(["ip", "-br", "link"])).stdout, rootLinksBefore, "the root namespace's links changed");
    await underlay.remove();
    for (const node of underlay.nodes) assert.ok(!listRunNamespaces().includes(node.ns.name));
  });

  test("a process spawned in a namespace is ended by PID, and removing the namespace ends its processes", async () => {
    const ns = await createNamespace("p");
    after(() => ns.remove());
    const sleeper = spawnProcess(["sleep", "300"], { netns: ns.name });
    const marker = `/tmp/${runPrefix}marker-${process.pid}`;
    const writer = spawnProcess(["sh", "-c", `touch ${marker}; exec sleep 300`], { netns: ns.name });
    await waitForFile(marker, { timeoutMs: 5000 });
    await run(["rm", "-f", marker]);
    const exit = await sleeper.stop();
    assert.equal(exit.signal, "SIGTERM");
    assert.ok(!isAlive(sleeper.pid));
    assert.ok(isAlive(writer.pid));
    await ns.remove();
    await writer.exited;
    assert.ok(!isAlive(writer.pid));
  });

  test("etcd starts healthy, keeps its data across a restart and removes its data dir on dispose", async () => {
    const etcd = await startEtcd();
    try {
      await etcd.etcdctl("put", "/harness/key", "value-1");
      await etcd.stop();
      await etcd.start();
      assert.equal((await etcd.etcdctl("get", "--print-value-only", "/harness/key")).trim(), "value-1");
    } finally {
      await etcd.dispose();
    }
    assert.ok(!existsSync(etcd.dataDir));
  });
});
