// Work repeated every `periodMs`, never overlapping itself: the next round is scheduled only when
// the previous one has ended (a self-rescheduling timeout, not setInterval, whose ticks pile up
// behind a slow kernel or datastore). The first round runs at once when `immediately` is set.
export interface Periodic {
  /** Stops scheduling and waits for the round in progress. Idempotent. */
  stop(): Promise<void>;
}

export function repeatEvery(periodMs: number, work: () => Promise<void>, signal: AbortSignal, immediately = false): Periodic {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const round = (): void => {
    timer = undefined;
    if (stopped || signal.aborted) return;
    // Work reports its own failures; a rejection here must not end the repetition.
    running = work()
      .catch(() => undefined)
      .finally(() => {
        running = undefined;
        if (!stopped && !signal.aborted) timer = setTimeout(round, periodMs);
      });
  };
  if (immediately) round();
  else timer = setTimeout(round, periodMs);
  const stop = async (): Promise<void> => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
  signal.addEventListener("abort", () => void stop(), { once: true });
  return { stop };
}
