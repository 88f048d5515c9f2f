// Runs a backend's kernel work one call at a time. Two reconciles reading the kernel at once
// would each plan against the other's half-applied state; queued calls run in order instead.
// Closing waits for the call in progress and refuses later ones.

export interface OneAtATime {
  run<T>(work: () => Promise<T>): Promise<T>;
  /** Waits for queued work and refuses new work. Idempotent. */
  close(): Promise<void>;
  readonly closed: boolean;
}

export function oneAtATime(what: string): OneAtATime {
  let tail: Promise<unknown> = Promise.resolve();
  let closed = false;
  return {
    get closed() {
      return closed;
    },
    run(work) {
      if (closed) return Promise.reject(new Error(`${what} is closed`));
      const result = tail.then(work, work);
      tail = result.catch(() => undefined);
      return result;
    },
    async close() {
      closed = true;
      await tail;
    },
  };
}
