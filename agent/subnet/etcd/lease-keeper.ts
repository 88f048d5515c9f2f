// Keeping the node's own lease alive (Flannel's CompleteLease, etcd mode): renew it
// `renewMargin` before it runs out, retry a failed renewal a minute later, follow changes made
// to it by anyone (a renewal elsewhere moves the expiry), and report when it is revoked —
// deleted or expired — so the agent shuts down and its supervisor restarts it to re-acquire.
// A reservation never expires and is never renewed.
//
// While the datastore is unreachable nothing can be revoked or renewed: the data plane stays as
// it is (pods keep their connectivity), and the keeper says so loudly — an error when a failed
// renewal leaves the lease running out before the next attempt, and another when the expiry
// passes unrenewed — and retries sooner as the expiry nears. Once the store answers again, its
// watch tells whether the lease survived (renewed) or not (revoked: restart and re-acquire).
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
  let expiryTimer: NodeJS.Timeout | undefined;
  /** The expiry already announced as near (one error per expiry, not one per retry). */
  let warnedExpiry: number | undefined;

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
  const watchExpiry = (): void => {
    clearTimeout(expiryTimer);
    const expiresAt = current.reservation === true ? undefined : current.expiresAt;
    if (expiresAt === undefined) return;
    expiryTimer = setTimeout(() => {
      if (signal.aborted) return;
      log.error("the node's lease expired unrenewed while the datastore was unreachable; the data plane is kept until the store answers", {
        expiresAt: expiresAt.toISOString(),
      });
    }, Math.max(0, expiresAt.getTime() - Date.now()));
  };
  const adopt = (lease: Lease): void => {
    current = lease;
    options.onLeaseChanged?.(lease);
    scheduleFromExpiry();
    watchExpiry();
  };
  async function renewNow(): Promise<void> {
    if (signal.aborted) return;
    try {
      adopt(await source.renew(current, signal));
    } catch (error) {
      if (signal.aborted) return;
      const message = error instanceof Error ? error.message : String(error);
      const expiresAt = current.reservation === true ? undefined : current.expiresAt;
      const leftMs = expiresAt === undefined ? Number.POSITIVE_INFINITY : expiresAt.getTime() - Date.now();
      // Near the end, try more often than once a minute: a store back in time still saves the lease.
      const baseRetryMs = options.retryAfterFailureMs ?? 60_000;
      const retryMs = Math.min(baseRetryMs, Math.max(1000, leftMs / 4));
      // "Soon": within half the renew margin (when /readyz turns the lease condition red), or two retries.
      const soonMs = Math.max(options.renewMarginMs / 2, 2 * baseRetryMs);
      if (expiresAt !== undefined && leftMs < soonMs && warnedExpiry !== expiresAt.getTime()) {
        warnedExpiry = expiresAt.getTime();
        log.error("the node's lease expires soon and cannot be renewed: the datastore is unreachable; the data plane is kept", {
          expiresAt: expiresAt.toISOString(),
          error: message,
        });
      } else {
        log.warn("lease renewal failed; retrying", { error: message, retryInMs: retryMs });
      }
      schedule(retryMs);
    }
  }

  scheduleFromExpiry();
  watchExpiry();
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
    clearTimeout(expiryTimer);
  }
}
