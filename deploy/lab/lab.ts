// The lab as a programmatic API: a multi-node flannel cluster in network namespaces on this
// machine — an underlay, a real etcd (or, with `kube`, the lab's own Kubernetes API server), one
// real flanneld per node and real pods wired by the real CNI plugins. `npm run lab` (main.ts) is a thin CLI over it, and the end-to-end tests drive the
// same object: restart or kill an agent, delete a lease with etcdctl, read kernel objects on a
// node, ping between pods.
//
// Start-up is a sequence of recorded side effects; if any step fails (or `signal` aborts), what
// was made so far is removed before the error is passed on.
import { setTimeout as sleep } from "node:timers/promises";
import type { CommandResult, RunOptions } from "./tools/command.ts";
import type { LabAgent } from "./agent.ts";
import type { LabEtcd } from "./etcd.ts";
import type { LabKubeApi } from "./kube/apiserver.ts";
import { defaultStateRoot, labLayout, type NodeLayout } from "./layout.ts";
import { execIn, ipIn, ipJsonIn } from "./namespace.ts";
import { labOptions, type LabOptions } from "./options.ts";
import type { LabPod } from "./pods.ts";
import { createProgress, type Progress, type StepTiming } from "./progress.ts";
import { identify, openLedger, type ProcessRecord } from "./state.ts";
import { buildLab, checkPreconditions, logTails, type Built, type LogTail } from "./startup.ts";
import { fullyReachable, nodeStatus, pingMatrix, type NodeStatus, type PingMatrix } from "./status.ts";
import { removeLab, type TeardownResult } from "./teardown.ts";

// The API's types in one place for its users (the end-to-end tests).
export type { LabAgent, LabEtcd, LabKubeApi, LabOptions, LabPod, LogTail, NodeStatus, PingMatrix, ProcessRecord, StepTiming, TeardownResult };

export interface LabNode {
  /** 1-based. */
  readonly index: number;
  /** node1, node2, … */
  readonly name: string;
  readonly ns: string;
  readonly publicIP: string;
  /** The node's state directory (subnet.env, flanneld.log, the CNI data dirs). */
  readonly dir: string;
  readonly flanneld: LabAgent;
  readonly pods: readonly LabPod[];
  /** FLANNEL_SUBNET from the node's subnet.env (undefined before flanneld wrote it). */
  subnet(): string | undefined;
  /** `ip netns exec <node> argv…` */
  exec(argv: readonly string[], options?: RunOptions): Promise<CommandResult>;
  /** `ip -n <node> args…` */
  ip(...args: string[]): Promise<CommandResult>;
  /** `ip -n <node> -json args…`, parsed. */
  ipJson<T = unknown>(...args: string[]): Promise<T>;
}

