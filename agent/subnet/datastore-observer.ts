// What the subnet managers tell the agent's operations side (metrics, readiness) about their
// datastore: failed requests by kind, whether each watch is following the store right now, why a
// watch had to be opened again, and the node's own lease as last known. Plain callbacks: the
// managers stay free of any metrics library, and a manager built without an observer (tests,
// tools) reports to `noDatastoreObserver`.
import type { Lease } from "./manager.ts";

/** Why a watch was opened again: its connection broke, or its history is gone and it re-lists. */
export type WatchRestartReason = "error" | "compacted" | "expired" | "overflow";

export interface DatastoreObserver {
  /** A request failed; `code` is the FlannelError code (etcd-unavailable, kube-request-failed…). */
  requestFailed(operation: string, code: string): void;
  /** `watch` follows the store: its stream was established, a list succeeded, or an event arrived. */
  watchFollowing(watch: string): void;
  /** `watch` lost the store and is retrying; it is not following until watchFollowing again. */
  watchInterrupted(watch: string, code: string): void;
  /** `watch` is opened again (every re-open, including each retry during an outage). */
  watchRestarted(watch: string, reason: WatchRestartReason): void;
  /** The own lease after a renewal or an outside change (etcd; kube leases never change). */
  leaseChanged(lease: Lease): void;
}

export const noDatastoreObserver: DatastoreObserver = {
  requestFailed: () => {},
  watchFollowing: () => {},
  watchInterrupted: () => {},
  watchRestarted: () => {},
  leaseChanged: () => {},
};

/** The code of a FlannelError-like value, "unknown" for anything else. */
export function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && code !== "" ? code : "unknown";
}
