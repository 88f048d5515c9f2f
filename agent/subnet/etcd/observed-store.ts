// An EtcdStore that reports every failed request to a DatastoreObserver (datastore errors by
// kind, for /metrics) and otherwise behaves exactly as the store it wraps. Counting here, at the
// one door every etcd call goes through, catches the manager's, the keeper's and the watches'
// failures alike without a counter in each retry loop.
import { errorCode, type DatastoreObserver } from "../datastore-observer.ts";
import type { EtcdStore, WatchUpdate } from "./store-contract.ts";

export function observeStore(store: EtcdStore, observer: DatastoreObserver): EtcdStore {
  const counted = <T>(operation: string, call: Promise<T>, signal: AbortSignal): Promise<T> =>
    call.catch((error: unknown) => {
      // A call the agent cancelled itself is not a datastore error.
      if (!signal.aborted) observer.requestFailed(operation, errorCode(error));
      throw error;
    });

  async function* watch(iterable: AsyncIterable<WatchUpdate>, signal: AbortSignal): AsyncGenerator<WatchUpdate> {
    try {
      yield* iterable;
    } catch (error) {
      if (!signal.aborted) observer.requestFailed("watch", errorCode(error));
      throw error;
    }
  }

  return {
    get: (key, signal) => counted("get", store.get(key, signal), signal),
    list: (prefix, signal) => counted("list", store.list(prefix, signal), signal),
    grantLease: (ttl, signal) => counted("grant-lease", store.grantLease(ttl, signal), signal),
    revokeLease: (id, signal) => counted("revoke-lease", store.revokeLease(id, signal), signal),
    leaseTimeToLive: (id, signal) => counted("lease-ttl", store.leaseTimeToLive(id, signal), signal),
    createIfAbsent: (key, value, id, signal) => counted("create", store.createIfAbsent(key, value, id, signal), signal),
    put: (key, value, id, signal) => counted("put", store.put(key, value, id, signal), signal),
    delete: (key, signal) => counted("delete", store.delete(key, signal), signal),
    watch: (target, afterRevision, signal, onEstablished) => watch(store.watch(target, afterRevision, signal, onEstablished), signal),
    close: () => store.close(),
  };
}
