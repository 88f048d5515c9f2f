// The supervised `ip -force -batch -` coprocess against a real node namespace: bulk speed,
// per-line errors, restarts after the process is killed between or during requests, abort and
// close. The production code runs unchanged; only its command prefix points into the namespace.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createKernelBatch } from "../../../backends/kernel/batch-coprocess.ts";
import { spawnCoprocess } from "../../../backends/kernel/batch-process.ts";
import { parseBatchLine, type IpLine } from "../../../backends/kernel/batch-line.ts";
import { isFlannelError } from "../../../backends/errors.ts";
import { listRoutes } from "../../../backends/kernel/route.ts";
import { formatCidr } from "../../../backends/net/ip.ts";
import { isAlive } from "../../../deploy/lab/tools/exit-guard.ts";
import { needsRoot } from "../../support/root.ts";
import { createKernelNode, livingCoprocesses, until, type KernelNode } from "./kernel-fixture.ts";

const line = (text: string): IpLine => parseBatchLine("ip", text);

/** `count` distinct /32 pod routes under 10.<second>.0.0/16 via the fabric gateway. */
function hostRoutes(node: KernelNode, second: number, count: number, verb = "replace"): IpLine[] {
  return Array.from({ length: count }, (_, i) =>
    line(`route ${verb} 10.${second}.${(i >> 8) & 255}.${i & 255}/32 via ${node.gateway} dev ${node.device}`),
  );
}

async function routeSet(node: KernelNode): Promise<Set<string>> {
  const kernel = node.open();
  try {
    return new Set((await listRoutes(kernel.runner, 4)).map((route) => formatCidr(route.dst)));
  } finally {
    await kernel.close();
  }
}

const destination = (text: string): string => text.split(" ")[2] ?? "";

