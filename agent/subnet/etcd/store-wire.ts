// etcd v3's records as gRPC delivers them to JavaScript (proto field names, 64-bit integers as
// decimal strings, bytes as Buffers), and their translation into the store contract's types.
// Declared here structurally, so that only store.ts names the etcd3 library; etcd3's own
// types are checked against these where store.ts passes them in.
import type { StoredChange, StoredEntry, WatchUpdate } from "./store-contract.ts";

export interface WireKeyValue {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly lease: string;
  readonly create_revision: string;
  readonly mod_revision: string;
}

export interface WireEvent {
  readonly type: "Put" | "Delete";
  readonly kv: WireKeyValue;
}

export interface WireWatchResponse {
  readonly header: { readonly revision: string };
  readonly created: boolean;
  readonly canceled: boolean;
  /** Non-zero when etcd cancelled the watch because the requested history was compacted. */
  readonly compact_revision: string;
  readonly cancel_reason: string;
  readonly events: readonly WireEvent[];
}

export interface WireWatchCreateRequest {
  readonly key: Buffer;
  readonly range_end?: Buffer;
  readonly start_revision: string;
  readonly progress_notify: boolean;
}

export function toEntry(kv: WireKeyValue): StoredEntry {
  return {
    key: kv.key.toString("utf8"),
    value: kv.value.toString("utf8"),
    leaseId: BigInt(kv.lease || 0),
    createRevision: BigInt(kv.create_revision || 0),
    modRevision: BigInt(kv.mod_revision || 0),
  };
}

function toChange(event: WireEvent): StoredChange {
  if (event.type === "Put") return { type: "put", entry: toEntry(event.kv) };
  // etcd sends a deleted key with its delete revision and nothing else.
  return { type: "delete", entry: { ...toEntry(event.kv), value: "", leaseId: 0n } };
}

/**
 * The revision to resume after is the last event's. A catch-up batch carries the store's
 * *current* revision in its header even when etcd split the history (1000 revisions per
 * response) and more events follow, so the header counts only for an empty response — a
 * progress notification, which etcd sends only to a watcher that has caught up.
 */
export function toUpdate(response: WireWatchResponse): WatchUpdate {
  const last = response.events.at(-1);
  return {
    kind: "changes",
    changes: response.events.map(toChange),
    revision: BigInt(last === undefined ? response.header.revision : last.kv.mod_revision),
  };
}
