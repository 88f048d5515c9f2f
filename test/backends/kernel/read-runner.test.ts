// Reads through long-lived `ip`/`bridge -json -batch` coprocesses must answer exactly what a
// spawned command answers — output, failure and message — also when requests overlap, when the
// coprocess is killed, and after it is closed.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { spawnCoprocess } from "../../../backends/kernel/batch-process.ts";
import { prefixCommandRunner, prefixSpawner } from "../../../backends/kernel/command-prefix.ts";
import type { CommandRunner } from "../../../backends/kernel/command-runner.ts";
import { listFdb } from "../../../backends/kernel/fdb.ts";
import { readLink } from "../../../backends/kernel/link.ts";
import { listNeighbours } from "../../../backends/kernel/neighbour.ts";
import { createReadRunner, readRouteOf, type ReadRunner } from "../../../backends/kernel/read-runner.ts";
import { listRoutes } from "../../../backends/kernel/route.ts";
import { createNamespace, type Namespace } from "../../support/netns.ts";
import { needsRoot } from "../../support/root.ts";

describe("which commands a read coprocess answers", () => {
  test("read-only -json show/get commands, keyed by their sorted global options", () => {
    assert.deepEqual(readRouteOf(["ip", "-json", "-d", "-4", "route", "show", "table", "main"]), {
      tool: "ip",
      options: ["-4", "-d", "-json"],
      words: ["route", "show", "table", "main"],
      namesDevice: false,
    });
    assert.deepEqual(readRouteOf(["bridge", "-json", "fdb", "show"])?.words, ["fdb", "show"]);
    assert.equal(readRouteOf(["ip", "-json", "route", "get", "10.0.0.1"])?.tool, "ip");
  });

  test("reads that name a device go to readers of their own, which refreshDeviceNames restarts", () => {
    for (const argv of [
      ["ip", "-json", "neigh", "show", "dev", "flannel.1"],
      ["bridge", "-json", "fdb", "show", "dev", "flannel.1"],
      ["ip", "-json", "route", "show", "oif", "eth0"],
      ["ip", "-json", "link", "show", "master", "cni0"],
    ]) {
      assert.equal(readRouteOf(argv)?.namesDevice, true, argv.join(" "));
    }
    assert.equal(readRouteOf(["ip", "-json", "neigh", "show"])?.namesDevice, false);
  });

  test("writes, non-JSON reads, options with values and odd words are spawned", () => {
    for (const argv of [
      ["ip", "-json", "route", "replace", "10.0.0.0/24", "dev", "eth0"],
      ["ip", "route", "show"],
      ["ip", "-n", "other", "-json", "route", "show"],
      ["ip", "-json", "-batch", "-"],
      ["ip", "-json", "rule", "show"],
      ["ip", "-json", "link", "show", "a b"],
      ["ip", "-json", "link", "show", "x#y"],
      ["iptables", "-S"],
      ["ip", "-json"],
    ]) {
      assert.equal(readRouteOf(argv), undefined, argv.join(" "));
    }
  });
});

