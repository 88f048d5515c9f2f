// Bounded writers: the `ip`/`bridge` batch coprocesses are replaced after a bounded number of lines
// or above a memory bound (iproute2 keeps 4 KiB per modifying command for its lifetime), in the
// middle of bursts, without losing a line or applying one twice. Real kernel, in a node namespace.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { CoprocessEvent } from "../../../backends/kernel/batch-coprocess.ts";
import type { RetireReason } from "../../../backends/kernel/batch-lifetime.ts";
import { residentBytes } from "../../../backends/kernel/resident-memory.ts";
import { parseBatchLine, type BridgeLine, type IpLine } from "../../../backends/kernel/batch-line.ts";
import { listRoutes } from "../../../backends/kernel/route.ts";
import { formatCidr } from "../../../backends/net/ip.ts";
import { isAlive } from "../../../deploy/lab/tools/exit-guard.ts";
import { needsRoot } from "../../support/root.ts";
import { createKernelNode, livingCoprocesses, until, type KernelNode } from "./kernel-fixture.ts";

const MiB = 1024 * 1024;
const ipLine = (text: string): IpLine => parseBatchLine("ip", text);
const destination = (text: string): string => text.split(" ")[2] ?? "";

/** `count` distinct /32 routes under 10.<second>.0.0/16 via the fabric gateway. */
function hostRoutes(node: KernelNode, second: number, count: number, verb: string): IpLine[] {
  return Array.from({ length: count }, (_, i) =>
    ipLine(`route ${verb} 10.${second}.${(i >> 8) & 255}.${i & 255}/32 via ${node.gateway} dev ${node.device}`),
  );
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));
}

async function routeSet(node: KernelNode): Promise<Set<string>> {
  const kernel = node.open();
  try {
    return new Set((await listRoutes(kernel.runner, 4)).map((route) => formatCidr(route.dst)));
  } finally {
    await kernel.close();
  }
}

function retirements(events: readonly CoprocessEvent[], reason: RetireReason): CoprocessEvent[] {
  return events.filter((event) => event.kind === "exited" && event.retired === reason);
}

const exits = (events: readonly CoprocessEvent[]): CoprocessEvent[] => events.filter((event) => event.kind === "exited");