describe("ip batch coprocess", { skip: needsRoot }, () => {
  let node: KernelNode;
  before(async () => {
    node = await createKernelNode();
  });
  after(async () => {
    await node?.remove();
  });

  test("applies 5000 routes in one request and every one reads back", async (t) => {
    const kernel = node.open();
    try {
      await kernel.ip.apply([line("route replace 10.250.0.0/16 via " + node.gateway)]); // process started
      const lines = hostRoutes(node, 244, 5000);
      const started = performance.now();
      const result = await kernel.ip.apply(lines);
      const elapsed = performance.now() - started;
      t.diagnostic(`5000 routes in one request: ${elapsed.toFixed(1)} ms`);
      assert.deepEqual(result.errors, []);
      const readStarted = performance.now();
      const routes = await routeSet(node);
      t.diagnostic(`read back ${routes.size} routes (ip -d -json route show) in ${(performance.now() - readStarted).toFixed(1)} ms`);
      for (const text of lines) assert.ok(routes.has(destination(text)), `missing ${text}`);
      const again = performance.now();
      assert.deepEqual((await kernel.ip.apply(lines)).errors, [], "replace twice changes nothing and fails nothing");
      t.diagnostic(`the same 5000 again: ${(performance.now() - again).toFixed(1)} ms`);
    } finally {
      await kernel.close();
    }
  });

  test("reports the exact failing lines with the kernel's messages while the other lines apply", async () => {
    const kernel = node.open();
    try {
      const lines = [
        line(`route replace 10.245.1.0/24 via ${node.gateway} dev ${node.device}`),
        line(`route replace 10.245.2.0/24 via 10.9.9.9 dev ${node.device}`),
        line(`route add 10.245.1.0/24 via ${node.gateway} dev ${node.device}`),
        line("route replace 10.245.3.0/24 dev nosuch0"),
        line(`route replace 10.245.4.0/24 via ${node.gateway} dev ${node.device}`),
      ];
      const result = await kernel.ip.apply(lines);
      assert.deepEqual(
        result.errors.map((error) => [error.index, error.command, error.kernelMessage, error.failure, error.code, error.tool]),
        [
          [1, lines[1], "Error: Nexthop has invalid gateway.", "rejected", "kernel-command-failed", "ip"],
          [2, lines[2], "RTNETLINK answers: File exists", "already-exists", "kernel-command-failed", "ip"],
          [3, lines[3], 'Cannot find device "nosuch0"', "rejected", "kernel-command-failed", "ip"],
        ],
      );
      assert.deepEqual(result.errors[0]?.details, {
        tool: "ip",
        command: lines[1],
        message: "Error: Nexthop has invalid gateway.",
        index: 1,
        failure: "rejected",
      });
      const routes = await routeSet(node);
      assert.ok(routes.has("10.245.1.0/24") && routes.has("10.245.4.0/24"));
      assert.ok(!routes.has("10.245.2.0/24") && !routes.has("10.245.3.0/24"));
    } finally {
      await kernel.close();
    }
  });

  test("two requests in a row each report only their own errors", async () => {
    const kernel = node.open();
    try {
      const first = [line(`route replace 10.246.1.0/24 via ${node.gateway}`), line("route replace 10.246.2.0/24 dev nosuch1")];
      const second = [line("route replace 10.246.3.0/24 dev nosuch2"), line(`route replace 10.246.4.0/24 via ${node.gateway}`)];
      const [a, b] = await Promise.all([kernel.ip.apply(first), kernel.ip.apply(second)]);
      assert.deepEqual(a.errors.map((e) => [e.index, e.command]), [[1, first[1]]]);
      assert.deepEqual(b.errors.map((e) => [e.index, e.command]), [[0, second[0]]]);
      const c = await kernel.ip.apply([line(`route replace 10.246.5.0/24 via ${node.gateway}`)]);
      assert.deepEqual(c.errors, []);
    } finally {
      await kernel.close();
    }
  });

  test("restarts the process when it was killed between requests", async () => {
    const kernel = node.open();
    try {
      await kernel.ip.apply([line(`route replace 10.247.1.0/24 via ${node.gateway}`)]);
      const first = kernel.ip.pid;
      assert.ok(first !== undefined);
      // `ip netns exec` execs the tool, so the PID we hold is the coprocess itself.
      assert.equal(readFileSync(`/proc/${first}/comm`, "utf8").trim(), "ip");
      process.kill(first, "SIGKILL");
      // Straight away, before the death has been noticed: the request must still go through.
      const racing = await kernel.ip.apply([line(`route replace 10.247.2.0/24 via ${node.gateway}`)]);
      assert.deepEqual(racing.errors, []);
      const second = kernel.ip.pid;
      assert.ok(second !== undefined && second !== first);
      process.kill(second, "SIGKILL");
      await until(() => !isAlive(second) && kernel.ip.pid === undefined);
      const after = await kernel.ip.apply([line(`route replace 10.247.3.0/24 via ${node.gateway}`)]);
      assert.deepEqual(after.errors, []);
      assert.ok(kernel.ip.pid !== undefined && kernel.ip.pid !== second);
      const routes = await routeSet(node);
      for (const dst of ["10.247.1.0/24", "10.247.2.0/24", "10.247.3.0/24"]) assert.ok(routes.has(dst), dst);
    } finally {
      await kernel.close();
    }
  });

  test("killed during a request: no line runs twice, doubt is limited to one checkpoint window, the rest is re-sent", async (t) => {
    const interval = 16;
    // One process for the whole request, so that the kill cannot land on one being retired at its
    // bound (batch-lifetime.test.ts kills a writer amid replacements).
    const kernel = node.open({ checkpointInterval: interval, maxCommandsPerProcess: Infinity });
    try {
      // `add`, not `replace`: a line applied twice would come back as "File exists".
      const lines = hostRoutes(node, 248, 30000, "add");
      const pending = kernel.ip.apply(lines);
      await until(() => kernel.ip.pid !== undefined);
      const victim = kernel.ip.pid ?? 0;
      await sleep(40);
      process.kill(victim, "SIGKILL");
      const result = await pending;
      const exit = node.events.find((event) => event.kind === "exited" && event.pid === victim);
      assert.ok(exit?.kind === "exited" && exit.duringRequest && exit.signal === "SIGKILL", "the kill landed mid-request");
      const failures = new Set(result.errors.map((error) => error.failure));
      assert.deepEqual([...failures], ["outcome-unknown"], "nothing rejected (so nothing ran twice) and nothing lost");
      t.diagnostic(`lines in doubt: ${result.errors.length}: ${result.errors[0]?.message ?? ""}`);
      assert.ok(result.errors.length >= 1 && result.errors.length <= interval);
      const doubtful = new Set(result.errors.map((error) => error.index));
      const first = Math.min(...doubtful);
      assert.deepEqual([...doubtful], Array.from({ length: doubtful.size }, (_, i) => first + i), "one contiguous window");
      const routes = await routeSet(node);
      lines.forEach((text, index) => {
        if (!doubtful.has(index)) assert.ok(routes.has(destination(text)), `line ${index} neither applied nor reported`);
      });
      assert.ok(kernel.ip.pid !== undefined && kernel.ip.pid !== victim, "a new process finished the request");
    } finally {
      await kernel.close();
    }
  });

  test("a neighbour delete of an absent entry ends ip, yet is only 'already gone' and the request goes on", async () => {
    const kernel = node.open();
    try {
      const lines = [
        line(`route replace 10.249.1.0/24 via ${node.gateway}`),
        line(`neigh del 10.249.0.1 dev ${node.device}`),
        line(`route replace 10.249.2.0/24 via ${node.gateway}`),
      ];
      const before = node.events.length;
      const result = await kernel.ip.apply(lines);
      assert.deepEqual(result.errors, []);
      assert.deepEqual(result.alreadyGone, [1]);
      const exits = node.events.slice(before).filter((event) => event.kind === "exited");
      assert.deepEqual(
        exits.map((event) => event.kind === "exited" && [event.code, event.message]),
        [[2, "RTNETLINK answers: No such file or directory"]],
        "ip exited(2) on the neighbour and was replaced",
      );
      const routes = await routeSet(node);
      assert.ok(routes.has("10.249.1.0/24") && routes.has("10.249.2.0/24"));
    } finally {
      await kernel.close();
    }
  });

  test("a malformed line ends ip: its window is in doubt with ip's message, everything after it is re-sent", async () => {
    const kernel = node.open({ checkpointInterval: 4 });
    try {
      const good = (i: number): IpLine => line(`route replace 10.251.${i}.0/24 via ${node.gateway}`);
      const lines = [...Array.from({ length: 10 }, (_, i) => good(i)), line("route replace 10.251.0.0/33 dev eth0"), ...Array.from({ length: 9 }, (_, i) => good(11 + i))];
      const result = await kernel.ip.apply(lines);
      // Windows of 4: [0-3] [4-7] [8-11] …; the malformed line 10 sits in the third.
      assert.deepEqual(result.errors.map((error) => [error.index, error.failure]), [8, 9, 10, 11].map((i) => [i, "outcome-unknown"]));
      assert.match(result.errors[2]?.kernelMessage ?? "", /exited with code \d+.*any valid prefix is expected rather than "10\.251\.0\.0\/33"/s);
      const routes = await routeSet(node);
      for (const i of [0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15, 16, 17, 18, 19]) assert.ok(routes.has(`10.251.${i}.0/24`), `line ${i}`);
      assert.ok(!routes.has("10.251.11.0/24"), "the line after the malformed one never ran and was not re-sent");
    } finally {
      await kernel.close();
    }
  });

  test("an abort kills the process and rejects; the next request starts a fresh one", async () => {
    const kernel = node.open();
    try {
      const controller = new AbortController();
      const pending = kernel.ip.apply(hostRoutes(node, 252, 30000), controller.signal);
      await until(() => kernel.ip.pid !== undefined);
      const victim = kernel.ip.pid ?? 0;
      const queued = new AbortController();
      const waiting = kernel.ip.apply([line(`route replace 10.252.255.0/24 via ${node.gateway}`)], queued.signal);
      queued.abort(new Error("stop waiting"));
      await assert.rejects(waiting, /stop waiting/);
      controller.abort(new Error("reconcile timed out"));
      await assert.rejects(pending, /reconcile timed out/);
      await until(() => !isAlive(victim));
      assert.deepEqual((await kernel.ip.apply([line(`route replace 10.252.254.0/24 via ${node.gateway}`)])).errors, []);
      await assert.rejects(kernel.ip.apply([line("route replace 10.252.253.0/24 dev lo")], AbortSignal.abort(new Error("already"))), /already/);
    } finally {
      await kernel.close();
    }
  });

  test("close drains queued requests, leaves no process, refuses later requests and is idempotent", async () => {
    const kernel = node.open();
    const pending = kernel.ip.apply(hostRoutes(node, 253, 2000));
    await until(() => kernel.ip.pid !== undefined);
    const pid = kernel.ip.pid ?? 0;
    const closing = kernel.close();
    assert.deepEqual((await pending).errors, [], "the request in flight finished");
    await closing;
    await kernel.close();
    await kernel[Symbol.asyncDispose]();
    assert.equal(kernel.ip.pid, undefined);
    assert.ok(!isAlive(pid));
    await assert.rejects(kernel.ip.apply([line("route replace 10.253.255.0/24 dev lo")]), (error) =>
      isFlannelError(error, "kernel-command-failed"),
    );
    assert.deepEqual(livingCoprocesses(node.events), []);
  });

  test("a coprocess that cannot run fails every line clearly instead of hanging", async () => {
    const kernel = createKernelBatch("ip", {
      spawner: (argv) => spawnCoprocess(["ip", "netns", "exec", "ft-no-such-namespace", ...argv]),
    });
    try {
      const lines = [line("route replace 10.254.1.0/24 dev lo"), line("route replace 10.254.2.0/24 dev lo")];
      const result = await kernel.apply(lines);
      assert.deepEqual(result.errors.map((error) => [error.index, error.failure]), [[0, "not-run"], [1, "not-run"]]);
      assert.match(result.errors[0]?.kernelMessage ?? "", /Cannot open network namespace "ft-no-such-namespace"/);
    } finally {
      await kernel[Symbol.asyncDispose]();
    }
  });
});

test("a tool that cannot be started at all fails every line as not-run", async () => {
  const kernel = createKernelBatch("ip", { spawner: (argv) => spawnCoprocess(["/nonexistent/ip", ...argv.slice(1)]) });
  try {
    const result = await kernel.apply([line("route replace 10.254.3.0/24 dev lo")]);
    assert.deepEqual(result.errors.map((error) => error.failure), ["not-run"]);
    assert.match(result.errors[0]?.kernelMessage ?? "", /could not be started.*ENOENT/);
  } finally {
    await kernel.close();
  }
});
