// Keeping the node's own lease alive (Flannel's CompleteLease, etcd mode): renew it
// `renewMargin` before it runs out, retry a failed renewal a minute later, follow changes made
// to it by anyone (a renewal elsewhere moves the expiry), and report when it is revoked —
// deleted or expired — so the agent shuts down and its supervisor restarts it to re-acquire.
// A reservation never expires and is never renewed.
import type { Log } from "../../ops/log.ts";
import type { Lease } from "../manager.ts";

/** What happens to the node's own lease after it was acquired. */
export type OwnLeaseEvent =
  | { readonly kind: "renewed"; readonly lease: Lease } //  written again (by us or anyone): new expiry
  | { readonly kind: "revoked" }; //                       deleted or expired: the agent must shut down

/** Where the keeper renews and follows the lease: the etcd manager's own two operations. */
export interface OwnLeaseSource {
  /** Extends the lease (Flannel: a fresh 24 h etcd lease); a reservation stays without expiry. */
  renew(lease: Lease, signal: AbortSignal): Promise<Lease>;
  /** Changes to the node's own lease; ends only when `signal` aborts. */
  watchOwnLease(lease: Lease, signal: AbortSignal): AsyncIterable<OwnLeaseEvent>;
}

/** Why keepLease returned: the lease is gone, or the caller stopped it. */
export type LeaseKeeperOutcome = "revoked" | "stopped";

export interface LeaseKeeperOptions {
  readonly source: OwnLeaseSource;
  readonly lease: Lease;
  /** --subnet-lease-renew-margin, in ms (Flannel's default: 60 minutes). */
  readonly renewMarginMs: number;
  /** Flannel retries a failed renewal after one minute. */
  readonly retryAfterFailureMs?: number;
  readonly log: Log;
  /** Called with the lease after every renewal or outside change. */
  readonly onLeaseChanged?: (lease: Lease) => void;
}

export async function keepLease(options: LeaseKeeperOptions, outerSignal: AbortSignal): Promise<LeaseKeeperOutcome> {
  const { source, log } = options;
  const finished = new AbortController();
  const signal = AbortSignal.any([outerSignal, finished.signal]);
  let current = options.lease;
  let timer: NodeJS.Timeout | undefined;

  const schedule = (delayMs: number): void => {
    clearTimeout(timer);
    timer = setTimeout(() => void renewNow(), Math.max(0, delayMs));
  };
  const scheduleFromExpiry = (): void => {
    if (current.reservation === true || current.expiresAt === undefined) {
      clearTimeout(timer);
      return;
    }
    schedule(current.expiresAt.getTime() - options.renewMarginMs - Date.now());
  };
  const adopt = (lease: Lease): void => {
    current = lease;
    options.onLeaseChanged?.(lease);
    scheduleFromExpiry();
  };
  async function renewNow(): Promise<void> {
    if (signal.aborted) return;
    try {
      adopt(await source.renew(current, signal));
    } catch (error) {
      if (signal.aborted) return;
      const retryMs = options.retryAfterFailureMs ?? 60_000;
      log.warn("lease renewal failed; retrying", { error: error instanceof Error ? error.message : String(error), retryInMs: retryMs });
      schedule(retryMs);
    }
  }

  scheduleFromExpiry();
  try {
    for await (const event of source.watchOwnLease(current, signal)) {
      if (event.kind === "revoked") {
        log.error("Lease has been revoked. Shutting down daemon.");
        return "revoked";
      }
      adopt(event.lease);
    }
    return "stopped";
  } finally {
    finished.abort();
    clearTimeout(timer);
  }
}
