// A real containerd (Debian containerd 1.6 + runc) for CNI client tests, confined to one node
// namespace and one temporary directory. `ctr run --cni` is the CNI client: it execs the plugins
// named by /etc/cni/net.d/*.conflist from /opt/cni/bin, both paths hard-coded in go-cni, and the
// plugins act on *ctr's* network namespace (bridge, host-side veth). So:
//   - containerd runs as `nsenter --net=/var/run/netns/NODE containerd --config TMP/config.toml`,
//     with root, state, sockets and the "opt" plugin's directory under TMP and the CRI plugin off.
//     Not `ip netns exec`: that remounts /sys for the namespace, hiding /sys/fs/cgroup, and runc
//     (started by containerd's shim) then fails with "no cgroup mount found in mountinfo".
//   - ctr runs under `ip netns exec NODE bash -c …`, whose private mount namespace gets a tmpfs on
//     /opt with /opt/cni/bin -> TMP/cni-bin (symlinks to /usr/lib/cni/* plus our plugins) and an
//     overlay on /etc (upper/work dirs under TMP) with /etc/cni bind-mounted from TMP, and an
//     overlay on /var/lib for libcni's result cache. Nothing is written to the root filesystem
//     outside TMP, and the root network namespace is never used.
// What containerd 1.6/runc leave outside TMP anyway (paths hard-coded): the empty shim socket dir
// /run/containerd/s and the empty cgroup parents /sys/fs/cgroup/<controller>/default; stop()
// removes them when empty. Facts from ../shared/reference/testbed.md ("containerd verdict").
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { bashScript, run, runSync } from "../../deploy/lab/tools/command.ts";
import { endProcessesSync, isAlive, onExitOrSignal } from "../../deploy/lab/tools/exit-guard.ts";
import { buildBusyboxImage, busyboxBinary } from "./oci-image.ts";
import { spawnProcess, waitFor, type ManagedProcess } from "./process.ts";
import { runPrefix } from "./run-context.ts";

const projectRoot = resolve(import.meta.dirname, "../..");

/** Our CNI plugin as the build writes it. */
export const flannelPluginPath: string = join(projectRoot, "dist/bin/flannel");
/** Debian containernetworking-plugins (bridge, host-local, portmap, …). */
export const referenceCniDir = "/usr/lib/cni";
/** The containerd namespace ctr works in; go-cni's CNI_CONTAINERID is "<namespace>-<id>". */
export const ctrNamespace = "default";

const tools = ["containerd", "ctr", "containerd-shim-runc-v2", "runc", "nsenter"] as const;
// runc lives in /usr/sbin: make sure containerd's shim finds it even from a user's PATH.
const searchPath = [...(process.env.PATH ?? "").split(delimiter), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
  .filter((dir, index, all) => dir !== "" && all.indexOf(dir) === index);

function onPath(name: string): boolean {
  return searchPath.some((dir) => existsSync(join(dir, name)));
}

/** What is missing for these tests (empty when containerd, ctr, runc, busybox and the CNI plugins are installed). */
export function missingContainerdTools(): string[] {
  const missing: string[] = tools.filter((tool) => !onPath(tool));
  if (!existsSync(busyboxBinary)) missing.push(`${busyboxBinary} (busybox-static)`);
  if (!existsSync(join(referenceCniDir, "bridge"))) missing.push(`${referenceCniDir}/bridge (containernetworking-plugins)`);
  return missing;
}

/** CNI_CONTAINERID that `ctr run --cni` gives the plugins for container `id`. */
export function cniContainerId(id: string): string {
  return `${ctrNamespace}-${id}`;
}

export interface ContainerdOptions {
  /** The node namespace containerd and every ctr client run in (name under /var/run/netns). */
  readonly netns: string;
  /**
   * Extra plugins for /opt/cni/bin, name -> executable, next to everything in /usr/lib/cni.
   * Default: our plugin as `flannel`.
   */
  readonly cniPlugins?: Readonly<Record<string, string>>;
}

export interface CniRunOptions {
  /** A host directory to bind-mount read-write at /host in the container (e.g. to hand it a signal). */
  readonly hostDir?: string;
  /** File name in /etc/cni/net.d (go-cni takes the first one in lexical order). */
  readonly conflistName?: string;
}

export interface CniRunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The container's stdout (ctr passes it through). */
  readonly stdout: string;
  /** ctr's stdout and stderr together: the container's output and ctr's own errors. */
  readonly output: string;
}

