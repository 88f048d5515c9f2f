// The agent's operational record: what happened to the lease, the datastore, the data plane and
// the rules, as plain numbers and states. The daemon's parts write it through small callbacks
// (the subnet managers through DatastoreObserver, the reconcile loop through onRun); /readyz
// (readiness.ts) and /metrics (metrics.ts) only read it. No metrics library here: the record
// costs a few maps whether or not the health port is on, and prom-client is loaded only to
// render it.
import type { ReconcileReport } from "../../backends/backend.ts";
import { formatCidr } from "../../backends/net/ip.ts";
import { errorCode, type DatastoreObserver, type WatchRestartReason } from "../subnet/datastore-observer.ts";
import type { Lease } from "../subnet/manager.ts";
import { LabelledCounts } from "./labelled-counts.ts";

export type RunKind = "apply" | "resync" | "full";
/** success: no entry failed; entry-errors: the run completed with failed entries; failed: it threw. */
export type RunOutcome = "success" | "entry-errors" | "failed";

/** One run of the reconcile loop, as it reports it (reconcile-loop.ts onRun). */
export interface ReconcileRun {
  readonly kind: RunKind;
  readonly durationMs: number;
  /** Absent when the run threw. */
  readonly report?: ReconcileReport;
  /** What the run threw. */
  readonly error?: unknown;
}

export interface OwnLeaseState {
  readonly held: boolean;
  /** The lease's subnet (IPv4, else IPv6) as text, "" once lost. */
  readonly subnet: string;
  /** Undefined for a reservation and in kube mode: such a lease never runs out. */
  readonly expiresAt?: Date | undefined;
}

export interface WatchState {
  readonly following: boolean;
  /** When the state last changed (ms since the epoch). */
  readonly since: number;
  /** Why it is interrupted (the FlannelError code). */
  readonly code?: string | undefined;
}

/** A check the readiness monitor runs on a timer (devices, rules): undefined problem = fine. */
export interface CheckState {
  readonly problem?: string | undefined;
  readonly at: number;
}

export interface LastRun {
  readonly kind: RunKind;
  readonly outcome: RunOutcome;
  readonly at: number;
  readonly detail?: string | undefined;
}

export interface OpsRecord extends DatastoreObserver {
  leaseAcquired(lease: Lease): void;
  leaseLost(): void;
  subnetEnvWritten(): void;
  /** `peers`: how many peers the data plane was asked to hold when the run ended. */
  reconcileRun(run: ReconcileRun, peers: number): void;
  kernelError(component: "dataplane" | "rules" | "blackhole", code: string): void;
  /** Listeners of every reconcile run (metrics.ts observes durations). */
  onRun(listener: (run: ReconcileRun) => void): void;
  devicesChecked(problem: string | undefined): void;
  rulesChecked(problem: string | undefined): void;

  readonly lease: OwnLeaseState | undefined;
  readonly subnetEnv: boolean;
  readonly watches: ReadonlyMap<string, WatchState>;
  readonly lastRun: LastRun | undefined;
  /** Peers the data plane holds: a lower bound after a run with entry errors (see README). */
  readonly peersProgrammed: number;
  readonly devices: CheckState | undefined;
  readonly rules: CheckState | undefined;
  readonly datastoreErrors: LabelledCounts;
  readonly watchRestarts: LabelledCounts;
  readonly reconcileRuns: LabelledCounts;
  readonly reconcileEntries: LabelledCounts;
  readonly kernelErrors: LabelledCounts;
}

function outcomeOf(run: ReconcileRun): RunOutcome {
  if (run.report === undefined) return "failed";
  return run.report.errors.length === 0 ? "success" : "entry-errors";
}

function detailOf(run: ReconcileRun): string | undefined {
  if (run.report === undefined) return run.error instanceof Error ? run.error.message : String(run.error);
  const [first] = run.report.errors;
  return first === undefined ? undefined : `${run.report.errors.length} entry error(s), first: ${first.message}`;
}

