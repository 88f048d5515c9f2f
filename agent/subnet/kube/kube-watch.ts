// Every node's lease, followed through the Kubernetes API as client-go's reflector does for
// Flannel's informer (kube-api.md §2, §5): list, report a snapshot, watch from the list's
// resourceVersion with bookmarks; a dropped or idle stream is resumed from the last RV seen
// (events and bookmarks advance it), so nothing is lost or repeated; an expired RV — an ERROR
// event with code 410 inside a 200, or an HTTP 410 — means a fresh list and a new snapshot.
// Outages are waited out with backoff and one log line per outage; nothing transient ends the
// iteration. At most EVENT_QUEUE_DEPTH events wait for the consumer: beyond that the stream is
// closed and re-opened, once the consumer caught up, from the last event it was given.
import { isFlannelError } from "../../../backends/errors.ts";
import type { Log } from "../../ops/log.ts";
import { createBackoff } from "../backoff.ts";
import { errorCode, noDatastoreObserver, type DatastoreObserver } from "../datastore-observer.ts";
import type { KubeAnnotations } from "./annotations.ts";
import { httpStatusOf, type KubeClient, type RawWatchEvent } from "./kube-client.ts";
import type { KubeTiming } from "./kube-options.ts";
import type { LeaseEvent } from "./manager-contract.ts";
import { nodeFacts, type EnabledFamilies, type NodeFacts, type NodeObject } from "./node-lease.ts";
import { createNodeTracker, type NodeChange } from "./node-tracker.ts";

export interface ListedNodes {
  readonly resourceVersion: string;
  readonly nodes: readonly NodeFacts[];
}

export interface NodeWatchContext {
  readonly client: KubeClient;
  readonly names: KubeAnnotations;
  readonly families: EnabledFamilies;
  readonly log: Log;
  readonly queueDepth: number;
  readonly timing: KubeTiming;
  /** The list made at start-up (Flannel's cache sync), used once for the first snapshot. */
  readonly takeInitialList?: () => ListedNodes | undefined;
  /** Hears whether the node watch follows the API server (metrics, readiness). */
  readonly observer?: DatastoreObserver | undefined;
}

/** The node watch's name in metrics and readiness. */
const watchName = "nodes";

export async function listNodeFacts(client: KubeClient, names: KubeAnnotations, signal: AbortSignal): Promise<ListedNodes> {
  const list = await client.listNodes(signal);
  return { resourceVersion: list.resourceVersion, nodes: list.items.map((node) => nodeFacts(names, node)) };
}

type StreamEvent =
  | { readonly type: NodeChange; readonly node: NodeFacts }
  | { readonly type: "BOOKMARK"; readonly resourceVersion: string }
  | { readonly type: "ERROR"; readonly expired: boolean; readonly message: string };

type StreamEnd = { readonly kind: "closed" } | { readonly kind: "overflow" } | { readonly kind: "failed"; readonly error: unknown };

function streamEvent(names: KubeAnnotations, raw: RawWatchEvent): StreamEvent | undefined {
  const object = (raw.object ?? {}) as NodeObject & { code?: unknown; reason?: unknown; message?: unknown };
  switch (raw.type) {
    case "ADDED":
    case "MODIFIED":
    case "DELETED":
      return { type: raw.type, node: nodeFacts(names, object) };
    case "BOOKMARK":
      return { type: "BOOKMARK", resourceVersion: object.metadata?.resourceVersion ?? "" };
    case "ERROR":
      // client-go's isExpiredError: reason Expired or Gone, or code 410.
      return {
        type: "ERROR",
        expired: object.code === 410 || object.reason === "Expired" || object.reason === "Gone",
        message: `${String(object.message ?? "")} (code ${String(object.code)}, reason ${String(object.reason)})`,
      };
    default:
      return undefined;
  }
}

/** One watch connection whose events wait in a bounded buffer until taken. */
function openStream(context: NodeWatchContext, resourceVersion: string, signal: AbortSignal) {
  const controller = new AbortController();
  const stop = () => controller.abort();
  if (signal.aborted) stop();
  else signal.addEventListener("abort", stop, { once: true });
  let buffer: StreamEvent[] = [];
  let end: StreamEnd | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const finish = (how: StreamEnd) => {
    end ??= how;
    signal.removeEventListener("abort", stop);
    notify();
  };
  const observer = context.observer ?? noDatastoreObserver;
  context.client
    .watchNodes(
      resourceVersion,
      (raw) => {
        if (end !== undefined) return;
        const event = streamEvent(context.names, raw);
        if (event === undefined) return;
        buffer.push(event);
        if (buffer.length >= context.queueDepth) {
          finish({ kind: "overflow" });
          controller.abort();
        }
        notify();
      },
      controller.signal,
      () => observer.watchFollowing(watchName),
    )
    .then(
      () => finish({ kind: "closed" }),
      (error: unknown) => finish({ kind: "failed", error }),
    );
  return {
    /** The events waiting now (at least one), or undefined once the stream ended and is drained. */
    async take(): Promise<StreamEvent[] | undefined> {
      while (buffer.length === 0 && end === undefined) await new Promise<void>((resolve) => (wake = resolve));
      if (buffer.length === 0) return undefined;
      const taken = buffer;
      buffer = [];
      return taken;
    },
    get end(): StreamEnd {
      return end ?? { kind: "closed" };
    },
    close(): void {
      controller.abort();
    },
  };
}

