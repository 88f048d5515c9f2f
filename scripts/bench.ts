// `npm run bench [-- NAME…]`: runs benchmarks (test/bench/<name>.bench.ts), each in its own
// process on the pinned Node. Benchmarks print their figures and write them to
// test/bench/results/<name>.json; they are never part of `npm test`.
import { spawnSync } from "node:child_process";
import { globSync } from "node:fs";
import { basename, resolve } from "node:path";

const projectRoot = resolve(import.meta.dirname, "..");
const available = globSync("test/bench/*.bench.ts", { cwd: projectRoot }).map((file) => basename(file, ".bench.ts")).sort();
const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !available.includes(name));
if (unknown.length > 0) {
  process.stderr.write(`bench: unknown benchmark(s) ${unknown.join(", ")}; available: ${available.join(", ")}\n`);
  process.exit(2);
}
// Benchmarks run the built agent (dist/bin/flanneld): build it from the tree being measured.
const build = spawnSync(process.execPath, ["scripts/build.ts"], { cwd: projectRoot, stdio: "inherit" });
if (build.status !== 0) {
  process.stderr.write("bench: the build failed\n");
  process.exit(1);
}
let failed = false;
for (const name of requested.length > 0 ? requested : available) {
  process.stdout.write(`\n== bench ${name}\n`);
  const result = spawnSync(process.execPath, [`test/bench/${name}.bench.ts`], { cwd: projectRoot, stdio: "inherit" });
  if (result.status !== 0) failed = true;
}
process.exitCode = failed ? 1 : 0;
