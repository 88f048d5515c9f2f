// One flanneld per node, run exactly as an operator would run it on a host — the built agent by
// absolute path inside the node's namespace, pointed at the lab's etcd:
//   ip netns exec NODE /abs/dist/bin/flanneld --etcd-endpoints=… --iface=eth0
//                      --subnet-file=<state>/nodeN/subnet.env --healthz-port=9180 [--ip-masq]
// or, in kube mode, as the DaemonSet runs it in its pod: --kube-subnet-mgr with the in-cluster
// configuration (KUBERNETES_SERVICE_HOST/PORT, and the ServiceAccount's token and CA under
// /var/run/secrets/kubernetes.io/serviceaccount — mounted on a private tmpfs over /run inside the
// mount namespace `ip netns exec` gives the process, so the host's /run is never touched),
// POD_NAME/POD_NAMESPACE for the node lookup, and net-conf.json from the ConfigMap.
// The handle can stop it (SIGTERM, or SIGKILL for a crash) and start it again with the same
// arguments, which is what the end-to-end tests need to exercise restarts.
import { readFileSync } from "node:fs";
import { subnetEnvValues } from "../../agent/config/subnet-env.ts";
import { bashScript } from "./tools/command.ts";
import { waitFor } from "./tools/wait.ts";
import type { NodeLayout } from "./layout.ts";
import { flanneldBinary, healthzPort, nodeUplink } from "./layout.ts";
import { execIn } from "./namespace.ts";
import { daemonPath, endProcess, logTail, spawnInNamespace, type EndOutcome, type Exit, type LabProcess } from "./processes.ts";
import type { Ledger } from "./state.ts";