export async function* watchNodeLeases(context: NodeWatchContext, signal: AbortSignal): AsyncGenerator<readonly LeaseEvent[]> {
  const { log, timing } = context;
  const tracker = createNodeTracker(context.names, context.families, log);
  const backoff = createBackoff(timing.backoffInitialMs, timing.backoffMaxMs);
  const observer = context.observer ?? noDatastoreObserver;
  let outage: string | undefined; // the problem being waited out, logged once
  const trouble = (what: string, error: unknown, code = errorCode(error)) => {
    observer.watchInterrupted(watchName, code);
    observer.watchRestarted(watchName, "error");
    const message = isFlannelError(error) ? error.message : String(error);
    if (outage === undefined) log.warn(`${what}; retrying`, { error: message });
    else log.debug(`${what}; retrying`, { error: message, retryInMs: backoff.nextDelayMs });
    outage = message;
  };
  const recovered = (what: string) => {
    observer.watchFollowing(watchName);
    if (outage !== undefined) log.info(what);
    outage = undefined;
    backoff.reset();
  };

  let listed = context.takeInitialList?.();
  while (!signal.aborted) {
    while (listed === undefined) {
      try {
        listed = await listNodeFacts(context.client, context.names, signal);
        recovered("node list succeeded again");
      } catch (error) {
        if (signal.aborted) return;
        trouble("listing nodes failed", error);
        await backoff.wait(signal).catch(() => undefined);
        if (signal.aborted) return;
      }
    }
    const snapshot = tracker.reset(listed.nodes);
    log.debug("node list", { nodes: listed.nodes.length, flannelNodes: tracker.size, resourceVersion: listed.resourceVersion });
    let resourceVersion = listed.resourceVersion;
    listed = undefined;
    // The stream is opened before the snapshot is handed over, so changes made while the consumer
    // digests it are already on their way (bounded by the queue depth).
    let stream: ReturnType<typeof openStream> | undefined = openStream(context, resourceVersion, signal);
    let openedAt = Date.now();
    let handedOver = false;
    try {
      yield [snapshot];
      handedOver = true;
    } finally {
      if (!handedOver) stream.close(); // the consumer stopped iterating
    }

    let expired = false;
    while (!expired && !signal.aborted) {
      if (stream === undefined) {
        stream = openStream(context, resourceVersion, signal);
        openedAt = Date.now();
      }
      let received = 0;
      let streamError: string | undefined;
      try {
        for (let batch = await stream.take(); batch !== undefined; batch = await stream.take()) {
          const events: LeaseEvent[] = [];
          for (const event of batch) {
            if (event.type === "ERROR") {
              if (event.expired) expired = true;
              else streamError = event.message;
              break; // the server ends the stream after an ERROR
            }
            received++; // an ERROR alone is no sign that the server is well again
            if (event.type === "BOOKMARK") {
              if (event.resourceVersion !== "") resourceVersion = event.resourceVersion;
              continue;
            }
            const leaseEvent = tracker.apply(event.type, event.node);
            if (leaseEvent !== undefined) events.push(leaseEvent);
            if (event.node.resourceVersion !== "") resourceVersion = event.node.resourceVersion;
          }
          if (received > 0) recovered("node watch resumed");
          if (events.length > 0) yield events;
          if (expired || streamError !== undefined) break;
        }
      } finally {
        stream.close();
      }
      const end = stream.end;
      stream = undefined;
      if (!expired && end.kind === "failed" && (httpStatusOf(end.error) === 410 || httpStatusOf(end.error) === 504)) expired = true;
      if (expired) {
        observer.watchRestarted(watchName, "expired");
        log.info("the node watch's resourceVersion expired; listing nodes again", { resourceVersion });
        break;
      }
      if (signal.aborted) return;
      if (streamError !== undefined) trouble("the node watch reported an error", streamError, "kube-watch-error");
      else if (end.kind === "failed") trouble("the node watch failed", end.error);
      else if (end.kind === "overflow") {
        observer.watchRestarted(watchName, "overflow");
        log.warn("more node events than EVENT_QUEUE_DEPTH waited; re-watching from the last one handled", { queueDepth: context.queueDepth, resourceVersion });
        continue;
      } else if (received > 0 || Date.now() - openedAt >= 1000) continue; // a normal end (server timeout, idle): re-watch at once
      // A stream that failed, or closed within a second without a single event (client-go's
      // "very short watch"), is retried after a pause, so a server that hangs up at once is not hammered.
      await backoff.wait(signal).catch(() => undefined);
    }
  }
}
