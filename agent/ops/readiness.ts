// What /readyz answers, evaluated from the operational record every time it is asked: the node
// is ready while every condition holds, and each failing one is named on a line of its own.
//   lease            held, and not within `nearExpiryMs` of running out (a reservation and a kube
//                    lease never run out);
//   subnet.env       written (pods can be wired);
//   datastore watch  every watch started follows the store (a watch that keeps retrying does not);
//   reconcile        the last run of the data plane (apply, resync or full) had no failure;
//   device           the backend's devices exist (vxlan: flannel.<VNI>; host-gw: none);
//   rules            the last firewall rule check succeeded.
// The device and rule conditions come from checks the readiness monitor (readiness-monitor.ts)
// runs every resync period. /healthz stays Flannel's liveness: a datastore outage makes the node
// unready, never restarted.
import type { OpsRecord } from "./ops-record.ts";

export interface Readiness {
  /** The failing conditions, one line each ("condition: why"); empty when ready. */
  problems(): readonly string[];
}

export interface ReadinessOptions {
  /** Not ready once the own lease has less than this left (Flannel renews at --subnet-lease-renew-margin). */
  readonly nearExpiryMs: number;
  /** The watch that must have started for the node to know its peers ("leases" in etcd mode, "nodes" in kube mode). */
  readonly peerWatch: string;
  readonly now?: () => number;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Pure: the failing conditions of `record` at time `now`. */
export function readinessProblems(record: OpsRecord, options: ReadinessOptions, now: number): string[] {
  const problems: string[] = [];
  const { lease } = record;
  if (lease === undefined) problems.push("lease: not acquired yet");
  else if (!lease.held) problems.push("lease: lost");
  else if (lease.expiresAt !== undefined) {
    const left = lease.expiresAt.getTime() - now;
    if (left <= 0) problems.push(`lease: expired at ${lease.expiresAt.toISOString()}`);
    else if (left < options.nearExpiryMs) problems.push(`lease: expires at ${lease.expiresAt.toISOString()} (in ${Math.round(left / 1000)} s) and was not renewed`);
  }
  if (!record.subnetEnv) problems.push("subnet.env: not written yet");

  if (!record.watches.has(options.peerWatch)) problems.push(`datastore watch: the ${options.peerWatch} watch has not started`);
  for (const [name, watch] of record.watches) {
    if (!watch.following) problems.push(`datastore watch: ${name} interrupted since ${iso(watch.since)} (${watch.code ?? "unknown"}), reconnecting`);
  }

  const run = record.lastRun;
  if (run === undefined) problems.push("reconcile: the data plane has not been reconciled yet");
  else if (run.outcome !== "success") problems.push(`reconcile: the last ${run.kind} run at ${iso(run.at)} ${run.outcome === "failed" ? "failed" : "had entry errors"}: ${run.detail ?? ""}`);

  if (record.devices?.problem !== undefined) problems.push(`device: ${record.devices.problem}`);
  if (record.rules?.problem !== undefined) problems.push(`rules: ${record.rules.problem}`);
  return problems;
}

export function createReadiness(record: OpsRecord, options: ReadinessOptions): Readiness {
  const now = options.now ?? Date.now;
  return { problems: () => readinessProblems(record, options, now()) };
}
