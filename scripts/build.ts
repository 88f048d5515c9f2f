// `npm run build`: compile the product (agent/, backends/, cni-shim/) to dist/ and write the
// launchers in dist/bin. A launcher runs the program on the Node pinned in node_modules, so it
// works when started by absolute path from any directory with any PATH (for example
// `ip netns exec NODE /abs/dist/bin/flanneld …`).
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { buildCniPlugin } from "./build-cni-plugin.ts";

const projectRoot = resolve(import.meta.dirname, "..");
const dist = join(projectRoot, "dist");

rmSync(dist, { recursive: true, force: true });
const compiled = spawnSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], {
  cwd: projectRoot,
  stdio: "inherit",
});
if (compiled.status !== 0) process.exit(compiled.status ?? 1);

function writeLauncher(name: string, entry: string, nodeOptions: readonly string[] = []): void {
  // Resolve symlinks so a link in /usr/local/bin still finds the tree. If the pinned Node is
  // missing, fall back to PATH: the entry point then says which Node it needs.
  // The options go only to the pinned Node: another one may not know them (V8 flags come and go
  // between releases), and the entry point's own check must stay the one line an old Node prints.
  const script = `#!/bin/sh
# ${name}: runs ${entry} on the Node pinned in node_modules (see package.json).
here=$(dirname "$(readlink -f "$0")")
node="$here/../../node_modules/node/bin/node"
options="${nodeOptions.join(" ")}"
if [ ! -x "$node" ]; then
  node=$(command -v node) || { echo "${name}: no Node runtime found; run npm ci in $(dirname "$(dirname "$here")")" >&2; exit 1; }
  options=""
fi
exec "$node" $options "$here/../${entry}" "$@"
`;
  const path = join(dist, "bin", name);
  mkdirSync(join(dist, "bin"), { recursive: true });
  writeFileSync(path, script);
  chmodSync(path, 0o755);
}

// flanneld trades some speed for memory, as it runs on every node of a cluster. Measured with
// the convergence benchmark on this machine (2 vCPUs):
// - small young-generation semi-spaces: a reconcile turns the kernel's tables into short-lived
//   objects, and V8's default semi-spaces let that garbage pile up and be promoted (RSS with 5000
//   peers 287 MiB by default, ~175 MiB with 1 MiB semi-spaces);
// - interpreter only, no optimising or baseline compilers (--no-opt --no-maglev --no-sparkplug):
//   V8's --lite-mode did the same and took RSS idle 84 → 71 MiB, with 5000 peers ~170 → 88 MiB,
//   for one lease change p50 18 → 26 ms, p99 39 → 45 ms. Lite mode also turns WebAssembly off, and
//   kube mode needs it: the HTTP client under @kubernetes/client-node (undici) parses responses
//   with a WebAssembly llhttp ("WebAssembly is not defined" under --lite-mode). The three flags
//   keep WebAssembly; measured with undici answering one request: 61.5 MiB lite, 64.7 MiB with
//   the flags, 73.4 MiB with neither.
writeLauncher("flanneld", "agent/main.js", ["--max-semi-space-size=1", "--no-opt", "--no-maglev", "--no-sparkplug"]);
// The CNI plugin: a single executable with its own runtime, for hosts without Node.
buildCniPlugin(projectRoot, dist);
