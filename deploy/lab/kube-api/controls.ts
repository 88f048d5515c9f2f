// The fixture-facing controls of the lab API server: direct store access (same rules as the HTTP
// API, no auth) and the fault switches and actions. server.ts hands both out as `store` and `faults`.
import { defaultFaultSettings, type FaultSettings } from "./faults.ts";
import type { KubeObject } from "./object.ts";
import { objectKey } from "./object.ts";
import type { PatchType } from "./patch.ts";
import type { Registry } from "./registry.ts";
import { typeByKind, type ResourceType } from "./resources.ts";
import type { ObjectStore } from "./store.ts";
import type { WatchHub } from "./watch.ts";

export interface FixtureStore {
  /** Creates an object (kind + apiVersion + metadata.name; metadata.namespace for namespaced kinds, default "default"). */
  create(object: KubeObject): KubeObject;
  /** The stored object, or undefined. */
  get(kind: string, name: string, namespace?: string): KubeObject | undefined;
  list(kind: string, namespace?: string): KubeObject[];
  /** PUT semantics: replaces the object (status subresource rules apply; a metadata.resourceVersion is a precondition). */
  update(object: KubeObject, options?: { readonly subresource?: "status" }): KubeObject;
  /** PATCH semantics; type defaults to "strategic". */
  patch(kind: string, name: string, patch: unknown, options?: { readonly type?: PatchType; readonly subresource?: "status"; readonly namespace?: string }): KubeObject;
  /** DELETE semantics (a Namespace turns Terminating first, then goes with its content). */
  delete(kind: string, name: string, namespace?: string): void;
  /** The current global resourceVersion. */
  readonly resourceVersion: number;
}

export interface KubeApiFaults {
  /** The switches; change them with set(). */
  readonly settings: Readonly<FaultSettings>;
  /** Changes some switches; a null value puts that switch back to its default (JSON has no undefined). */
  set(changes: { readonly [K in keyof FaultSettings]?: FaultSettings[K] | null }): void;
  /** Every switch back to its default. */
  reset(): void;
  /** Sends an ERROR 410 Expired event on every open watch, then closes it; returns how many. */
  expireWatches(): number;
  /** Ends every open watch cleanly. */
  closeWatches(): number;
  /** Resets the TCP connection of every open watch. */
  resetWatches(): number;
  /** Sends a BOOKMARK now on every open watch that allows bookmarks. */
  sendBookmarks(): number;
  /** Forgets the event history up to rv (default: now): resuming from an older RV gets 410. */
  compactHistory(rv?: number): void;
  /** Advances the global resourceVersion without an event (writes to other kinds); returns the new RV. */
  jumpResourceVersion(by: number): number;
  readonly openWatches: number;
}

export function resourceOf(kind: string): ResourceType {
  const type = typeByKind(kind);
  if (type === undefined) throw new Error(`the lab API server does not serve kind ${kind}`);
  return type;
}

export function makeFixtureStore(registry: Registry): FixtureStore {
  const store = registry.store;
  return {
    create: (object) => {
      const type = resourceOf(String(object.kind));
      return registry.create(type, type.namespaced ? (object.metadata.namespace ?? "default") : undefined, object);
    },
    get: (kind, name, namespace) => {
      const type = resourceOf(kind);
      return store.get(type, objectKey(type.namespaced ? (namespace ?? "default") : undefined, name));
    },
    list: (kind, namespace) => store.list(resourceOf(kind), namespace).map((entry) => entry.object),
    update: (object, updateOptions) => {
      const type = resourceOf(String(object.kind));
      const namespace = type.namespaced ? (object.metadata.namespace ?? "default") : undefined;
      return registry.update(type, namespace, String(object.metadata.name), object, updateOptions?.subresource ?? "").object;
    },
    patch: (kind, name, patch, patchOptions) => {
      const type = resourceOf(kind);
      const namespace = type.namespaced ? (patchOptions?.namespace ?? "default") : undefined;
      return registry.patch(type, namespace, name, patchOptions?.type ?? "strategic", patch, patchOptions?.subresource ?? "").object;
    },
    delete: (kind, name, namespace) => {
      const type = resourceOf(kind);
      registry.delete(type, type.namespaced ? (namespace ?? "default") : undefined, name);
    },
    get resourceVersion() {
      return store.resourceVersion;
    },
  };
}

export function makeFaultControls(store: ObjectStore, watches: WatchHub, settings: FaultSettings): KubeApiFaults {
  return {
    settings,
    set: (changes) => {
      const defaults = defaultFaultSettings();
      for (const [key, value] of Object.entries(changes) as [keyof FaultSettings, unknown][]) {
        if (!(key in defaults)) throw new Error(`unknown fault switch ${key}`);
        (settings as unknown as Record<string, unknown>)[key] = value === null ? defaults[key] : value;
      }
    },
    reset: () => {
      Object.assign(settings, defaultFaultSettings());
    },
    expireWatches: () => watches.expireAll(),
    closeWatches: () => watches.closeAll(),
    resetWatches: () => watches.resetAll(),
    sendBookmarks: () => watches.bookmarkAll(),
    compactHistory: (rv) => store.compact(rv),
    jumpResourceVersion: (by) => store.jump(by),
    get openWatches() {
      return watches.openWatches;
    },
  };
}
