// Fault switches (kube-api.md §7.3), set at run time by tests and the lab. Counted switches apply to
// the next N matching requests (Infinity: until set back to 0); the others hold until changed.
// Actions on streams already open (expire, close, reset, bookmark) live on the watch hub; server.ts
// exposes both through `faults`.

export interface FaultSettings {
  /** Delay before answering every request (a slow API server), in ms. */
  latencyMs: number;
  /** Answer the next N list requests (GET of a collection without watch) with this error. */
  listError: { readonly code: 429 | 500; count: number } | undefined;
  /** Answer the next N watch requests with an HTTP 410 Expired Status instead of a stream (counts: a large number for "always"; JSON has no Infinity). */
  watchHttp410: number;
  /** Answer the next N watch requests with a 200 stream whose only line is an ERROR 410 event. */
  watchError410: number;
  /** Flush the headers of the next N watches, then reset the TCP connection. */
  watchResetAfterHeaders: number;
  /** Every new watch ends cleanly after this many events (0: right after the headers); undefined: never. */
  watchCloseAfterEvents: number | undefined;
  /** New watches get their headers and then nothing at all (no events, no bookmarks) until they close. */
  watchIdle: boolean;
  /** Interval of periodic BOOKMARKs on watches that asked for them (the real server: about a minute). */
  bookmarkIntervalMs: number;
}

export function defaultFaultSettings(): FaultSettings {
  return {
    latencyMs: 0,
    listError: undefined,
    watchHttp410: 0,
    watchError410: 0,
    watchResetAfterHeaders: 0,
    watchCloseAfterEvents: undefined,
    watchIdle: false,
    bookmarkIntervalMs: 60_000,
  };
}

type CountedSwitch = "watchHttp410" | "watchError410" | "watchResetAfterHeaders";

/** Consumes one use of a counted switch; true if the fault applies to this request. */
export function takeFault(settings: FaultSettings, name: CountedSwitch): boolean {
  if (settings[name] <= 0) return false;
  settings[name] -= 1;
  return true;
}

export function takeListError(settings: FaultSettings): 429 | 500 | undefined {
  const fault = settings.listError;
  if (fault === undefined || fault.count <= 0) return undefined;
  fault.count -= 1;
  if (fault.count <= 0) settings.listError = undefined;
  return fault.code;
}
