// The command lines of a single-member etcd (Debian `etcd-server`) and of etcdctl against it.
// Pure and free of import side effects, so both the tests' startEtcd (etcd.ts) and the lab
// (deploy/lab/), which runs etcd its own way (detached, log file, state on disk), build them here.
import { run } from "./command.ts";

export const etcdBinary = "/usr/bin/etcd";
export const etcdctlBinary = "/usr/bin/etcdctl";

export interface EtcdServerCommand {
  readonly name: string;
  readonly dataDir: string;
  /** e.g. http://198.18.0.254:2379 */
  readonly clientUrl: string;
  /** e.g. http://198.18.0.254:2380 */
  readonly peerUrl: string;
  readonly extraArgs?: readonly string[];
}

export function etcdServerArgv(command: EtcdServerCommand): string[] {
  return [
    etcdBinary,
    `--name=${command.name}`,
    `--data-dir=${command.dataDir}`,
    `--listen-client-urls=${command.clientUrl}`,
    `--advertise-client-urls=${command.clientUrl}`,
    `--listen-peer-urls=${command.peerUrl}`,
    `--initial-advertise-peer-urls=${command.peerUrl}`,
    `--initial-cluster=${command.name}=${command.peerUrl}`,
    "--logger=zap",
    "--log-level=warn",
    ...(command.extraArgs ?? []),
  ];
}

/** `etcdctl --endpoints=ENDPOINT extra… args…` (API v3), from inside `netns` when given; resolves to stdout. */
export async function runEtcdctl(endpoint: string, netns: string | undefined, extra: readonly string[], args: readonly string[]): Promise<string> {
  const base = [etcdctlBinary, `--endpoints=${endpoint}`, ...extra, ...args];
  const full = netns === undefined ? base : ["ip", "netns", "exec", netns, ...base];
  const { stdout } = await run(full, { env: { ...process.env, ETCDCTL_API: "3" } });
  return stdout;
}
