// The lab's etcd: the real one (Debian etcd-server, /usr/bin/etcd) inside the fabric namespace on
// 198.18.0.254:2379, so every node reaches it over the underlay as it would a cluster's etcd.
// Its data and log live in the lab's state directory.
import { mkdirSync } from "node:fs";
import { etcdServerArgv, runEtcdctl } from "./tools/etcd-command.ts";
import { waitFor } from "./tools/wait.ts";
import type { LabLayout } from "./layout.ts";
import { networkConfigKey } from "./layout.ts";
import type { LabBackend } from "./options.ts";
import { logTail, spawnInNamespace } from "./processes.ts";
import type { Ledger } from "./state.ts";

export interface LabEtcd {
  readonly endpoint: string;
  /** The namespace it runs in (the fabric). */
  readonly ns: string;
  readonly pid: number;
  readonly logFile: string;
  /** `etcdctl --endpoints=<endpoint> args…` run inside the fabric namespace; resolves to stdout. */
  etcdctl(...args: string[]): Promise<string>;
}

export async function startLabEtcd(layout: LabLayout, ledger: Ledger, signal: AbortSignal): Promise<LabEtcd> {
  signal.throwIfAborted();
  mkdirSync(layout.etcdDataDir, { recursive: true, mode: 0o700 });
  const argv = etcdServerArgv({ name: layout.name, dataDir: layout.etcdDataDir, clientUrl: layout.etcdEndpoint, peerUrl: layout.etcdPeerUrl });
  const started = spawnInNamespace(layout.fabricNs, argv, layout.etcdLogFile);
  ledger.process({ role: "etcd", ...started.identity });
  const etcdctl = (...args: string[]): Promise<string> => runEtcdctl(layout.etcdEndpoint, layout.fabricNs, [], args);
  await waitFor(
    async () => {
      await etcdctl("endpoint", "health", "--command-timeout=1s");
      return true;
    },
    {
      what: `etcd healthy at ${layout.etcdEndpoint} (log: ${layout.etcdLogFile})`,
      timeoutMs: 20_000,
      intervalMs: 100,
      process: { pid: started.identity.pid, output: () => `last lines of ${layout.etcdLogFile}:\n${logTail(layout.etcdLogFile, 15)}` },
      signal,
    },
  );
  return { endpoint: layout.etcdEndpoint, ns: layout.fabricNs, pid: started.identity.pid, logFile: layout.etcdLogFile, etcdctl };
}

/** Flannel's network configuration (net-conf.json) as flanneld reads it from etcd. */
export function networkConfig(network: string, backend: LabBackend): string {
  return JSON.stringify({ Network: network, Backend: { Type: backend } });
}

export async function putNetworkConfig(etcd: LabEtcd, network: string, backend: LabBackend): Promise<void> {
  await etcd.etcdctl("put", networkConfigKey, networkConfig(network, backend));
}