export interface OpsRecordOptions {
  readonly now?: () => number;
  /**
   * False in kube mode: a podCIDR lease carries Flannel's nominal 24 h expiry, but nothing renews
   * or expires it, so it must neither be exported as an expiry nor make the node unready.
   */
  readonly leasesExpire?: boolean;
}

export function createOpsRecord(options: OpsRecordOptions = {}): OpsRecord {
  const now = options.now ?? Date.now;
  const leasesExpire = options.leasesExpire ?? true;
  let lease: OwnLeaseState | undefined;
  let subnetEnv = false;
  const watches = new Map<string, WatchState>();
  let lastRun: LastRun | undefined;
  let programmed = 0;
  let peersAtLastRun = 0;
  let devices: CheckState | undefined;
  let rules: CheckState | undefined;
  const listeners: ((run: ReconcileRun) => void)[] = [];
  const datastoreErrors = new LabelledCounts(["operation", "code"]);
  const watchRestarts = new LabelledCounts(["watch", "reason"]);
  const reconcileRuns = new LabelledCounts(["kind", "outcome"]);
  const reconcileEntries = new LabelledCounts(["kind", "change"]);
  const kernelErrors = new LabelledCounts(["component", "code"]);

  const setWatch = (watch: string, following: boolean, code?: string): void => {
    const before = watches.get(watch);
    if (before !== undefined && before.following === following && before.code === code) return;
    watches.set(watch, { following, since: now(), code });
  };
  const adoptLease = (acquired: Lease): void => {
    const subnet = acquired.subnet ?? acquired.subnetV6;
    lease = { held: true, subnet: subnet === undefined ? "" : formatCidr(subnet), expiresAt: acquired.reservation === true || !leasesExpire ? undefined : acquired.expiresAt };
  };

  return {
    requestFailed: (operation, code) => datastoreErrors.add({ operation, code }),
    watchFollowing: (watch) => setWatch(watch, true),
    watchInterrupted: (watch, code) => setWatch(watch, false, code),
    watchRestarted: (watch, reason: WatchRestartReason) => watchRestarts.add({ watch, reason }),
    leaseChanged: adoptLease,
    leaseAcquired: adoptLease,
    leaseLost: () => void (lease = { held: false, subnet: "" }),
    subnetEnvWritten: () => void (subnetEnv = true),
    reconcileRun(run, peers) {
      const outcome = outcomeOf(run);
      reconcileRuns.add({ kind: run.kind, outcome });
      lastRun = { kind: run.kind, outcome, at: now(), detail: detailOf(run) };
      const report = run.report;
      if (report !== undefined) {
        reconcileEntries.add({ kind: run.kind, change: "added" }, report.added);
        reconcileEntries.add({ kind: run.kind, change: "removed" }, report.removed);
        reconcileEntries.add({ kind: run.kind, change: "repaired" }, report.repaired);
        for (const error of report.errors) kernelErrors.add({ component: "dataplane", code: errorCode(error) });
        // A full or resync run sets every peer; an apply moves the count by the peers it changed.
        // Each failed entry is counted as one peer not programmed: a lower bound, exact without errors.
        const base = run.kind === "apply" ? programmed + (peers - peersAtLastRun) : peers;
        programmed = Math.max(0, Math.min(peers, base - report.errors.length));
        peersAtLastRun = peers;
      } else {
        kernelErrors.add({ component: "dataplane", code: errorCode(run.error) });
      }
      for (const listener of listeners) listener(run);
    },
    kernelError: (component, code) => kernelErrors.add({ component, code }),
    onRun: (listener) => void listeners.push(listener),
    devicesChecked: (problem) => void (devices = { problem, at: now() }),
    rulesChecked: (problem) => void (rules = { problem, at: now() }),
    get lease() {
      return lease;
    },
    get subnetEnv() {
      return subnetEnv;
    },
    watches,
    get lastRun() {
      return lastRun;
    },
    get peersProgrammed() {
      return programmed;
    },
    get devices() {
      return devices;
    },
    get rules() {
      return rules;
    },
    datastoreErrors,
    watchRestarts,
    reconcileRuns,
    reconcileEntries,
    kernelErrors,
  };
}