export interface Lab extends AsyncDisposable {
  readonly name: string;
  readonly options: LabOptions;
  readonly stateDir: string;
  readonly fabricNs: string;
  readonly nodes: readonly LabNode[];
  /** Every pod, node by node. */
  readonly pods: readonly LabPod[];
  /** etcd mode: the lab's etcd. */
  readonly etcd?: LabEtcd;
  /** Kube mode: the lab's API server (fixtures, faults, kubectl). */
  readonly kube?: LabKubeApi;
  /** How long each start-up step took. */
  readonly timings: readonly StepTiming[];
  status(): Promise<NodeStatus[]>;
  pingMatrix(): Promise<PingMatrix>;
  /** Pings until every pod reaches every other pod or `timeoutMs` passes; the last matrix either way. */
  waitConverged(options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<PingMatrix>;
  /** Removes everything the lab made (idempotent). */
  teardown(): Promise<TeardownResult>;
}

export interface StartLabOptions extends Partial<LabOptions> {
  /** Where lab state directories live (default /tmp/flannel-ts-lab). */
  readonly stateRoot?: string;
  /** Shows each start-up step and its duration (default: silent). */
  readonly progress?: Progress;
  /**
   * Hears of every process the lab starts (etcd, each flanneld, restarts too). The processes run
   * in a process group of their own and outlive a killed owner; a test run can record them here
   * for its own leftover sweep. (Give tests' labs a name with the run's prefix for the same reason.)
   */
  readonly onProcessStarted?: (process: ProcessRecord) => void;
}

/** Thrown when start-up failed; whatever had been made was removed (see `teardown`). */
export class LabStartError extends Error {
  override readonly name = "LabStartError";
  readonly teardown: TeardownResult;
  /** The last lines of etcd's and each flanneld's log, read before the state directory went. */
  readonly logs: readonly LogTail[];
  constructor(cause: unknown, teardown: TeardownResult, logs: readonly LogTail[]) {
    super(`lab start-up failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.teardown = teardown;
    this.logs = logs;
  }
}

function labNode(node: NodeLayout, flanneld: LabAgent, pods: readonly LabPod[]): LabNode {
  return {
    index: node.index,
    name: node.name,
    ns: node.ns,
    publicIP: node.publicIP,
    dir: node.dir,
    flanneld,
    pods,
    subnet: () => flanneld.subnet(),
    exec: (argv, options) => execIn(node.ns, argv, options),
    ip: (...args) => ipIn(node.ns, ...args),
    ipJson: <T>(...args: string[]) => ipJsonIn<T>(node.ns, ...args),
  };
}

export async function startLab(given: StartLabOptions = {}, signal: AbortSignal = new AbortController().signal): Promise<Lab> {
  const options = labOptions(given);
  const layout = labLayout(options.name, options.nodes, options.podsPerNode, given.stateRoot ?? defaultStateRoot);
  const progress = given.progress ?? createProgress();
  checkPreconditions(layout);
  const owner = identify(process.pid);
  if (owner === undefined) throw new Error("cannot read this process's own start time from /proc");
  const ledger = openLedger({
    version: 1,
    name: options.name,
    stateDir: layout.stateDir,
    owner,
    options,
    createdAt: new Date().toISOString(),
    namespaces: [],
    processes: [],
    pods: [],
  }, given.onProcessStarted);
  let tearingDown: Promise<TeardownResult> | undefined;
  const teardown = (): Promise<TeardownResult> => {
    tearingDown ??= (async () => {
      ledger.close();
      return removeLab(ledger.record);
    })();
    return tearingDown;
  };

  let built: Built;
  try {
    built = await buildLab(layout, options, ledger, progress, signal);
  } catch (error) {
    const logs = logTails(layout, 15);
    throw new LabStartError(error, await teardown(), logs);
  }

  const nodes = layout.nodes.map((node, i) => labNode(node, built.agents[i]!, built.pods[i]!));
  const pods = built.pods.flat();
  const lab: Lab = {
    name: options.name,
    options,
    stateDir: layout.stateDir,
    fabricNs: layout.fabricNs,
    nodes,
    pods,
    ...(built.etcd === undefined ? {} : { etcd: built.etcd }),
    ...(built.kube === undefined ? {} : { kube: built.kube }),
    timings: progress.timings,
    status: () =>
      Promise.all(
        nodes.map((node) => {
          // udp counts peers by pinging their flannel0 addresses, so it needs their subnets.
          const peerSubnets = nodes.filter((other) => other !== node).flatMap((other) => other.subnet() ?? []);
          return nodeStatus(node, options.backend, options.network, options.nodes, peerSubnets);
        }),
      ),
    pingMatrix: () => pingMatrix(pods),
    async waitConverged({ timeoutMs = 30_000, signal: waitSignal } = {}) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        waitSignal?.throwIfAborted();
        const matrix = await pingMatrix(pods);
        if (fullyReachable(matrix) || Date.now() >= deadline) return matrix;
        await sleep(500, undefined, waitSignal === undefined ? undefined : { signal: waitSignal });
      }
    },
    teardown,
    [Symbol.asyncDispose]: async () => {
      await teardown();
    },
  };
  return lab;
}
