// One etcd watch as an async iterable, speaking etcd's Watch protocol on a gRPC stream of its
// own. etcd3's Watcher/WatchManager is not used, for three faults found in it (1.1.2):
// - after a lost connection it resumes from the revision in the create response's header — the
//   store's current revision, before any catch-up event has arrived — so events are lost when
//   the connection drops during catch-up;
// - it drops `compact_revision`, so a compacted history is only a "Watcher canceled: " error;
// - a watch etcd refuses at creation (permission denied) leaves its attach queue stuck: every
//   later watch on the shared stream waits forever, and the stream is never closed.
//
// Behaviour: until etcd confirms the watch, a failing stream is re-opened — on the next endpoint
// at once, pausing 100 ms after each round — within `timeoutMs` (then etcd-unavailable; at once
// for a TLS failure or an error etcd answered with). Once confirmed, a lost connection ends the
// iterable with etcd-unavailable; every update carries the revision to resume from, so a caller
// that watches again from it loses and repeats nothing.
import type { AttemptFailure } from "./store-call.ts";
import type { WatchUpdate } from "./store-contract.ts";
import { etcdRequestFailed, etcdUnavailable, type EtcdOperation } from "./store-errors.ts";
import { WatchQueue } from "./store-watch-queue.ts";
import { toUpdate, type WireWatchCreateRequest, type WireWatchResponse } from "./store-wire.ts";

/** The client side of one gRPC Watch stream. */
export interface WatchStream {
  write(request: { create_request: WireWatchCreateRequest }): void;
  end(): void;
  cancel(): void;
  on(event: "data", listener: (response: WireWatchResponse) => void): unknown;
  on(event: "end", listener: () => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
}

export interface WatchSessionOptions {
  /** Opens a stream; attempt 1 goes to the preferred endpoint, later ones to the others in turn. */
  readonly openStream: (attemptNumber: number) => Promise<WatchStream>;
  readonly request: WireWatchCreateRequest;
  readonly endpoints: readonly string[];
  readonly operation: EtcdOperation;
  readonly timeoutMs: number;
  readonly classify: (error: unknown) => AttemptFailure;
  /** Registers what to do when the store closes; returns the registration's removal. */
  readonly onStoreClose: (stop: () => void) => () => void;
  /** Called once etcd confirms the watch (metrics, readiness: the watch follows the store). */
  readonly onEstablished?: (() => void) | undefined;
}

const reopenAfterMs = 100;

/** Ends a stream so that etcd drops its watchers at once (a half-close alone leaves them). */
function discard(stream: WatchStream): void {
  stream.on("error", () => {}); // the cancellation itself is reported as an 'error'
  // end() first: etcd3 counts an error on a still-writable stream as a host failure.
  stream.end();
  stream.cancel();
}

export async function* watchUpdates(options: WatchSessionOptions, signal: AbortSignal): AsyncGenerator<WatchUpdate, void, undefined> {
  if (signal.aborted) return;
  const { endpoints, operation } = options;
  const queue = new WatchQueue<WatchUpdate>();
  let stream: WatchStream | undefined;
  let established = false;
  let failures = 0;
  let finished = false;
  let lastError: unknown = new Error(`no answer to the watch request within ${options.timeoutMs} ms`);
  let reopenTimer: NodeJS.Timeout | undefined;
  let connectTimer: NodeJS.Timeout | undefined;

  const stop = (): void => {
    finished = true;
    clearTimeout(connectTimer);
    clearTimeout(reopenTimer);
    const current = stream;
    stream = undefined;
    if (current !== undefined) discard(current);
  };
  const fail = (error: unknown): void => {
    stop();
    queue.fail(error);
  };
  const broken = (error: unknown): void => {
    if (finished) return;
    const current = stream;
    stream = undefined;
    if (current !== undefined) discard(current);
    if (established) return fail(etcdUnavailable(endpoints, operation, error)); // the caller resumes
    const failure = options.classify(error);
    if (failure === "failed") return fail(etcdRequestFailed(endpoints, operation, error));
    if (failure === "unavailable") return fail(etcdUnavailable(endpoints, operation, error));
    lastError = error;
    // With several endpoints, try the next one at once; pause only after a round of failures.
    failures += 1;
    reopenTimer = setTimeout(open, failures % endpoints.length === 0 ? reopenAfterMs : 0);
  };
  const answered = (response: WireWatchResponse): void => {
    if (finished) return;
    if (response.canceled) {
      if (BigInt(response.compact_revision || 0) > 0n) {
        stop();
        queue.push({ kind: "compacted" });
        return;
      }
      return fail(etcdRequestFailed(endpoints, operation, new Error(response.cancel_reason || "etcd cancelled the watch")));
    }
    if (response.created) {
      established = true;
      clearTimeout(connectTimer);
      options.onEstablished?.();
      return;
    }
    queue.push(toUpdate(response));
  };
  function open(): void {
    if (finished) return;
    options
      .openStream(failures + 1)
      .then((opened) => {
        if (finished) return discard(opened);
        stream = opened;
        opened.on("data", (response) => stream === opened && answered(response));
        opened.on("error", (error) => stream === opened && broken(error));
        opened.on("end", () => stream === opened && broken(new Error("etcd closed the watch stream")));
        opened.write({ create_request: options.request });
      })
      .catch((error: unknown) => broken(error));
  }

  connectTimer = setTimeout(() => {
    if (!established && !finished) fail(etcdUnavailable(endpoints, operation, lastError));
  }, options.timeoutMs);
  // Cancel etcd's watcher as soon as the signal aborts, even if nobody asks for the next update.
  signal.addEventListener("abort", stop, { once: true });
  const removeCloseHook = options.onStoreClose(() => fail(etcdUnavailable(endpoints, operation, new Error("the etcd store is closed"))));
  open();
  try {
    for (;;) {
      const item = await queue.take(signal);
      if (item === undefined) return;
      if ("error" in item) throw item.error;
      yield item.value;
      if (item.value.kind === "compacted") return;
    }
  } finally {
    stop();
    signal.removeEventListener("abort", stop);
    removeCloseHook();
  }
}
