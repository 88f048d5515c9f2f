// Runs one container of kube-flannel.yml's pod the way a kubelet would wire it, without a
// container runtime: a private mount namespace (`unshare --mount`) with a chroot whose /usr is the
// host's (read-only; Debian's merged /usr gives /bin/sh, cp, mv — what the image provides), the
// image's files written or bind-mounted into the chroot, and every volumeMount bind-mounted from a
// scratch directory that stands for the node: hostPath P is NODE/P, a ConfigMap volume is a
// read-only directory holding one file per key. What the command writes outside its mounts stays
// in the chroot, as it would stay in the container's own file system; only writes through a
// mount reach NODE. The mounts exist only in that namespace and vanish with its last process:
// nothing is mounted in, or written to, the machine's own file system outside the scratch
// directory. The network namespace is the caller's: run nothing here that touches the network.
import { chmodSync, mkdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { IContainer, IPodSpec } from "kubernetes-models/v1";
import { run, type CommandResult } from "../../../deploy/lab/tools/command.ts";
import { containerArgv } from "./install-command.ts";

export interface ImageFile {
  readonly content: string | Buffer;
  readonly mode: number;
}

export interface SandboxOptions {
  readonly pod: IPodSpec;
  readonly container: IContainer;
  /** Stands for the node's root: hostPath P is `${node}${P}`. */
  readonly node: string;
  /** Scratch space for the chroot and the ConfigMap directories. */
  readonly work: string;
  /** Files the image holds, by absolute path inside the container. */
  readonly imageFiles?: Readonly<Record<string, ImageFile>>;
  /** Files or directories of this machine shown read-only at a path of the image. */
  readonly imageBinds?: Readonly<Record<string, string>>;
  /** Symbolic links in the image: path → target. */
  readonly imageLinks?: Readonly<Record<string, string>>;
  /** ConfigMap contents by name, as the API server would serve them. */
  readonly configMaps: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** The container's whole environment (the kubelet's PATH is added when missing). */
  readonly env?: Readonly<Record<string, string>>;
}

interface Bind {
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

// Positional arguments: ROOT, N, then N × (SOURCE TARGET ro|rw), then the command to exec in ROOT.
const mountScript = String.raw`set -e
root=$1; n=$2; shift 2
while [ "$n" -gt 0 ]; do
  mount --bind "$1" "$root$2"
  if [ "$3" = ro ]; then mount -o remount,bind,ro "$root$2"; fi
  shift 3; n=$((n - 1))
done
exec chroot "$root" "$@"`;

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function volumeSource(options: SandboxOptions, name: string): { path: string; readOnly: boolean } {
  const volume = (options.pod.volumes ?? []).find((v) => v.name === name);
  if (volume === undefined) throw new Error(`${options.container.name} mounts ${name}, which is no volume of the pod`);
  if (volume.hostPath !== undefined) {
    const path = join(options.node, volume.hostPath.path);
    if (volume.hostPath.type === "FileOrCreate") {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, "", { flag: "a" });
    } else {
      mkdirSync(path, { recursive: true });
    }
    return { path, readOnly: false };
  }
  if (volume.configMap !== undefined) {
    const data = options.configMaps[volume.configMap.name ?? ""];
    if (data === undefined) throw new Error(`volume ${name} names ConfigMap ${volume.configMap.name}, which the test was not given`);
    const path = join(options.work, "configmaps", name);
    mkdirSync(path, { recursive: true });
    for (const [key, value] of Object.entries(data)) writeFileSync(join(path, key), value, { mode: 0o644 });
    return { path, readOnly: true }; // the kubelet always mounts ConfigMap volumes read-only
  }
  throw new Error(`volume ${name}: only hostPath and configMap volumes are simulated`);
}

/** Makes the mount point in the chroot: a file for a file, a directory for a directory. */
function mountPoint(root: string, target: string, source: string): void {
  const path = join(root, target);
  if (statSync(source).isDirectory()) {
    mkdirSync(path, { recursive: true });
  } else {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, "", { flag: "a" });
  }
}

function prepareRoot(options: SandboxOptions): { root: string; binds: Bind[] } {
  const root = join(options.work, "rootfs");
  mkdirSync(join(root, "usr"), { recursive: true });
  for (const link of ["bin", "sbin", "lib", "lib64"]) symlinkSync(`usr/${link}`, join(root, link));
  for (const [path, file] of Object.entries(options.imageFiles ?? {})) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), file.content);
    chmodSync(join(root, path), file.mode);
  }
  for (const [path, target] of Object.entries(options.imageLinks ?? {})) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    symlinkSync(target, join(root, path));
  }
  const binds: Bind[] = [{ source: "/usr", target: "/usr", readOnly: true }];
  for (const [target, source] of Object.entries(options.imageBinds ?? {})) binds.push({ source, target, readOnly: true });
  for (const mount of options.container.volumeMounts ?? []) {
    const source = volumeSource(options, mount.name);
    binds.push({ source: source.path, target: mount.mountPath.replace(/\/+$/, ""), readOnly: source.readOnly || mount.readOnly === true });
  }
  for (const bind of binds) mountPoint(root, bind.target, bind.source);
  return { root, binds };
}

/** Runs the container's command (command + args) in the sandbox; never throws on a non-zero exit. */
export async function runInSandbox(options: SandboxOptions): Promise<CommandResult> {
  const argv = containerArgv(options.container);
  if (argv.length === 0) throw new Error(`${options.container.name} has no command: the image's entrypoint is not simulated`);
  const { root, binds } = prepareRoot(options);
  const bindArgs = binds.flatMap((bind) => [bind.source, bind.target, bind.readOnly ? "ro" : "rw"]);
  const env = { PATH: defaultPath, ...options.env };
  const withEnv = ["/usr/bin/env", "-i", ...Object.entries(env).map(([name, value]) => `${name}=${value}`), ...argv];
  return run(["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", mountScript, "sandbox", root, String(binds.length), ...bindArgs, ...withEnv], {
    allowFailure: true,
    timeoutMs: 30_000,
  });
}
