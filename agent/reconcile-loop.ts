// Drives the data plane, edge- and level-triggered, one piece of work at a time:
//  - submit(changes): lease changes, applied incrementally (only those peers' entries), in the
//    order they were submitted; changes submitted during a run are applied together after it;
//  - trigger(): a full reconcile of the whole current peer set (start-up, a new snapshot, and
//    whenever an apply reports it could not decide alone or failed);
//  - the resync timer: a "resync" reconcile (cheap while nothing changed, see ReconcileDepth).
// Pending changes go before a pending reconcile; a full request outranks a resync. A missed or
// repeated trigger can never leave the kernel wrong for longer than a few resync periods.
// While lease changes are flowing (a node starting into a cluster of thousands, a burst of
// joins), a resync tick waits: it would read every table the burst is changing and hold up the
// applies queued behind it. It waits at most `maxPostponedResyncs` ticks, so that constant churn
// never switches the safety net off.
import type { ApplyReport, PeerChange, ReconcileDepth, ReconcileReport } from "../backends/backend.ts";
import type { Log } from "./ops/log.ts";

export interface ReconcileLoopOptions {
  /** One reconcile of the current desired state. */
  readonly reconcile: (signal: AbortSignal, depth: ReconcileDepth) => Promise<ReconcileReport>;
  /** Applies lease changes incrementally; without it every submit() runs a full reconcile. */
  readonly apply?: (changes: readonly PeerChange[], signal: AbortSignal) => Promise<ApplyReport>;
  readonly resyncMs: number;
  readonly log: Log;
  /** Called after every run that completed (with or without entry errors). */
  readonly onReport?: (report: ReconcileReport, kind: "apply" | ReconcileDepth) => void;
  /** Called after every run, completed or thrown, with how long it took (metrics, readiness). */
  readonly onRun?: (run: ReconcileRunOutcome) => void;
}

/** One run as onRun reports it: `report` when it completed, `error` when it threw. */
export interface ReconcileRunOutcome {
  readonly kind: "apply" | ReconcileDepth;
  readonly durationMs: number;
  readonly report?: ReconcileReport;
  readonly error?: unknown;
}

export interface ReconcileLoop {
  /** Asks for a full reconcile as soon as possible (coalesced with any pending one). */
  trigger(): void;
  /** Queues lease changes to apply incrementally, after those queued before. */
  submit(changes: readonly PeerChange[]): void;
  /** Settles after the first run that reported no errors. */
  readonly firstSuccess: Promise<void>;
  /** Stops the timer and waits for a run in progress. Idempotent. */
  stop(): Promise<void>;
}

/** A resync tick within half a period of the last apply waits, but never more than this many in a row. */
export const maxPostponedResyncs = 2;

export function startReconcileLoop(options: ReconcileLoopOptions, outerSignal: AbortSignal): ReconcileLoop {
  const stopping = new AbortController();
  const signal = AbortSignal.any([outerSignal, stopping.signal]);
  let pending: ReconcileDepth | undefined;
  let changes: PeerChange[] = [];
  let running: Promise<void> | undefined;
  let lastApplyEnded = Number.NEGATIVE_INFINITY;
  let postponed = 0;
  let succeeded: () => void = () => {};
  const firstSuccess = new Promise<void>((resolve) => (succeeded = resolve));

  function request(depth: ReconcileDepth): void {
    if (pending !== "full") pending = depth;
  }

  async function runOnce(): Promise<void> {
    if (changes.length > 0 && options.apply !== undefined) {
      const batch = changes;
      changes = [];
      const started = performance.now();
      try {
        const report = await options.apply(batch, signal).finally(() => (lastApplyEnded = performance.now()));
        options.onRun?.({ kind: "apply", durationMs: performance.now() - started, report });
        options.onReport?.(report, "apply");
        if (report.needsReconcile) request("full");
        else if (report.errors.length === 0) succeeded();
      } catch (error) {
        if (signal.aborted) return;
        options.onRun?.({ kind: "apply", durationMs: performance.now() - started, error });
        options.log.error("applying lease changes failed; reconciling everything", { error: error instanceof Error ? error.message : String(error) });
        request("full");
      }
      return;
    }
    changes = [];
    const depth = pending ?? "full";
    pending = undefined;
    const started = performance.now();
    try {
      const report = await options.reconcile(signal, depth);
      options.onRun?.({ kind: depth, durationMs: performance.now() - started, report });
      options.onReport?.(report, depth);
      if (report.errors.length === 0) succeeded();
      // A failed write gets the full treatment at once (a skipped lease would only fail again).
      else if (depth === "resync" && report.errors.some((error) => error.code !== "lease-invalid")) request("full");
    } catch (error) {
      if (signal.aborted) return;
      options.onRun?.({ kind: depth, durationMs: performance.now() - started, error });
      options.log.error("reconcile failed; will retry at the next trigger or resync", {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  async function drain(): Promise<void> {
    while ((pending !== undefined || changes.length > 0) && !signal.aborted) await runOnce();
  }

  function kick(): void {
    if (signal.aborted) return;
    running ??= drain().finally(() => {
      running = undefined;
      if (pending !== undefined || changes.length > 0) kick();
    });
  }

  const timer = setInterval(() => {
    const busy = changes.length > 0 || performance.now() - lastApplyEnded < options.resyncMs / 2;
    if (busy && postponed < maxPostponedResyncs) {
      postponed += 1;
      return;
    }
    postponed = 0;
    request("resync");
    kick();
  }, options.resyncMs);
  signal.addEventListener("abort", () => clearInterval(timer), { once: true });
  return {
    trigger() {
      request("full");
      kick();
    },
    submit(submitted) {
      if (submitted.length === 0) return;
      if (options.apply === undefined) request("full");
      else for (const change of submitted) changes.push(change);
      kick();
    },
    firstSuccess,
    async stop() {
      stopping.abort();
      clearInterval(timer);
      await running;
    },
  };
}
