// One bounded etcd request: attempts until an answer, an etcd error, or the deadline. The etcd
// store's own retry, in place of etcd3's cockatiel policies (retry ×3 with no delay, and a
// circuit breaker that fails every call for 5 s after three failures — long after etcd is back).
// Here a call that meets a dead endpoint keeps trying every few hundred milliseconds until its
// time is up, so it succeeds as soon as etcd answers again, and never waits past `timeoutMs`.
import { setTimeout as delay } from "node:timers/promises";
import { untilAborted } from "../../../backends/until-aborted.ts";
import { etcdRequestFailed, etcdUnavailable, type EtcdOperation } from "./store-errors.ts";

/**
 * How the store judges one failed attempt: `retry` (nothing answered: connection refused or
 * reset, attempt deadline), `unavailable` (nothing will answer soon: TLS refused, client
 * closed — stop now), `failed` (etcd answered with an error).
 */
export type AttemptFailure = "retry" | "unavailable" | "failed";

export interface BoundedCallOptions {
  readonly endpoints: readonly string[];
  readonly operation: EtcdOperation;
  readonly signal: AbortSignal;
  /** The whole call's budget. */
  readonly timeoutMs: number;
  /** One attempt's budget, so one silent endpoint cannot eat the time meant for the others. */
  readonly attemptTimeoutMs: number;
  readonly classify: (error: unknown) => AttemptFailure;
}

const firstPauseMs = 100;
const longestPauseMs = 500;

async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, { signal });
  } catch (error) {
    throw signal.aborted ? signal.reason : error;
  }
}

/**
 * Runs `attempt(deadline, n)` until it resolves. gRPC enforces each attempt's deadline itself,
 * so a timed-out attempt is cancelled, not merely abandoned; an abort stops waiting at once
 * (the request already sent may still complete on the server, as with any network call).
 */
export async function callWithinDeadline<T>(
  attempt: (deadline: Date, attemptNumber: number) => Promise<T>,
  options: BoundedCallOptions,
): Promise<T> {
  const { signal } = options;
  signal.throwIfAborted();
  const giveUpAt = Date.now() + options.timeoutMs;
  let lastError: unknown = new Error(`no answer within ${options.timeoutMs} ms`);
  let pauseMs = firstPauseMs;
  for (let attemptNumber = 1; ; attemptNumber += 1) {
    const remaining = giveUpAt - Date.now();
    if (remaining <= 0) throw etcdUnavailable(options.endpoints, options.operation, lastError);
    const deadline = new Date(Date.now() + Math.min(remaining, options.attemptTimeoutMs));
    try {
      return await untilAborted(attempt(deadline, attemptNumber), signal);
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      const failure = options.classify(error);
      if (failure === "failed") throw etcdRequestFailed(options.endpoints, options.operation, error);
      if (failure === "unavailable") throw etcdUnavailable(options.endpoints, options.operation, error);
      lastError = error;
    }
    // Each attempt goes to the next endpoint: try it at once, pause only after a round of failures.
    if (attemptNumber % options.endpoints.length !== 0) continue;
    const left = giveUpAt - Date.now();
    if (left <= 0) continue; // the loop head reports the failure
    await pause(Math.min(pauseMs, left), signal);
    pauseMs = Math.min(pauseMs * 2, longestPauseMs);
  }
}