describe("read coprocesses in a namespace", { skip: needsRoot }, () => {
  let ns: Namespace;
  let spawned: CommandRunner;
  let reads: ReadRunner;
  /** PID and argv (after the prefix) of every coprocess started. */
  const spawns: { pid: number; argv: readonly string[] }[] = [];

  before(async () => {
    ns = await createNamespace("rd");
    const prefix = ["ip", "netns", "exec", ns.name];
    spawned = prefixCommandRunner(prefix);
    const spawner = prefixSpawner(prefix, (argv) => {
      const child = spawnCoprocess(argv);
      if (child.pid !== undefined) spawns.push({ pid: child.pid, argv: argv.slice(prefix.length) });
      return child;
    });
    reads = createReadRunner(spawned, spawner);
    await ns.ip("link", "add", "v0", "type", "veth", "peer", "name", "v1");
    await ns.ip("link", "set", "v0", "up");
    await ns.ip("link", "set", "v1", "up");
    await ns.ip("addr", "add", "10.9.0.1/16", "dev", "v0");
    await ns.ip("link", "add", "vx", "type", "vxlan", "id", "1", "dstport", "8472", "dev", "v0", "nolearning");
    const lines: string[] = [];
    for (let i = 0; i < 400; i++) lines.push(`route add 10.${100 + (i >> 8)}.${i & 255}.0/24 via 10.9.${i & 255}.2 dev v0`);
    for (let i = 0; i < 50; i++) lines.push(`neigh replace 10.9.1.${i + 1} lladdr 02:00:00:00:01:${(i + 16).toString(16)} dev v0 nud permanent`);
    await ns.exec(["ip", "-batch", "-"], { input: `${lines.join("\n")}\n` });
  });
  after(async () => {
    await reads?.close();
    await ns?.remove();
  });

  test("answers equal the spawned commands', for dumps, single answers and failures", async () => {
    const argvs = [
      ["ip", "-d", "-json", "-4", "route", "show", "table", "main"],
      ["ip", "-json", "-4", "neigh", "show"],
      ["ip", "-json", "address", "show"],
      ["ip", "-d", "-json", "link", "show"],
      ["ip", "-json", "route", "get", "10.100.7.9"],
      ["bridge", "-json", "fdb", "show"],
    ];
    for (const argv of argvs) {
      assert.ok(readRouteOf(argv) !== undefined, `${argv.join(" ")} goes to a coprocess`);
      const [viaReader, viaSpawn] = await Promise.all([reads.runner(argv), spawned(argv)]);
      assert.equal(viaReader.code, 0, argv.join(" "));
      assert.equal(viaReader.stderr, "", argv.join(" "));
      assert.deepEqual(JSON.parse(viaReader.stdout), JSON.parse(viaSpawn.stdout), argv.join(" "));
    }
    const unreachable = ["ip", "-json", "route", "get", "192.0.2.1"];
    const [viaReader, viaSpawn] = await Promise.all([reads.runner(unreachable), spawned(unreachable)]);
    assert.notEqual(viaSpawn.code, 0);
    assert.notEqual(viaReader.code, 0);
    assert.equal(viaReader.stderr.trim(), viaSpawn.stderr.trim());
    assert.equal(viaReader.stdout, "");
    // The typed readers see the same thing through either runner.
    assert.deepEqual(await listRoutes(reads.runner, 4), await listRoutes(spawned, 4));
    assert.equal((await listNeighbours(reads.runner, "v0", { family: 4 })).length, 50);
    assert.deepEqual(await listFdb(reads.runner, "nosuch"), []);
  });

  test("a device deleted and recreated under the same name is read as the new one once names are refreshed", async () => {
    await ns.ip("neigh", "replace", "10.244.1.0", "lladdr", "02:00:00:00:02:01", "dev", "vx", "nud", "permanent");
    await reads.runner(["ip", "-json", "address", "show"]); // the coprocess now knows vx's index
    const old = await readLink(reads.runner, "vx");
    assert.deepEqual((await listNeighbours(reads.runner, "vx", { family: 4 })).map((n) => n.lladdr), ["02:00:00:00:02:01"]);
    await ns.ip("link", "del", "vx");
    await ns.ip("link", "add", "vx", "type", "vxlan", "id", "1", "dstport", "8472", "dev", "v0", "nolearning");
    await ns.ip("neigh", "replace", "10.244.2.0", "lladdr", "02:00:00:00:02:02", "dev", "vx", "nud", "permanent");
    // Dumps are always fresh: the new index shows, and the caller refreshes the readers' names.
    const recreated = await readLink(reads.runner, "vx");
    assert.notEqual(recreated?.index, old?.index);
    await reads.refreshDeviceNames();
    assert.deepEqual((await listNeighbours(reads.runner, "vx", { family: 4 })).map((n) => n.lladdr), ["02:00:00:00:02:02"]);
  });

  test("overlapping reads on one coprocess each get their own answer, and no process is spawned per read", async () => {
    const before = spawns.length;
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => reads.runner(["ip", "-json", "route", "get", `10.100.${i}.1`])),
    );
    answers.forEach((answer, i) => {
      const [route] = JSON.parse(answer.stdout) as { dst: string; gateway: string }[];
      assert.equal(route?.dst, `10.100.${i}.1`);
      assert.equal(route?.gateway, `10.9.${i}.2`);
    });
    assert.ok(spawns.length - before <= 1, `spawned ${spawns.length - before} coprocesses for 60 reads`);
  });

  test("a killed coprocess costs a spawn, never a wrong answer; the next read starts a new one", async () => {
    const argv = ["ip", "-json", "neigh", "show"];
    const onV0 = (output: { stdout: string }): number =>
      (JSON.parse(output.stdout) as { dev: string; dst: string }[]).filter((n) => n.dev === "v0" && n.dst.startsWith("10.9.1.")).length;
    assert.equal(onV0(await reads.runner(argv)), 50);
    const neighbourReaders = (): number[] => spawns.filter((s) => s.argv.join(" ").includes(" ip -json -force -batch -")).map((s) => s.pid);
    const victim = neighbourReaders().at(-1)!;
    const pending = Array.from({ length: 20 }, () => reads.runner(argv));
    process.kill(victim, "SIGKILL");
    for (const answer of await Promise.all(pending)) assert.equal(onV0(answer), 50);
    const count = spawns.length;
    assert.equal(onV0(await reads.runner(argv)), 50);
    assert.equal(spawns.length, count + 1, "a new coprocess answers the next read");
    assert.notEqual(neighbourReaders().at(-1), victim);
  });

  test("close ends every coprocess by PID; reads after it are spawned and still right", async () => {
    const started = spawns.map((s) => s.pid);
    await reads.close();
    for (const pid of started) assert.throws(() => process.kill(pid, 0), { code: "ESRCH" }, `pid ${pid} still alive`);
    assert.equal((await listNeighbours(reads.runner, "v0", { family: 4 })).length, 50);
    assert.equal(spawns.length, started.length);
  });
});
