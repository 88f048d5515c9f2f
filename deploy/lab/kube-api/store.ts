// The in-memory object store: one global, monotonically increasing resourceVersion shared by every
// kind (as etcd's revision is), one event per write, and a bounded history of events so that a
// watch can resume from an older RV — or be told "410 Expired" once that RV has left the history.
// It knows nothing of HTTP, auth or kind-specific rules (registry.ts applies those).
import type { KubeObject } from "./object.ts";
import type { ResourceType } from "./resources.ts";

export type EventType = "ADDED" | "MODIFIED" | "DELETED";

export interface StoreEvent {
  readonly type: EventType;
  readonly rv: number;
  readonly resource: ResourceType;
  readonly key: string;
  /** The new state (ADDED/MODIFIED) or the last state carrying the deletion RV (DELETED). */
  readonly object: KubeObject;
  /** The state before the write (MODIFIED/DELETED). */
  readonly previous?: KubeObject;
}

export type StoreListener = (event: StoreEvent) => void;

function storageKey(resource: ResourceType, key: string): string {
  return `${resource.group}/${resource.resource}/${key}`;
}

export class ObjectStore {
  #rv: number;
  readonly #objects = new Map<string, { resource: ResourceType; key: string; object: KubeObject }>();
  #history: StoreEvent[] = [];
  #historyLimit: number;
  /** Every event with rv > this is in the history. */
  #compactedRv: number;
  readonly #listeners = new Set<StoreListener>();

  constructor(options: { initialRv?: number; historyLimit?: number } = {}) {
    this.#rv = options.initialRv ?? 1;
    this.#compactedRv = this.#rv;
    this.#historyLimit = options.historyLimit ?? 2000;
  }

  get resourceVersion(): number {
    return this.#rv;
  }

  /** The oldest RV a watch may resume from (older ones get "too old resource version"). */
  get compactedResourceVersion(): number {
    return this.#compactedRv;
  }

  get(resource: ResourceType, key: string): KubeObject | undefined {
    return this.#objects.get(storageKey(resource, key))?.object;
  }

  /** Objects of one resource (optionally one namespace), sorted by key as etcd returns them. */
  list(resource: ResourceType, namespace?: string): { key: string; object: KubeObject }[] {
    return this.#select(this.#objects.values(), resource, namespace);
  }

  #select(entries: Iterable<{ resource: ResourceType; key: string; object: KubeObject }>, resource: ResourceType, namespace?: string): { key: string; object: KubeObject }[] {
    const chosen: { key: string; object: KubeObject }[] = [];
    for (const entry of entries) {
      if (entry.resource !== resource) continue;
      if (namespace !== undefined && entry.object.metadata.namespace !== namespace) continue;
      chosen.push({ key: entry.key, object: entry.object });
    }
    return chosen.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /**
   * The objects of a resource as they were at `rv`, rebuilt by undoing newer events; undefined when
   * the history no longer reaches back that far (a compacted revision).
   */
  listAt(resource: ResourceType, rv: number, namespace?: string): { key: string; object: KubeObject }[] | undefined {
    if (rv < this.#compactedRv) return undefined;
    if (rv >= this.#rv) return this.list(resource, namespace);
    const state = new Map<string, { resource: ResourceType; key: string; object: KubeObject }>();
    for (const entry of this.#objects.values()) if (entry.resource === resource) state.set(entry.key, entry);
    for (const event of this.#history.toReversed()) {
      if (event.rv <= rv) break;
      if (event.resource !== resource) continue;
      if (event.type === "ADDED") state.delete(event.key);
      else if (event.previous !== undefined) state.set(event.key, { resource, key: event.key, object: event.previous });
    }
    return this.#select(state.values(), resource, namespace);
  }

  /** Stores a write at a new RV and emits its event. `object` must already carry that RV (see nextRv). */
  commit(type: EventType, resource: ResourceType, key: string, object: KubeObject, previous?: KubeObject): StoreEvent {
    const rv = Number(object.metadata.resourceVersion);
    if (!(rv > this.#rv)) throw new Error(`store: write at RV ${rv} is not newer than ${this.#rv}`);
    this.#rv = rv;
    if (type === "DELETED") this.#objects.delete(storageKey(resource, key));
    else this.#objects.set(storageKey(resource, key), { resource, key, object });
    const event: StoreEvent = { type, rv, resource, key, object, ...(previous === undefined ? {} : { previous }) };
    this.#history.push(event);
    if (this.#history.length > this.#historyLimit) this.compact(this.#history[this.#history.length - this.#historyLimit]!.rv - 1);
    for (const listener of this.#listeners) listener(event);
    return event;
  }

  /** The RV the next write will carry. */
  nextRv(): number {
    return this.#rv + 1;
  }

  /** Advances the revision with no event, as writes to other keys of a real etcd would. */
  jump(by: number): number {
    if (!Number.isInteger(by) || by < 1) throw new Error(`store: RV jump must be a positive integer, not ${by}`);
    this.#rv += by;
    return this.#rv;
  }

  /** Forgets history up to `rv` (default: everything): watches from older RVs get 410 Expired. */
  compact(rv: number = this.#rv): void {
    const upTo = Math.min(rv, this.#rv);
    if (upTo <= this.#compactedRv) return;
    this.#compactedRv = upTo;
    this.#history = this.#history.filter((event) => event.rv > upTo);
  }

  /** Events after `rv`, oldest first; undefined when `rv` is older than the retained history. */
  eventsSince(rv: number): StoreEvent[] | undefined {
    if (rv < this.#compactedRv) return undefined;
    return this.#history.filter((event) => event.rv > rv);
  }

  subscribe(listener: StoreListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
