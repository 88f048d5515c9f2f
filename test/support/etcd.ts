// A real etcd (Debian `etcd-server`, /usr/bin/etcd) for tests: started on a free loopback port
// (or inside a namespace on a given address), with a temporary data directory that survives a
// restart of the same server and is removed when the server is disposed of.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { etcdBinary, etcdctlBinary, etcdServerArgv, runEtcdctl } from "../../deploy/lab/tools/etcd-command.ts";
import { runPrefix } from "./run-context.ts";
import { spawnProcess, waitFor, type ManagedProcess } from "./process.ts";

export { etcdBinary, etcdctlBinary };

export interface EtcdOptions {
  /** Run inside this namespace; `host` must then be an address of that namespace. */
  readonly netns?: string;
  readonly host?: string;
  readonly clientPort?: number;
  readonly peerPort?: number;
  /** Extra flags, e.g. for TLS (the caller then also sets `scheme: "https"`). */
  readonly extraArgs?: readonly string[];
  readonly scheme?: "http" | "https";
  /** Extra etcdctl flags to reach it (certificates) for the health check. */
  readonly etcdctlArgs?: readonly string[];
}

export interface EtcdServer extends AsyncDisposable {
  readonly endpoint: string;
  readonly dataDir: string;
  readonly process: ManagedProcess;
  /** `etcdctl` against this server, with any args given. */
  etcdctl(...args: string[]): Promise<string>;
  /** Stop (SIGTERM) and keep the data dir. */
  stop(): Promise<void>;
  /** Start again on the same address and data dir after stop(). */
  start(): Promise<void>;
  /** Stop and delete the data dir. */
  dispose(): Promise<void>;
}

/** A TCP port that was free a moment ago on 127.0.0.1 (the kernel picked it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export async function startEtcd(options: EtcdOptions = {}): Promise<EtcdServer> {
  const host = options.host ?? "127.0.0.1";
  const clientPort = options.clientPort ?? (options.netns === undefined ? await freePort() : 2379);
  const peerPort = options.peerPort ?? (options.netns === undefined ? await freePort() : 2380);
  const scheme = options.scheme ?? "http";
  const endpoint = `${scheme}://${host}:${clientPort}`;
  const peerUrl = `http://${host}:${peerPort}`;
  const dataDir = mkdtempSync(join(tmpdir(), `${runPrefix}etcd-`));
  const argv = etcdServerArgv({ name: "test-etcd", dataDir, clientUrl: endpoint, peerUrl, extraArgs: options.extraArgs ?? [] });
  const etcdctl = (...args: string[]): Promise<string> => runEtcdctl(endpoint, options.netns, options.etcdctlArgs ?? [], args);

  let current: ManagedProcess | undefined;
  const start = async (): Promise<void> => {
    const started = spawnProcess(argv, options.netns === undefined ? {} : { netns: options.netns });
    current = started;
    await waitFor(
      async () => {
        await etcdctl("endpoint", "health", "--command-timeout=1s");
        return true;
      },
      { what: `etcd healthy at ${endpoint}`, timeoutMs: 20_000, intervalMs: 100, process: started },
    );
  };
  const stop = async (): Promise<void> => {
    await current?.stop("SIGTERM", 10_000);
  };
  let disposed = false;
  const dispose = async (): Promise<void> => {
    if (disposed) return;
    disposed = true;
    await stop();
    rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    await start();
  } catch (error) {
    await dispose();
    throw error;
  }
  return {
    endpoint,
    dataDir,
    get process() {
      return current!;
    },
    etcdctl,
    stop,
    start,
    dispose,
    [Symbol.asyncDispose]: dispose,
  };
}
