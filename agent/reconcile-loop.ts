// Runs a backend's reconcile level-triggered: after every batch of lease events (trigger) and
// on a resync timer, one run at a time, with triggers that arrive during a run coalesced into a
// single follow-up run. Each run gets the whole current peer set, so a missed or repeated
// trigger can never leave the kernel wrong for long.
import type { ReconcileReport } from "../backends/backend.ts";
import type { Log } from "./ops/log.ts";

export interface ReconcileLoopOptions {
  /** One reconcile of the current desired state. */
  readonly reconcile: (signal: AbortSignal) => Promise<ReconcileReport>;
  readonly resyncMs: number;
  readonly log: Log;
  /** Called after every run that completed (with or without entry errors). */
  readonly onReport?: (report: ReconcileReport) => void;
}

export interface ReconcileLoop {
  /** Asks for a run as soon as possible (coalesced with any pending one). */
  trigger(): void;
  /** Settles after the first run that reported no errors. */
  readonly firstSuccess: Promise<void>;
  /** Stops the timer and waits for a run in progress. Idempotent. */
  stop(): Promise<void>;
}

export function startReconcileLoop(options: ReconcileLoopOptions, outerSignal: AbortSignal): ReconcileLoop {
  const stopping = new AbortController();
  const signal = AbortSignal.any([outerSignal, stopping.signal]);
  let pending = false;
  let running: Promise<void> | undefined;
  let succeeded: () => void = () => {};
  const firstSuccess = new Promise<void>((resolve) => (succeeded = resolve));

  async function drain(): Promise<void> {
    while (pending && !signal.aborted) {
      pending = false;
      try {
        const report = await options.reconcile(signal);
        options.onReport?.(report);
        if (report.errors.length === 0) succeeded();
      } catch (error) {
        if (signal.aborted) return;
        options.log.error("reconcile failed; will retry at the next trigger or resync", {
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
  }

  function trigger(): void {
    if (signal.aborted) return;
    pending = true;
    running ??= drain().finally(() => {
      running = undefined;
      if (pending) trigger();
    });
  }

  const timer = setInterval(trigger, options.resyncMs);
  signal.addEventListener("abort", () => clearInterval(timer), { once: true });
  return {
    trigger,
    firstSuccess,
    async stop() {
      stopping.abort();
      clearInterval(timer);
      await running;
    },
  };
}