export interface LabAgent {
  readonly argv: readonly string[];
  readonly logFile: string;
  readonly subnetFile: string;
  /** The running flanneld's PID; undefined while stopped. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Settles when the current flanneld exits (undefined while stopped). */
  readonly exited: Promise<Exit> | undefined;
  /** Starts flanneld again with the same arguments (it must be stopped). */
  start(): void;
  /** Sends `signal` (default SIGTERM), SIGKILL after `graceMs`; resolves once it is gone. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<EndOutcome>;
  /** kill -9: a crash, as far as flanneld can tell. */
  kill(): Promise<EndOutcome>;
  /** stop(signal), start(), then wait until it is ready again. */
  restart(signal?: NodeJS.Signals): Promise<void>;
  /** GET /readyz from inside the node namespace answered 200. */
  ready(): Promise<boolean>;
  waitReady(options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<void>;
  /** The node's subnet as subnet.env says (FLANNEL_SUBNET), undefined before it is written. */
  subnet(): string | undefined;
  /** The last `lines` lines of flanneld's log. */
  logTail(lines?: number): string;
}

/** Where the agent gets its leases: the lab's etcd, or the lab's API server as a pod would. */
export type AgentDatastore =
  | { readonly kind: "etcd"; readonly endpoint: string }
  | {
      readonly kind: "kube";
      readonly apiHost: string;
      readonly apiPort: number;
      /** The pod this agent runs as (its spec.nodeName names the node). */
      readonly podNamespace: string;
      readonly podName: (node: NodeLayout) => string;
      /** Holds token, ca.crt and namespace, as the ServiceAccount volume would. */
      readonly serviceAccountDir: (node: NodeLayout) => string;
      readonly netConfPath: (node: NodeLayout) => string;
    };

export interface AgentSettings {
  readonly datastore: AgentDatastore;
  readonly ipMasq: boolean;
}

const podSecretsScript = [
  "set -e",
  "mount -t tmpfs -o mode=0755,size=1m lab-pod-run /run",
  "mkdir -p /run/secrets/kubernetes.io/serviceaccount",
  'cp "$LAB_SERVICE_ACCOUNT_DIR"/token "$LAB_SERVICE_ACCOUNT_DIR"/ca.crt "$LAB_SERVICE_ACCOUNT_DIR"/namespace /run/secrets/kubernetes.io/serviceaccount/',
  'exec "$@"',
].join("\n");

export function flanneldArgv(node: NodeLayout, settings: AgentSettings): string[] {
  const common = [`--iface=${nodeUplink}`, `--subnet-file=${node.subnetFile}`, `--healthz-port=${healthzPort}`, ...(settings.ipMasq ? ["--ip-masq"] : [])];
  const store = settings.datastore;
  if (store.kind === "etcd") return [flanneldBinary, `--etcd-endpoints=${store.endpoint}`, ...common];
  return ["sh", "-c", podSecretsScript, "flanneld-pod", flanneldBinary, "--kube-subnet-mgr", `--net-config-path=${store.netConfPath(node)}`, ...common];
}

/** The process environment: a bare PATH, plus in kube mode what the DaemonSet's pod would have. */
export function flanneldEnv(node: NodeLayout, settings: AgentSettings): NodeJS.ProcessEnv {
  const store = settings.datastore;
  const base = { PATH: daemonPath };
  if (store.kind === "etcd") return base;
  return {
    ...base,
    KUBERNETES_SERVICE_HOST: store.apiHost,
    KUBERNETES_SERVICE_PORT: String(store.apiPort),
    POD_NAME: store.podName(node),
    POD_NAMESPACE: store.podNamespace,
    LAB_SERVICE_ACCOUNT_DIR: store.serviceAccountDir(node),
  };
}

/** Asks flanneld's /readyz over plain HTTP from inside `ns` (bash's /dev/tcp: no extra runtime to start). */
export async function readyzAnswers200(ns: string, port = healthzPort): Promise<boolean> {
  const script = `exec 3<>/dev/tcp/127.0.0.1/${port} && printf 'GET /readyz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3`;
  const result = await execIn(ns, ["timeout", "2", ...bashScript(script)], { allowFailure: true, timeoutMs: 5000 });
  return result.code === 0 && / 200 /.test(result.stdout);
}

/** Creates the handle and starts flanneld (not waiting for it). */
export function startAgent(node: NodeLayout, settings: AgentSettings, ledger: Ledger): LabAgent {
  const argv = flanneldArgv(node, settings);
  const env = flanneldEnv(node, settings);
  const role = `flanneld ${node.name}`;
  let current: LabProcess | undefined;

  const start = (): void => {
    if (current !== undefined) throw new Error(`${role} is already running (pid ${current.identity.pid})`);
    const started = spawnInNamespace(node.ns, argv, node.logFile, env);
    current = started;
    ledger.process({ role, ...started.identity });
    void started.exited.then(() => {
      ledger.processGone(started.identity);
      if (current === started) current = undefined;
    });
  };
  const stop = async (signal: NodeJS.Signals = "SIGTERM", graceMs = 10_000): Promise<EndOutcome> => {
    const stopping = current;
    if (stopping === undefined) return "not-running";
    const outcome = await endProcess(stopping.identity, signal, graceMs);
    // Referenced again while we wait for its exit event: an unreferenced child alone would let
    // Node's event loop end before the event (and this promise) ever arrives.
    stopping.child.ref();
    await stopping.exited;
    return outcome;
  };
  const waitReady = async (options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> => {
    await waitFor(async () => current !== undefined && (await readyzAnswers200(node.ns)), {
      what: `${role} ready (/readyz 200)`,
      timeoutMs: options.timeoutMs ?? 30_000,
      intervalMs: 200,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      process: {
        get pid() {
          return current?.identity.pid ?? 0;
        },
        output: () => `last lines of ${node.logFile}:\n${logTail(node.logFile, 20)}`,
      },
    });
  };

  start();
  return {
    argv,
    logFile: node.logFile,
    subnetFile: node.subnetFile,
    get pid() {
      return current?.identity.pid;
    },
    get running() {
      return current !== undefined;
    },
    get exited() {
      return current?.exited;
    },
    start,
    stop,
    kill: () => stop("SIGKILL"),
    async restart(signal = "SIGTERM") {
      await stop(signal);
      start();
      await waitReady();
    },
    ready: () => readyzAnswers200(node.ns),
    waitReady,
    subnet() {
      try {
        return subnetEnvValues(readFileSync(node.subnetFile, "utf8")).FLANNEL_SUBNET;
      } catch {
        return undefined;
      }
    },
    logTail: (lines = 20) => logTail(node.logFile, lines),
  };
}
