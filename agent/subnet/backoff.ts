// Exponential backoff for reconnect loops: Flannel's etcd watches wait 100 ms, doubling up to
// 5 s, and start again from 100 ms after a good response (F:pkg/subnet/etcd/registry.go).
import { setTimeout as sleep } from "node:timers/promises";

export interface Backoff {
  /** Waits the current delay (rejects when `signal` aborts), then doubles it up to the maximum. */
  wait(signal: AbortSignal): Promise<void>;
  /** After a success: the next wait is the initial delay again. */
  reset(): void;
  /** The delay the next wait() will use, in ms. */
  readonly nextDelayMs: number;
}

export function createBackoff(initialMs = 100, maxMs = 5000): Backoff {
  let delay = initialMs;
  return {
    async wait(signal) {
      const current = delay;
      delay = Math.min(delay * 2, maxMs);
      await sleep(current, undefined, { signal });
    },
    reset() {
      delay = initialMs;
    },
    get nextDelayMs() {
      return delay;
    },
  };
}
