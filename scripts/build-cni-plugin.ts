// Builds dist/bin/flannel, the CNI plugin, as a Node single executable application (SEA):
// an esbuild CJS bundle of cni-shim/main.ts with its V8 code cache, injected into a stripped
// copy of the pinned Node binary. One self-contained file that a runtime can exec from
// /opt/cni/bin on a host with no Node at all, that ignores NODE_OPTIONS (execArgvExtension
// "none": a stray NODE_OPTIONS in containerd's environment must not change the plugin), and that
// starts as fast as Node can (../shared/reference/node-startup.md: CJS, code cache, no snapshot).
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildSync } from "esbuild";

function run(argv: string[], cwd: string): void {
  const result = spawnSync(argv[0]!, argv.slice(1), { cwd, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
  if (result.status !== 0) {
    throw new Error(`build step failed (exit ${result.status ?? result.signal}): ${argv.join(" ")}\n${result.stdout}${result.stderr}`);
  }
}

export function buildCniPlugin(projectRoot: string, dist: string): void {
  const work = join(dist, "cni-plugin-build");
  mkdirSync(work, { recursive: true });
  const bundle = join(work, "flannel.cjs");
  buildSync({
    absWorkingDir: projectRoot,
    entryPoints: ["cni-shim/main.ts"],
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node24",
    minifySyntax: true,
    legalComments: "none",
    outfile: bundle,
    logLevel: "error",
  });
  const blob = join(work, "flannel.blob");
  const seaConfig = join(work, "sea-config.json");
  writeFileSync(
    seaConfig,
    JSON.stringify({
      main: bundle,
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache: true,
      useSnapshot: false,
      execArgvExtension: "none",
    }),
  );
  run([process.execPath, "--experimental-sea-config", seaConfig], projectRoot);

  const executable = join(dist, "bin", "flannel");
  mkdirSync(join(dist, "bin"), { recursive: true });
  rmSync(executable, { force: true });
  copyFileSync(process.execPath, executable);
  chmodSync(executable, 0o755);
  // Stripping symbols first: 126 → 108 MB and a faster cold start, same warm start.
  run(["strip", executable], projectRoot);
  run(
    [
      process.execPath,
      "node_modules/postject/dist/cli.js",
      executable,
      "NODE_SEA_BLOB",
      blob,
      "--sentinel-fuse",
      "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2",
    ],
    projectRoot,
  );
  rmSync(work, { recursive: true, force: true });
}
