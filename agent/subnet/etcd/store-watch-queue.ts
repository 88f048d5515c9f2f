// The hand-off between an event emitter (etcd3's Watcher pushes responses whenever gRPC delivers
// them) and an async iterator (the caller pulls at its own pace). Items keep their order; after
// the first failure nothing more is accepted, so the caller sees the error exactly where it
// happened and no update that arrived behind it.

export type Taken<T> = { readonly value: T } | { readonly error: unknown };

export class WatchQueue<T> {
  readonly #items: Taken<T>[] = [];
  #failed = false;
  #wake: (() => void) | undefined;

  push(value: T): void {
    if (this.#failed) return;
    this.#items.push({ value });
    this.#notify();
  }

  fail(error: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#items.push({ error });
    this.#notify();
  }

  /** The next item, or undefined once `signal` has aborted (even with items still queued). */
  async take(signal: AbortSignal): Promise<Taken<T> | undefined> {
    for (;;) {
      if (signal.aborted) return undefined;
      const item = this.#items.shift();
      if (item !== undefined) return item;
      await new Promise<void>((resolve) => {
        const onAbort = (): void => resolve();
        signal.addEventListener("abort", onAbort, { once: true });
        this.#wake = () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  #notify(): void {
    this.#wake?.();
  }
}
