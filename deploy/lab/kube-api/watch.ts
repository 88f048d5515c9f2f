// WATCH streams (apiserver handlers/watch.go + the watch cache): 200 with the headers flushed at
// once, one JSON event per line, synthetic ADDED for every matching object when the RV is unset or
// "0", replay from the event history for an exact RV, an ERROR 410 event inside the 200 for an RV
// older than the history, MODIFIED turned into ADDED/DELETED when an object enters or leaves the
// selector, BOOKMARKs only with allowWatchBookmarks=true, and a clean end at timeoutSeconds.
// The hub also drives the fault actions on open streams (expire, close, reset, bookmark now).
import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { tooOldResourceVersion, type StatusBody } from "./errors.ts";
import type { FaultSettings } from "./faults.ts";
import { takeFault } from "./faults.ts";
import { clone, type KubeObject } from "./object.ts";
import { apiVersionOf, type ResourceType } from "./resources.ts";
import type { Selector } from "./selectors.ts";
import type { ObjectStore, StoreEvent } from "./store.ts";
import { toTable, type IncludeObject } from "./table.ts";

export interface WatchRequest {
  readonly type: ResourceType;
  readonly namespace: string | undefined;
  readonly labels: Selector;
  readonly fields: Selector;
  /** undefined: RV unset or "0" (synthetic ADDED first). */
  readonly fromRv: number | undefined;
  readonly allowBookmarks: boolean;
  readonly timeoutMs: number;
  readonly table: { readonly include: IncludeObject; readonly contentType: string } | undefined;
}

type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

const nodeBookmarkBody = {
  spec: {},
  status: {
    daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
    nodeInfo: { machineID: "", systemUUID: "", bootID: "", kernelVersion: "", osImage: "", containerRuntimeVersion: "", kubeletVersion: "", kubeProxyVersion: "", operatingSystem: "", architecture: "" },
  },
};

class WatchStream {
  readonly request: WatchRequest;
  readonly #response: ServerResponse;
  readonly #store: ObjectStore;
  readonly #settings: FaultSettings;
  #lastRv: number;
  #sent = 0;
  #columnsSent = false;
  #ended = false;
  #idle = false;
  readonly #timers: NodeJS.Timeout[] = [];
  #unsubscribe: () => void = () => {};

  constructor(request: WatchRequest, response: ServerResponse, store: ObjectStore, settings: FaultSettings) {
    this.request = request;
    this.#response = response;
    this.#store = store;
    this.#settings = settings;
    this.#lastRv = request.fromRv ?? store.resourceVersion;
  }

