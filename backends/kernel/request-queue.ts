// A first-come, first-served lock: one request owns a coprocess at a time, because the line
// numbers its answers carry only make sense for one writer. Waiting is abortable.

interface Waiter {
  readonly grant: (release: () => void) => void;
  readonly refuse: (reason: unknown) => void;
}

export class RequestQueue {
  #busy = false;
  readonly #waiters: Waiter[] = [];

  /** Resolves with a release function once every earlier caller has released. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if (!this.#busy) {
      this.#busy = true;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        grant: (release) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(release);
        },
        refuse: (reason) => {
          signal?.removeEventListener("abort", onAbort);
          reject(reason);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Fails everyone still waiting (the holder, if any, keeps its turn). */
  rejectWaiting(reason: unknown): void {
    for (const waiter of this.#waiters.splice(0)) waiter.refuse(reason);
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiters.shift();
      if (next === undefined) this.#busy = false;
      else next.grant(this.#releaser());
    };
  }
}
