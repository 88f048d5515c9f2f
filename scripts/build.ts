// `npm run build`: compile the product (agent/, backends/, cni-shim/) to dist/ and write the
// launchers in dist/bin. A launcher runs the program on the Node pinned in node_modules, so it
// works when started by absolute path from any directory with any PATH (for example
// `ip netns exec NODE /abs/dist/bin/flanneld …`).
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { buildCniPlugin } from "./build-cni-plugin.ts";
import { buildFlanneld } from "./build-flanneld.ts";

const projectRoot = resolve(import.meta.dirname, "..");
const dist = join(projectRoot, "dist");

rmSync(dist, { recursive: true, force: true });
const compiled = spawnSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], {
  cwd: projectRoot,
  stdio: "inherit",
});
if (compiled.status !== 0) process.exit(compiled.status ?? 1);

function writeLauncher(name: string, entry: string, nodeOptions: readonly string[] = [], environment: Readonly<Record<string, string>> = {}): void {
  // Resolve symlinks so a link in /usr/local/bin still finds the tree. If the pinned Node is
  // missing, fall back to PATH: the entry point then says which Node it needs.
  // The options go only to the pinned Node: another one may not know them (V8 flags come and go
  // between releases), and the entry point's own check must stay the one line an old Node prints.
  // Environment defaults apply to any Node, and an operator's own value wins.
  const defaults = Object.entries(environment).map(([key, value]) => `: "\${${key}:=${value}}"; export ${key}\n`).join("");
  const script = `#!/bin/sh
# ${name}: runs ${entry} on the Node pinned in node_modules (see package.json).
here=$(dirname "$(readlink -f "$0")")
node="$here/../../node_modules/node/bin/node"
options="${nodeOptions.join(" ")}"
${defaults}if [ ! -x "$node" ]; then
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
// - --optimize-for-size: V8's heap sizing for small devices (lite mode implied it, the three
//   flags do not): with 5000 peers etcd mode 112 → 87 MiB, kube mode 144 → 92 MiB; idle and 1000
//   peers unchanged (kube bench, 2026-12-05).
// - the bundle (build-flanneld.ts) instead of tsc's dist/agent and node_modules: kube mode idle
//   123 → 93 MiB, 5000 peers 231 → 146 MiB; etcd mode idle 72 → 70 MiB.
// - MALLOC_MMAP_THRESHOLD_=32768: glibc then gives allocations of 32 KiB and more their own
//   mappings, returned to the kernel when freed. Without it, the parser's zone memory for the
//   Kubernetes client's 2 MB of source (12 MiB at its peak, freed right after) stays in the
//   malloc heap, trapped behind later small allocations: kube mode idle 93 → 79 MiB.
//   Together (interleaved runs, test/bench/kube.bench.ts): kube mode idle/1000/5000 peers
//   123/124/228 → 78/82/93 MiB, etcd mode 72/81/122 → 69/77/88 MiB; convergence and one change's
//   latency moved within the noise of a shared 2-vCPU machine.
await buildFlanneld(projectRoot, join(dist, "flanneld"));
writeLauncher("flanneld", "flanneld/main.js", ["--max-semi-space-size=1", "--no-opt", "--no-maglev", "--no-sparkplug", "--optimize-for-size"], { MALLOC_MMAP_THRESHOLD_: "32768" });
// The CNI plugin: a single executable with its own runtime, for hosts without Node.
buildCniPlugin(projectRoot, dist);