export interface CniRun {
  /** The ctr client, running in the node namespace. */
  readonly process: ManagedProcess;
  /** stdout of the container so far. */
  stdout(): string;
  /** Settles when ctr has exited, i.e. after the task ended, CNI DEL ran and the container was removed (`--rm`). */
  readonly finished: Promise<CniRunResult>;
}

export interface Containerd extends AsyncDisposable {
  readonly netns: string;
  /** The temporary directory holding everything of this containerd. */
  readonly dir: string;
  readonly socket: string;
  /** The imported busybox image. */
  readonly image: string;
  readonly process: ManagedProcess;
  /** `ctr -a SOCKET -n default args…` (from the root namespace: talks to containerd only). */
  ctr(...args: string[]): Promise<string>;
  /** Starts `ctr run --rm --cni IMAGE id argv…` with `conflist` as the only network config. */
  startWithCni(id: string, argv: readonly string[], conflist: string | object, options?: CniRunOptions): CniRun;
  /** startWithCni and wait for the end (ctr is stopped, and the call fails, after `timeoutMs`). */
  runWithCni(id: string, argv: readonly string[], conflist: string | object, options?: CniRunOptions & { timeoutMs?: number }): Promise<CniRunResult>;
  /** Removes leftover containers, ends containerd by PID, deletes the directory. Idempotent. */
  stop(): Promise<void>;
}

// Sets up go-cni's fixed paths inside the private mount namespace `ip netns exec` gives bash,
// then becomes ctr. The overlay on /var/lib catches libcni's result cache, which ctr writes to
// /var/lib/cni/results (no flag for it either) and which would otherwise leave /var/lib/cni behind.
// The mounts die with that mount namespace; none propagates back (ip netns exec makes every mount
// a slave first).
const ctrWrapper = `set -eu
mount -t tmpfs flannel-ts-opt /opt
mkdir /opt/cni
ln -s "$FT_CNI_BIN" /opt/cni/bin
mount -t overlay flannel-ts-etc -o "lowerdir=/etc,upperdir=$FT_RUN_DIR/etc-upper,workdir=$FT_RUN_DIR/etc-work" /etc
mkdir -p /etc/cni
mount --bind "$FT_RUN_DIR/cni" /etc/cni
mount -t overlay flannel-ts-varlib -o "lowerdir=/var/lib,upperdir=$FT_RUN_DIR/varlib-upper,workdir=$FT_RUN_DIR/varlib-work" /var/lib
exec "$@"`;

/** The environment for containerd and ctr: ours minus what would steer them (or a Node plugin) elsewhere. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: searchPath.join(delimiter), ...extra };
  for (const key of Object.keys(env)) {
    if (key.startsWith("CONTAINERD_") || key.startsWith("CNI_") || key === "NODE_OPTIONS" || key === "NODE_TEST_CONTEXT") delete env[key];
  }
  return env;
}

function configToml(dir: string, socket: string): string {
  // JSON strings are valid TOML basic strings for these plain paths.
  const q = (path: string): string => JSON.stringify(path);
  return `version = 2
root = ${q(join(dir, "root"))}
state = ${q(join(dir, "state"))}
# ctr needs no CRI; the CRI plugin would also want /etc/cni, /opt/cni and /var/lib/containerd.
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = ${q(socket)}

# Default /opt/containerd: keep it in the temporary directory.
[plugins."io.containerd.internal.v1.opt"]
  path = ${q(join(dir, "opt"))}
`;
}

/** Mount points under `dir` (snapshot or rootfs mounts a killed task may leave), deepest first. */
function mountsUnder(dir: string): string[] {
  const points = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => (line.split(" ")[4] ?? "").replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((point) => point.startsWith(`${dir}/`));
  return points.sort((a, b) => b.length - a.length);
}

