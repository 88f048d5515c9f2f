// Polling until something holds, with a deadline. Kept free of import side effects (unlike
// process.ts, which installs exit handlers and a run state directory) so that code outside the
// test suite — the lab in deploy/lab/ — can use it too.
import { setTimeout as sleep } from "node:timers/promises";
import { isAlive } from "./exit-guard.ts";

export interface WaitOptions {
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
  /** What is being waited for, for the timeout message. */
  readonly what: string;
  /** If this process exits while waiting, fail at once with its output. */
  readonly process?: { readonly pid: number; output(): string };
  /** Stop waiting (rejecting with the signal's reason) when this aborts. */
  readonly signal?: AbortSignal;
}

/** Polls `check` until it returns a value other than undefined/false, or times out. */
export async function waitFor<T>(check: () => Promise<T | undefined | false> | T | undefined | false, options: WaitOptions): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let lastError: unknown;
  for (;;) {
    options.signal?.throwIfAborted();
    if (options.process !== undefined && !isAlive(options.process.pid)) {
      throw new Error(`process ${options.process.pid} exited while waiting for ${options.what}:\n${options.process.output()}`);
    }
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const detail = lastError === undefined ? "" : ` (last error: ${String(lastError)})`;
      throw new Error(`timed out after ${options.timeoutMs ?? 10_000} ms waiting for ${options.what}${detail}`);
    }
    await sleep(options.intervalMs ?? 50, undefined, options.signal === undefined ? undefined : { signal: options.signal });
  }
}
