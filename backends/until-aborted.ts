// Waiting on work that cannot itself be cancelled (an etcd call in flight, a read already sent
// to a coprocess), but that the caller must be able to stop waiting for.

/** Settles like `work`, or rejects with `signal.reason` as soon as the signal aborts. */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {}); // its outcome no longer matters, and must not surface as unhandled
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
