// The suite runner behind `npm test` (started by scripts/test.sh on the pinned Node 24):
// type checking, the build, then every test file under node:test — one run prefix for all of
// them, the leftover check last — and finally a sweep that removes whatever an interrupted or
// crashed test left behind (namespaces with the run's prefix, recorded PIDs). The node:test
// summary is the last thing printed.
//   node scripts/run-tests.ts [test files…]     (default: every test/**/*.test.ts)
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { globSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { run } from "node:test";
import { spec } from "node:test/reporters";

const projectRoot = resolve(import.meta.dirname, "..");
const node = process.execPath;
const leftoverCheck = "test/final/no-leftovers.test.ts";

function step(title: string, argv: string[]): void {
  process.stdout.write(`\n== ${title}\n`);
  const result = spawnSync(argv[0]!, argv.slice(1), { cwd: projectRoot, stdio: "inherit" });
  if (result.status !== 0) {
    process.stdout.write(`${title} failed (exit ${result.status ?? result.signal})\n`);
    process.exit(1);
  }
}

function testFiles(requested: string[]): string[] {
  const chosen = requested.length > 0 ? requested : globSync("test/**/*.test.ts", { cwd: projectRoot }).sort();
  return [...chosen.filter((file) => file !== leftoverCheck), leftoverCheck];
}

/** End the PIDs the run recorded (only if the PID still names the same process) and drop its namespaces. */
function sweep(prefix: string): string[] {
  const swept: string[] = [];
  const stateDir = join(tmpdir(), `flannel-ts-${prefix.replace(/-$/, "")}`);
  let pidFiles: string[] = [];
  try {
    pidFiles = readdirSync(join(stateDir, "pids"));
  } catch {
    // nothing recorded
  }
  for (const pidFile of pidFiles) {
    const pid = Number(pidFile);
    const recordedStart = readFileSync(join(stateDir, "pids", pidFile), "utf8").trim();
    let currentStart: string | undefined;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      currentStart = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
    } catch {
      continue;
    }
    if (currentStart !== recordedStart) continue;
    try {
      process.kill(pid, "SIGKILL");
      swept.push(`process ${pid}`);
    } catch {
      // already gone
    }
  }
  const namespaces = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
  for (const name of namespaces.split("\n").map((line) => line.split(" ")[0] ?? "")) {
    if (!name.startsWith(prefix)) continue;
    const pids = (spawnSync("ip", ["netns", "pids", name], { encoding: "utf8" }).stdout ?? "").split(/\s+/).filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // already gone
      }
    }
    spawnSync("ip", ["netns", "del", name]);
    swept.push(`namespace ${name}`);
  }
  rmSync(stateDir, { recursive: true, force: true });
  return swept;
}

function rootLinkNames(): string[] {
  const out = spawnSync("ip", ["-o", "link", "show"], { encoding: "utf8" }).stdout ?? "";
  return out.split("\n").flatMap((line) => /^\d+: ([^:@]+)/.exec(line)?.[1] ?? []).sort();
}

const requested = process.argv.slice(2);
step("type check (tsc --noEmit)", [node, "node_modules/typescript/bin/tsc", "-p", "tsconfig.json"]);
step("build", [node, "scripts/build.ts"]);

const prefix = `ft${randomBytes(3).toString("hex")}-`;
process.env.FLANNEL_TS_RUN_PREFIX = prefix;
// Tells test files that the build above is fresh (a file run on its own builds for itself).
process.env.FLANNEL_TS_SUITE = "1";
// The root namespace's links before any test: the leftover check compares them at the end.
process.env.FLANNEL_TS_ROOT_LINKS = rootLinkNames().join(",");
process.stdout.write(`\n== tests (run prefix ${prefix})\n`);

// run() keeps the order of `files` (the command-line runner sorts them), which puts the
// leftover check last. Each file still runs in a process of its own.
const interrupt = new AbortController();
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => interrupt.abort());
let failed = false;
const stream = run({
  files: testFiles(requested).map((file) => resolve(projectRoot, file)),
  concurrency: 1,
  signal: interrupt.signal,
});
stream.on("test:fail", () => (failed = true));
stream.compose(spec).pipe(process.stdout);
stream.once("end", () => {
  const swept = sweep(prefix);
  if (swept.length > 0) process.stderr.write(`run-tests: removed leftovers of run ${prefix}: ${swept.join(", ")}\n`);
  process.exitCode = failed || interrupt.signal.aborted ? 1 : 0;
});