describe("bounded batch writers", { skip: needsRoot }, () => {
  let node: KernelNode;
  before(async () => {
    node = await createKernelNode();
  });
  after(async () => {
    await node?.remove();
  });

  test("a burst of adds and deletes across forced replacements: every line applied once, each failure reported once", async () => {
    const from = node.events.length;
    const kernel = node.open({ maxCommandsPerProcess: 50 });
    try {
      assert.deepEqual((await kernel.ip.apply([ipLine(`route add 10.230.0.7/32 via ${node.gateway} dev ${node.device}`)])).errors, []);
      // `add`, not `replace`: a line applied twice would come back as "File exists".
      const adds = hostRoutes(node, 230, 1000, "add");
      const requests = [adds.slice(0, 600), ...chunks(adds.slice(600, 970), 37), ...chunks(adds.slice(970), 3)];
      const results = await Promise.all(requests.map((lines) => kernel.ip.apply(lines)));
      assert.deepEqual(
        results.map((result) => result.errors.map((error) => [error.index, error.failure, error.kernelMessage])),
        requests.map((_, i) => (i === 0 ? [[7, "already-exists", "RTNETLINK answers: File exists"]] : [])),
        "only the route that existed before fails, once",
      );
      const routes = await routeSet(node);
      for (const text of adds) assert.ok(routes.has(destination(text)), `lost: ${text}`);
      // A delete run twice would report "already gone": none may.
      const deletes = hostRoutes(node, 230, 1000, "del");
      const deleted = await Promise.all([deletes.slice(0, 450), ...chunks(deletes.slice(450), 61)].map((lines) => kernel.ip.apply(lines)));
      for (const result of deleted) assert.deepEqual([result.errors, result.alreadyGone], [[], []]);
      const left = await routeSet(node);
      for (const text of deletes) assert.ok(!left.has(destination(text)), `not deleted: ${text}`);
      // 1 + 1000 + 1000 lines at 50 per process: 40 full lives, every one ended on purpose.
      await until(() => retirements(node.events.slice(from), "command-bound").length === 40);
      for (const event of exits(node.events.slice(from))) {
        // Exit code 1: `ip -force -batch` reports that some line (the checkpoints) failed.
        assert.ok(event.kind === "exited" && event.retired === "command-bound" && !event.duringRequest && event.signal === null, JSON.stringify(event));
      }
    } finally {
      await kernel.close();
    }
    assert.deepEqual(livingCoprocesses(node.events.slice(from)), [], "close waits for every process, retired ones included");
  });

  test("past the bound the writer's PID changes and the old process is reaped, without leaking descriptors", async () => {
    const from = node.events.length;
    const kernel = node.open({ maxCommandsPerProcess: 10 });
    try {
      const lines = hostRoutes(node, 231, 400, "replace");
      assert.deepEqual((await kernel.ip.apply(lines.slice(0, 5))).errors, []);
      const first = kernel.ip.pid;
      assert.ok(first !== undefined && isAlive(first));
      const descriptors = readdirSync("/proc/self/fd").length;
      assert.deepEqual((await kernel.ip.apply(lines.slice(5, 10))).errors, []);
      await until(() => node.events.some((event) => event.kind === "exited" && event.pid === first));
      assert.ok(!isAlive(first), "reaped, not a zombie");
      const exit = node.events.find((event) => event.kind === "exited" && event.pid === first);
      assert.ok(exit?.kind === "exited" && exit.retired === "command-bound" && exit.signal === null, "ended by stdin EOF, not killed");
      assert.deepEqual((await kernel.ip.apply(lines.slice(10, 11))).errors, []);
      const second = kernel.ip.pid;
      assert.ok(second !== undefined && second !== first);
      // 25 lines in one request: sliced 9 (to end the second process's life), 10, 6.
      assert.deepEqual((await kernel.ip.apply(lines.slice(11, 36))).errors, []);
      const started = node.events.slice(from).filter((event) => event.kind === "started");
      assert.equal(started.length, 4);
      // Twenty more lives; the test process must not keep any of their pipes.
      for (const slice of chunks(lines.slice(36, 236), 10)) assert.deepEqual((await kernel.ip.apply(slice)).errors, []);
      assert.deepEqual((await kernel.ip.apply(lines.slice(236, 241))).errors, []);
      await until(() => livingCoprocesses(node.events.slice(from)).length === 1);
      const leaked = readdirSync("/proc/self/fd").length - descriptors;
      assert.ok(leaked < 10, `descriptors grew by ${leaked} over 24 replaced writers`);
    } finally {
      await kernel.close();
    }
  });

  test("memory stays bounded: 20,000 route replaces with a bound of 2000 lines", async (t) => {
    const from = node.events.length;
    const kernel = node.open({ maxCommandsPerProcess: 2000 });
    try {
      let largest = 0;
      for (const lines of chunks(hostRoutes(node, 232, 20000, "replace"), 500)) {
        assert.deepEqual((await kernel.ip.apply(lines)).errors, []);
        const pid = kernel.ip.pid;
        if (pid !== undefined) largest = Math.max(largest, residentBytes(pid) ?? 0);
      }
      t.diagnostic(`largest writer VmRSS seen: ${(largest / MiB).toFixed(1)} MiB`);
      await until(() => retirements(node.events.slice(from), "command-bound").length === 10);
      // One process for all 20,000 measured 83.7 MiB; 2000 lines per process ~11 MiB at most.
      assert.ok(largest > 0 && largest < 24 * MiB, `writer reached ${(largest / MiB).toFixed(1)} MiB`);
    } finally {
      await kernel.close();
    }
  });

  test("above the memory bound the writer is replaced, even below the line bound", async (t) => {
    const from = node.events.length;
    const kernel = node.open({ maxCommandsPerProcess: Infinity, maxResidentBytes: 6 * MiB, residentCheckInterval: 200 });
    try {
      let largest = 0;
      for (const lines of chunks(hostRoutes(node, 233, 6000, "replace"), 100)) {
        assert.deepEqual((await kernel.ip.apply(lines)).errors, []);
        const pid = kernel.ip.pid;
        if (pid !== undefined) largest = Math.max(largest, residentBytes(pid) ?? 0);
      }
      const replaced = retirements(node.events.slice(from), "memory-bound").length;
      t.diagnostic(`replaced ${replaced} times; largest writer VmRSS seen: ${(largest / MiB).toFixed(1)} MiB`);
      // ~2.2 MiB at start + 4 KiB a line reaches 6 MiB after ~1000 lines: 6000 lines need several.
      assert.ok(replaced >= 3, `replaced ${replaced} times`);
      assert.equal(retirements(node.events.slice(from), "command-bound").length, 0);
      // Unbounded, 6000 lines would reach ~26 MiB.
      assert.ok(largest < 10 * MiB, `writer reached ${(largest / MiB).toFixed(1)} MiB`);
    } finally {
      await kernel.close();
    }
  });

  test("a writer killed amid replacements: no line lost, none applied twice, doubt within one window", async (t) => {
    const interval = 16;
    const kernel = node.open({ checkpointInterval: interval, maxCommandsPerProcess: 300 });
    try {
      const lines = hostRoutes(node, 234, 12000, "add");
      const pending = kernel.ip.apply(lines);
      await until(() => kernel.ip.pid !== undefined);
      await sleep(60);
      const victim = kernel.ip.pid;
      if (victim !== undefined) process.kill(victim, "SIGKILL");
      const result = await pending;
      // The kill may land on a process that had just proven its last line: then nothing is in doubt.
      const failures = new Set(result.errors.map((error) => error.failure));
      assert.ok([...failures].every((failure) => failure === "outcome-unknown"), `nothing rejected (nothing ran twice): ${[...failures].join()}`);
      assert.ok(result.errors.length <= interval);
      t.diagnostic(`lines in doubt: ${result.errors.length}`);
      const doubtful = new Set(result.errors.map((error) => error.index));
      const routes = await routeSet(node);
      lines.forEach((text, index) => {
        if (!doubtful.has(index)) assert.ok(routes.has(destination(text)), `line ${index} neither applied nor reported`);
      });
    } finally {
      await kernel.close();
    }
  });

  test("the bridge writer is bounded too: FDB adds across replacements apply once each", async () => {
    const from = node.events.length;
    await node.ns.ip("link", "add", "vxb", "type", "vxlan", "id", "77", "local", node.address, "dev", node.device, "dstport", "8472", "nolearning");
    const kernel = node.open({ maxCommandsPerProcess: 40 });
    try {
      const lines: BridgeLine[] = Array.from({ length: 300 }, (_, i) =>
        parseBatchLine("bridge", `fdb add 02:00:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")} dev vxb dst 198.18.${1 + (i >> 8)}.${i & 255}`),
      );
      const results = await Promise.all([lines.slice(0, 170), ...chunks(lines.slice(170), 13)].map((slice) => kernel.bridge.apply(slice)));
      for (const result of results) assert.deepEqual(result.errors, []);
      const fdb = await node.ns.exec(["bridge", "-json", "fdb", "show", "dev", "vxb"]);
      const macs = new Set((JSON.parse(fdb.stdout) as { mac: string }[]).map((entry) => entry.mac));
      for (const text of lines) assert.ok(macs.has(text.split(" ")[2] ?? ""), `lost: ${text}`);
      // `fdb add` of an entry that exists fails: the empty error lists above mean nothing ran twice.
      const again = await kernel.bridge.apply(lines.slice(0, 3));
      assert.deepEqual(again.errors.map((error) => error.failure), ["already-exists", "already-exists", "already-exists"]);
      await until(() => retirements(node.events.slice(from), "command-bound").length === 7);
    } finally {
      await kernel.close();
      await node.ns.ip("link", "del", "vxb");
    }
  });
});