/** The empty directories containerd 1.6/runc leave outside the temporary directory. */
function removeKnownLeftovers(): void {
  const candidates: string[] = [];
  try {
    for (const entry of readdirSync("/sys/fs/cgroup")) candidates.push(join("/sys/fs/cgroup", entry, ctrNamespace));
  } catch {
    // no cgroup file system mounted
  }
  candidates.push(join("/sys/fs/cgroup", ctrNamespace), "/run/containerd/s", "/run/containerd");
  for (const dir of candidates) {
    try {
      rmdirSync(dir); // only succeeds when empty (cgroups: when no task uses it)
    } catch {
      // absent, not empty or still in use: not ours to force
    }
  }
}

/** Task processes (container init and shim) containerd recorded in its state directory. */
function taskPids(dir: string): number[] {
  const tasks = join(dir, "state", "io.containerd.runtime.v2.task");
  const pids: number[] = [];
  try {
    for (const ns of readdirSync(tasks)) {
      for (const id of readdirSync(join(tasks, ns))) {
        for (const file of ["init.pid", "shim.pid"]) {
          try {
            const pid = Number(readFileSync(join(tasks, ns, id, file), "utf8").trim());
            if (Number.isInteger(pid) && pid > 1) pids.push(pid);
          } catch {
            // not written (yet)
          }
        }
      }
    }
  } catch {
    // no task ever started
  }
  return pids;
}

function removeDirectorySync(dir: string): void {
  for (const point of mountsUnder(dir)) runSync(["umount", "-l", point]);
  rmSync(dir, { recursive: true, force: true });
  removeKnownLeftovers();
}

interface Instance {
  readonly dir: string;
  readonly socket: string;
  readonly pid: number;
}

const instances = new Set<Instance>();

/** Exit-time cleanup (synchronous): containers, then task processes, then containerd, then files. */
function cleanUpSync(instance: Instance): void {
  if (isAlive(instance.pid)) {
    const ctr = (...args: string[]) => runSync(["ctr", "-a", instance.socket, "-n", ctrNamespace, ...args]);
    for (const id of ctr("containers", "ls", "-q").stdout.split("\n").filter((line) => line !== "")) {
      ctr("tasks", "delete", "--force", id);
      ctr("containers", "delete", id);
    }
  }
  // Killed with SIGKILL, a shim leaves its container running: end both by their recorded PIDs.
  endProcessesSync(taskPids(instance.dir));
  endProcessesSync([instance.pid]);
  removeDirectorySync(instance.dir);
  instances.delete(instance);
}

// Registered after process.ts and netns.ts (imported above), so it runs before they end
// processes and delete namespaces: containerd must still answer to remove its containers.
onExitOrSignal(() => {
  for (const instance of [...instances]) cleanUpSync(instance);
});