  #matches(object: KubeObject | undefined): boolean {
    if (object === undefined) return false;
    const { namespace, labels, fields } = this.request;
    return (namespace === undefined || object.metadata.namespace === namespace) && labels(object) && fields(object);
  }

  #write(type: WatchEventType, object: unknown): void {
    if (this.#ended) return;
    let body = object;
    if (this.request.table !== undefined && (type === "ADDED" || type === "MODIFIED" || type === "DELETED")) {
      const item = object as KubeObject;
      body = toTable(this.request.type, [item], item.metadata.resourceVersion ?? "", this.request.table.include, !this.#columnsSent);
      this.#columnsSent = true;
    }
    this.#response.write(`${JSON.stringify({ type, object: body })}\n`);
    if (type !== "BOOKMARK") this.#sent += 1;
    const limit = this.#settings.watchCloseAfterEvents;
    if (limit !== undefined && this.#sent >= limit) this.end();
  }

  /** Translates a store event for this watcher's filter (the cacher's convertToWatchEvent). */
  deliver(event: StoreEvent): void {
    if (event.rv <= this.#lastRv || event.resource !== this.request.type) return;
    this.#lastRv = event.rv;
    const now = event.type !== "DELETED" && this.#matches(event.object);
    const before = this.#matches(event.previous);
    if (event.type === "ADDED" && now) this.#write("ADDED", event.object);
    else if (event.type === "MODIFIED" && now) this.#write(before ? "MODIFIED" : "ADDED", event.object);
    else if (event.type === "MODIFIED" && before) {
      const gone = clone(event.previous!);
      gone.metadata.resourceVersion = String(event.rv);
      this.#write("DELETED", gone);
    } else if (event.type === "DELETED" && before) this.#write("DELETED", event.object);
  }

  bookmark(): void {
    if (!this.request.allowBookmarks || this.#ended || this.#idle) return;
    const type = this.request.type;
    const metadata = { resourceVersion: String(this.#store.resourceVersion) };
    this.#write("BOOKMARK", { kind: type.kind, apiVersion: apiVersionOf(type), metadata, ...(type.kind === "Node" ? nodeBookmarkBody : {}) });
  }

  error(status: StatusBody): void {
    this.#write("ERROR", status);
    this.end();
  }

  start(): void {
    const { fromRv, timeoutMs, allowBookmarks } = this.request;
    this.#response.writeHead(200, {
      "content-type": this.request.table?.contentType ?? "application/json",
      "cache-control": "no-cache, private",
      "transfer-encoding": "chunked",
    });
    this.#response.flushHeaders();
    this.#timers.push(setTimeout(() => this.end(), timeoutMs));
    if (this.#settings.watchIdle) {
      this.#idle = true;
      return;
    }
    if (takeFault(this.#settings, "watchError410")) {
      this.error(tooOldResourceVersion(fromRv ?? 0, this.#store.compactedResourceVersion).body);
      return;
    }
    if (this.#settings.watchCloseAfterEvents === 0) {
      this.end();
      return;
    }
    // History replay (or the synthetic ADDED) and the subscription happen in one tick: no gap.
    if (fromRv === undefined) {
      for (const entry of this.#store.list(this.request.type, this.request.namespace)) if (this.#matches(entry.object)) this.#write("ADDED", entry.object);
    } else {
      const missed = this.#store.eventsSince(fromRv);
      if (missed === undefined) {
        this.error(tooOldResourceVersion(fromRv, this.#store.compactedResourceVersion).body);
        return;
      }
      for (const event of missed) this.deliver(event);
    }
    this.#unsubscribe = this.#store.subscribe((event) => this.deliver(event));
    if (allowBookmarks) {
      const interval = setInterval(() => this.bookmark(), this.#settings.bookmarkIntervalMs);
      this.#timers.push(interval);
      // The real watch cache also sends one about 2 s before the deadline.
      if (timeoutMs > 2000) this.#timers.push(setTimeout(() => this.bookmark(), timeoutMs - 2000));
    }
  }

  /** Ends the stream cleanly (the end of the chunked body). */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.dispose();
    this.#response.end();
  }

  /** Resets the TCP connection (no clean end). */
  reset(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.dispose();
    // A TLS socket cannot send an RST itself: reset the TCP socket underneath it.
    const socket = this.#response.socket as (Socket & { _parent?: Socket | null }) | null;
    const tcp = socket?._parent ?? socket;
    if (tcp !== null && tcp !== undefined) tcp.resetAndDestroy();
  }

  get expiredStatus(): StatusBody {
    return tooOldResourceVersion(this.#lastRv, this.#store.compactedResourceVersion).body;
  }

  dispose(): void {
    this.#unsubscribe();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.length = 0;
  }
}

export class WatchHub {
  readonly #streams = new Set<WatchStream>();
  readonly #store: ObjectStore;
  readonly #settings: FaultSettings;

  constructor(store: ObjectStore, settings: FaultSettings) {
    this.#store = store;
    this.#settings = settings;
  }

  get openWatches(): number {
    return this.#streams.size;
  }

  serve(response: ServerResponse, watch: WatchRequest): void {
    const stream = new WatchStream(watch, response, this.#store, this.#settings);
    this.#streams.add(stream);
    // The response's 'close' marks the client going away (the request's fires once its body is read).
    response.on("close", () => {
      stream.dispose();
      this.#streams.delete(stream);
    });
    if (takeFault(this.#settings, "watchResetAfterHeaders")) {
      response.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
      response.flushHeaders();
      setImmediate(() => stream.reset());
      return;
    }
    stream.start();
  }

  /** ERROR 410 Expired on every open watch, then each is closed (a mid-stream expiry). */
  expireAll(): number {
    const streams = [...this.#streams];
    for (const stream of streams) stream.error(stream.expiredStatus);
    return streams.length;
  }

  closeAll(): number {
    const streams = [...this.#streams];
    for (const stream of streams) stream.end();
    return streams.length;
  }

  resetAll(): number {
    const streams = [...this.#streams];
    for (const stream of streams) stream.reset();
    return streams.length;
  }

  bookmarkAll(): number {
    const streams = [...this.#streams].filter((stream) => stream.request.allowBookmarks);
    for (const stream of streams) stream.bookmark();
    return streams.length;
  }
}
