// The small key-value contract the etcd subnet manager needs from etcd v3. Only store.ts
// implements it (and is the only file that imports the etcd3 library), so the unmaintained
// client can be replaced in one place; tests may record calls against the same contract.

/** One key as etcd holds it. */
export interface StoredEntry {
  readonly key: string;
  readonly value: string;
  /** The etcd lease the key is attached to; 0n when it has none (a Flannel reservation). */
  readonly leaseId: bigint;
  readonly createRevision: bigint;
  readonly modRevision: bigint;
}

export interface StoredChange {
  readonly type: "put" | "delete";
  /** For a delete, `value` is "" and `leaseId` 0n: etcd does not send the old value. */
  readonly entry: StoredEntry;
}

export type WatchUpdate =
  /** Changes in revision order; `revision` is the store revision they bring the watcher to. */
  | { readonly kind: "changes"; readonly changes: readonly StoredChange[]; readonly revision: bigint }
  /** The requested history was compacted away: the caller must re-list. The watch then ends. */
  | { readonly kind: "compacted" };

export type WatchTarget = { readonly key: string } | { readonly prefix: string };

export interface EtcdTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** Optional: without it the system's roots are used, as Flannel does. */
  readonly caFile?: string;
}

export interface EtcdStoreOptions {
  readonly endpoints: readonly string[];
  readonly username?: string;
  readonly password?: string;
  /** mTLS only when both cert and key are given (Flannel's rule); the caller decides that. */
  readonly tls?: EtcdTlsFiles;
  /** How long one request may wait for an answer before failing with etcd-unavailable. */
  readonly requestTimeoutMs?: number;
}

/**
 * Every method takes an AbortSignal and fails with a FlannelError: "etcd-unavailable" when no
 * endpoint answered in time, "etcd-request-failed" when etcd answered with an error.
 */
export interface EtcdStore {
  get(key: string, signal: AbortSignal): Promise<{ readonly entry?: StoredEntry; readonly revision: bigint }>;
  list(prefix: string, signal: AbortSignal): Promise<{ readonly entries: readonly StoredEntry[]; readonly revision: bigint }>;
  grantLease(ttlSeconds: number, signal: AbortSignal): Promise<bigint>;
  /** A lease that is already gone is not an error. */
  revokeLease(leaseId: bigint, signal: AbortSignal): Promise<void>;
  /** Remaining seconds of an etcd lease; undefined when it does not exist (expired, revoked, or 0n). */
  leaseTimeToLive(leaseId: bigint, signal: AbortSignal): Promise<number | undefined>;
  /** Puts only if the key does not exist (a `version == 0` transaction); false when it existed. */
  createIfAbsent(key: string, value: string, leaseId: bigint, signal: AbortSignal): Promise<boolean>;
  /** Unconditional put; leaseId 0n attaches no lease. */
  put(key: string, value: string, leaseId: bigint, signal: AbortSignal): Promise<void>;
  /** True when a key was deleted. */
  delete(key: string, signal: AbortSignal): Promise<boolean>;
  /**
   * Changes after `afterRevision`, in order, each exactly once. Ends after a "compacted" update
   * or when `signal` aborts; throws etcd-unavailable when the connection is lost (the caller
   * resumes from the last revision it saw). `onEstablished` is called when etcd confirms the
   * watch: from then on it follows the store, even while no change arrives.
   */
  watch(target: WatchTarget, afterRevision: bigint, signal: AbortSignal, onEstablished?: () => void): AsyncIterable<WatchUpdate>;
  /** Closes the connection. Idempotent. */
  close(): Promise<void>;
}