export async function startContainerd(options: ContainerdOptions): Promise<Containerd> {
  const dir = mkdtempSync(join(tmpdir(), `${runPrefix}ctd-`));
  const socket = join(dir, "ctd.sock");
  const cniBin = join(dir, "cni-bin");
  for (const sub of ["root", "state", "opt", "runc", "fifo", "runs", "cni-bin"]) mkdirSync(join(dir, sub));
  // A plugin directory of symlinks: the reference plugins plus ours, without touching /opt or /usr.
  for (const plugin of readdirSync(referenceCniDir)) symlinkSync(join(referenceCniDir, plugin), join(cniBin, plugin));
  for (const [name, path] of Object.entries(options.cniPlugins ?? { flannel: flannelPluginPath })) {
    rmSync(join(cniBin, name), { force: true });
    symlinkSync(path, join(cniBin, name));
  }
  writeFileSync(join(dir, "config.toml"), configToml(dir, socket));

  let containerd: ManagedProcess;
  try {
    containerd = spawnProcess(["nsenter", `--net=/var/run/netns/${options.netns}`, "containerd", "--config", join(dir, "config.toml")], {
      env: cleanEnv(),
    });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const instance: Instance = { dir, socket, pid: containerd.pid };
  instances.add(instance);

  const ctr = async (...args: string[]): Promise<string> =>
    (await run(["ctr", "-a", socket, "-n", ctrNamespace, ...args], { env: cleanEnv(), timeoutMs: 60_000 })).stdout;

  // ctr clients still running (a test failed before letting its container exit).
  const active = new Set<CniRun>();
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (isAlive(containerd.pid)) {
        // Normally empty (ctr run --rm removes its container); after a failure (failed ADD, a
        // test that gave up waiting) it is not.
        const ids = (await ctr("containers", "ls", "-q").catch(() => "")).split("\n").filter((line) => line !== "");
        for (const id of ids) {
          await ctr("tasks", "delete", "--force", id).catch(() => "");
          await ctr("containers", "delete", id).catch(() => "");
        }
      }
      // With its task gone a ctr client runs CNI DEL and exits by itself; end it if it does not.
      const runs = [...active];
      await Promise.race([Promise.all(runs.map((cniRun) => cniRun.finished)), sleep(5000, undefined, { ref: false })]);
      for (const cniRun of runs) await cniRun.process.stop("SIGTERM", 2000);
      endProcessesSync(taskPids(dir));
      await containerd.stop("SIGTERM", 5000);
      removeDirectorySync(dir);
      instances.delete(instance);
    })();
    return stopping;
  };

  let image: string;
  try {
    await waitFor(
      async () => {
        await ctr("version");
        return true;
      },
      { what: `containerd answering on ${socket}`, timeoutMs: 15_000, intervalMs: 50, process: containerd },
    );
    const built = await buildBusyboxImage(dir);
    await ctr("images", "import", built.archive);
    rmSync(built.archive, { force: true });
    image = built.name;
  } catch (error) {
    const log = containerd.output();
    await stop();
    throw new Error(`${String(error)}\ncontainerd output:\n${log}`);
  }

  const startWithCni = (id: string, argv: readonly string[], conflist: string | object, runOptions: CniRunOptions = {}): CniRun => {
    const runDir = join(dir, "runs", id);
    for (const sub of ["cni/net.d", "etc-upper", "etc-work", "varlib-upper", "varlib-work"]) mkdirSync(join(runDir, sub), { recursive: true });
    const text = typeof conflist === "string" ? conflist : `${JSON.stringify(conflist, null, 2)}\n`;
    writeFileSync(join(runDir, "cni", "net.d", runOptions.conflistName ?? "10-flannel.conflist"), text);
    const mounts = runOptions.hostDir === undefined ? [] : ["--mount", `type=bind,src=${runOptions.hostDir},dst=/host,options=rbind:rw`];
    const ctrArgv = [
      "ctr", "-a", socket, "-n", ctrNamespace, "run", "--rm", "--cni",
      // runc's state and the stdio FIFOs: default /run/containerd/runc and /run/containerd/fifo.
      "--runc-root", join(dir, "runc"), "--fifo-dir", join(dir, "fifo"),
      ...mounts, image, id, ...argv,
    ];
    const ctrProcess = spawnProcess(bashScript(ctrWrapper, "ctr-with-cni", ...ctrArgv), {
      netns: options.netns,
      env: cleanEnv({ FT_CNI_BIN: cniBin, FT_RUN_DIR: runDir }),
    });
    let stdout = "";
    // spawnProcess set the encoding; a second listener sees the same chunks, stdout alone.
    ctrProcess.child.stdout?.on("data", (chunk: string) => (stdout += chunk));
    const finished = ctrProcess.exited.then((exit) => {
      active.delete(cniRun);
      rmSync(runDir, { recursive: true, force: true });
      return { code: exit.code, signal: exit.signal, stdout, output: ctrProcess.output() };
    });
    const cniRun: CniRun = { process: ctrProcess, stdout: () => stdout, finished };
    active.add(cniRun);
    return cniRun;
  };

  const runWithCni = async (
    id: string,
    argv: readonly string[],
    conflist: string | object,
    runOptions: CniRunOptions & { timeoutMs?: number } = {},
  ): Promise<CniRunResult> => {
    const started = startWithCni(id, argv, conflist, runOptions);
    const timeoutMs = runOptions.timeoutMs ?? 30_000;
    const timedOut = Symbol("timeout");
    const result = await Promise.race([started.finished, sleep(timeoutMs, timedOut, { ref: false })]);
    if (result !== timedOut) return result;
    await started.process.stop("SIGTERM", 2000);
    throw new Error(`ctr run ${id} did not finish within ${timeoutMs} ms:\n${started.process.output()}`);
  };

  return {
    netns: options.netns,
    dir,
    socket,
    image,
    process: containerd,
    ctr,
    startWithCni,
    runWithCni,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
