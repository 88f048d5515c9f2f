// Keeping the node's own lease alive (Flannel's CompleteLease, etcd mode): renew it
// `renewMargin` before it runs out, retry a failed renewal a minute later, follow changes made
// to it by anyone (a renewal elsewhere moves the expiry), and report when it is revoked —
// deleted or expired — so the agent shuts down and its supervisor restarts it to re-acquire.
// A reservation never expires and is never renewed.
import type { Log } from "../ops/log.ts";
import type { Lease, SubnetManager } from "./manager.ts";

/** Why keepLease returned: the lease is gone, or the caller stopped it. */
export type LeaseKeeperOutcome = "revoked" | "stopped";

export interface LeaseKeeperOptions {
  readonly manager: SubnetManager;
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
  const { manager, log } = options;
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
      adopt(await manager.renew(current, signal));
    } catch (error) {
      if (signal.aborted) return;
      const retryMs = options.retryAfterFailureMs ?? 60_000;
      log.warn("lease renewal failed; retrying", { error: error instanceof Error ? error.message : String(error), retryInMs: retryMs });
      schedule(retryMs);
    }
  }

  scheduleFromExpiry();
  try {
    for await (const event of manager.watchOwnLease(current, signal)) {
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
