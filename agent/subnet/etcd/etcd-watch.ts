// Watching leases in etcd as Flannel does (F:pkg/subnet/etcd/registry.go watchSubnets /
// watchSubnet): list once and report a snapshot at revision R, then follow changes from R+1.
// A lost connection resumes from the last revision seen (nothing lost, nothing twice), with
// backoff 100 ms doubling to 5 s; a compacted history means a fresh list and a new snapshot.
import { isFlannelError } from "../../../backends/errors.ts";
import type { Log } from "../../ops/log.ts";
import { createBackoff } from "../backoff.ts";
import { errorCode, noDatastoreObserver, type DatastoreObserver } from "../datastore-observer.ts";
import { subnetsPrefix } from "../keys.ts";
import type { Lease, LeaseEvent } from "../manager.ts";
import type { OwnLeaseEvent } from "./lease-keeper.ts";
import { leaseFromEntry, leasesFromEntries, removedLeaseFromKey } from "./etcd-leases.ts";
import type { EtcdStore, StoredChange, WatchTarget, WatchUpdate } from "./store-contract.ts";

export interface WatchContext {
  readonly store: EtcdStore;
  readonly prefix: string;
  readonly log: Log;
  /** Hears whether each watch follows the store (metrics, readiness). */
  readonly observer?: DatastoreObserver | undefined;
}

/** The watch's name in metrics and readiness: "leases", "own-lease". */
const watchName = (what: string): string => what.replace(/ /g, "-");

function eventFromChange(change: StoredChange, log: Log): LeaseEvent | undefined {
  if (change.type === "delete") {
    const lease = removedLeaseFromKey(change.entry.key, log);
    return lease === undefined ? undefined : { kind: "removed", lease };
  }
  const lease = leaseFromEntry(change.entry, log);
  return lease === undefined ? undefined : { kind: "added", lease };
}

/**
 * Follows `target` from `afterRevision`, surviving connection loss. Yields each update; ends when
 * the history was compacted (after yielding it) or the signal aborts.
 */
async function* followChanges(context: WatchContext, target: WatchTarget, afterRevision: bigint, what: string, signal: AbortSignal): AsyncGenerator<WatchUpdate> {
  const backoff = createBackoff();
  const observer = context.observer ?? noDatastoreObserver;
  const name = watchName(what);
  const following = (): void => observer.watchFollowing(name);
  let revision = afterRevision;
  let disconnected = false;
  while (!signal.aborted) {
    if (disconnected) observer.watchRestarted(name, "error");
    try {
      for await (const update of context.store.watch(target, revision, signal, following)) {
        if (disconnected) context.log.info("etcd watch resumed", { watch: what, revision: String(revision) });
        following();
        disconnected = false;
        backoff.reset();
        yield update;
        if (update.kind === "compacted") return;
        revision = update.revision;
      }
    } catch (error) {
      if (signal.aborted) return;
      observer.watchInterrupted(name, errorCode(error));
      if (!disconnected) {
        context.log.warn("etcd watch interrupted; reconnecting", {
          watch: what,
          revision: String(revision),
          error: isFlannelError(error) ? error.message : String(error),
        });
      }
      disconnected = true;
      await backoff.wait(signal).catch(() => undefined);
    }
  }
}

/** Retries `operation` with backoff until it succeeds or the signal aborts (then it rejects). */
async function retrying<T>(context: WatchContext, what: string, watch: string, operation: () => Promise<T>, signal: AbortSignal): Promise<T> {
  const backoff = createBackoff();
  const observer = context.observer ?? noDatastoreObserver;
  for (let attempt = 1; ; attempt++) {
    try {
      if (attempt > 1) observer.watchRestarted(watch, "error");
      const result = await operation();
      observer.watchFollowing(watch);
      return result;
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      observer.watchInterrupted(watch, errorCode(error));
      context.log.warn(`${what} failed; retrying`, { error: isFlannelError(error) ? error.message : String(error), retryInMs: backoff.nextDelayMs });
      await backoff.wait(signal);
    }
  }
}

export async function* watchLeases(context: WatchContext, signal: AbortSignal): AsyncGenerator<readonly LeaseEvent[]> {
  const prefix = subnetsPrefix(context.prefix);
  while (!signal.aborted) {
    let listed: Awaited<ReturnType<EtcdStore["list"]>>;
    try {
      listed = await retrying(context, "listing leases", "leases", () => context.store.list(prefix, signal), signal);
    } catch {
      return; // aborted
    }
    yield [{ kind: "snapshot", leases: leasesFromEntries(listed.entries, context.log) }];
    for await (const update of followChanges(context, { prefix }, listed.revision, "leases", signal)) {
      if (update.kind === "compacted") {
        context.log.warn("etcd history was compacted under the lease watch; listing again", { prefix });
        context.observer?.watchRestarted("leases", "compacted");
        break;
      }
      const events = update.changes.flatMap((change) => eventFromChange(change, context.log) ?? []);
      if (events.length > 0) yield events;
    }
  }
}

/**
 * The node's own lease: renewed (a put, with the new expiry from the key's etcd lease) or
 * revoked (deleted or expired). Also reports revoked when the key is found missing after a
 * reconnect or a compaction, so an outage cannot hide the loss.
 */
export async function* watchOwnLease(context: WatchContext, key: string, lease: Lease, signal: AbortSignal): AsyncGenerator<OwnLeaseEvent> {
  while (!signal.aborted) {
    let current: Awaited<ReturnType<EtcdStore["get"]>>;
    try {
      current = await retrying(context, "reading the own lease", "own-lease", () => context.store.get(key, signal), signal);
    } catch {
      return; // aborted
    }
    if (current.entry === undefined) {
      yield { kind: "revoked" };
      return;
    }
    for await (const update of followChanges(context, { key }, current.revision, "own lease", signal)) {
      if (update.kind === "compacted") {
        context.observer?.watchRestarted("own-lease", "compacted");
        break; // read the key again
      }
      for (const change of update.changes) {
        if (change.type === "delete") {
          yield { kind: "revoked" };
          return;
        }
        const renewed = leaseFromEntry(change.entry, context.log);
        if (renewed === undefined) continue;
        const ttl = change.entry.leaseId === 0n ? undefined : await context.store.leaseTimeToLive(change.entry.leaseId, signal).catch(() => undefined);
        const { expiresAt: previousExpiry, reservation: _was, ...rest } = lease;
        // Expiry recomputed from the key's real TTL; if that lookup failed, keep the last known one.
        const expiresAt = ttl === undefined ? previousExpiry : new Date(Date.now() + ttl * 1000);
        yield {
          kind: "renewed",
          lease: {
            ...rest,
            attrs: renewed.attrs,
            ...(change.entry.leaseId === 0n ? { reservation: true } : expiresAt === undefined ? {} : { expiresAt }),
          },
        };
      }
    }
  }
}
