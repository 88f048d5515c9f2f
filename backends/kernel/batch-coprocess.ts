// One long-lived `ip -force -batch -` (or `bridge -force -batch -`) per namespace, supervised:
// started on the first request, replaced after it dies, fed one request at a time (a FIFO queue:
// line numbers only make sense for one writer). Never one process per route.
//
// Guarantees (the protocol is in batch-process.ts): no line is ever applied twice and none is
// silently lost. When the process dies mid-request, the lines it proved are answered, the lines
// it may or may not have run (at most one checkpoint window) are "outcome-unknown" and never
// re-sent, and the lines it never ran are re-sent on a fresh process. Two fruitless starts in a
// row (binary missing, namespace gone) fail the remaining lines as "not-run" instead.
import { setTimeout as sleep } from "node:timers/promises";
import { FlannelError } from "../errors.ts";
import { KernelBatchError, type KernelBatchResult } from "./batch-error.ts";
import { isDeleteLine, type BatchLine, type BatchTool } from "./batch-line.ts";
import { Coprocess, spawnCoprocess, type AttemptResult, type CoprocessSpawner, type LineOutcome } from "./batch-process.ts";
import { isAbsentMessage, isExistsMessage, isStaleDeviceMessage } from "./kernel-messages.ts";
import { RequestQueue } from "./request-queue.ts";

export type CoprocessEvent =
  | { readonly kind: "started"; readonly tool: BatchTool; readonly pid: number | undefined }
  | {
      readonly kind: "exited";
      readonly tool: BatchTool;
      readonly pid: number | undefined;
      readonly code: number | null;
      readonly signal: string | null;
      /** True when a request was in flight: its doubtful lines are reported, the rest re-sent. */
      readonly duringRequest: boolean;
      /** Whatever the tool printed last without a line number (its dying words), if anything. */
      readonly message: string;
    };

export interface KernelBatchOptions {
  readonly spawner?: CoprocessSpawner;
  /** Lines between checkpoints: at most this many lines are in doubt if the process is killed. */
  readonly checkpointInterval?: number;
  /** How long close() waits after stdin EOF before killing the process. */
  readonly closeGraceMs?: number;
  /** Told about every start and exit of the process (for logs and tests). */
  readonly observer?: (event: CoprocessEvent) => void;
}

export interface KernelBatch<T extends BatchTool> extends AsyncDisposable {
  readonly tool: T;
  /** PID of the running process; undefined while none runs (not started yet, died, closed). */
  readonly pid: number | undefined;
  /**
   * Runs the lines in order, after any earlier request. Resolves with the lines that failed;
   * rejects only when aborted (the process is killed: lines may be partly applied) or closed.
   */
  apply(lines: readonly BatchLine<T>[], signal?: AbortSignal): Promise<KernelBatchResult>;
  /**
   * Ends the running process after the queued requests; the next request starts a fresh one.
   * `ip` caches device name → index for its lifetime: call this after deleting and creating a
   * device again under the same name, before sending lines that name it. (A request in which a
   * line fails with ENODEV recycles the process by itself, so the next request gets a fresh cache.)
   */
  recycle(): Promise<void>;
  /** Lets queued requests finish, then ends the process (stdin EOF, SIGKILL after a grace). Idempotent. */
  close(): Promise<void>;
}

function closedError(tool: BatchTool): FlannelError {
  return new FlannelError("kernel-command-failed", `the ${tool} coprocess is closed`, {
    details: { tool, message: "closed" },
  });
}

// Two deaths in a row before the process got to a request's first line mean it cannot run at
// all (binary missing, namespace gone): the remaining lines are failed instead of retried.
const maxFruitlessStarts = 2;

class BatchCoprocess<T extends BatchTool> implements KernelBatch<T> {
  readonly tool: T;
  readonly #spawner: CoprocessSpawner;
  readonly #checkpointInterval: number;
  readonly #closeGraceMs: number;
  readonly #observer: ((event: CoprocessEvent) => void) | undefined;
  readonly #queue = new RequestQueue();
  #current: Coprocess | undefined;
  #inFlight = false;
  #closing = false;
  #disposed = false;
  #closePromise: Promise<void> | undefined;

  constructor(tool: T, options: KernelBatchOptions) {
    this.tool = tool;
    this.#spawner = options.spawner ?? spawnCoprocess;
    this.#checkpointInterval = Math.max(1, Math.floor(options.checkpointInterval ?? 32));
    this.#closeGraceMs = options.closeGraceMs ?? 2000;
    this.#observer = options.observer;
  }

  get pid(): number | undefined {
    const current = this.#current;
    return current === undefined || current.exited ? undefined : current.pid;
  }

  async apply(lines: readonly BatchLine<T>[], signal?: AbortSignal): Promise<KernelBatchResult> {
    signal?.throwIfAborted();
    if (this.#closing) throw closedError(this.tool);
    for (const line of lines) {
      // A newline would shift every line number after it; a blank line is skipped uncounted.
      if (line.includes("\n") || line.trim() === "") throw new TypeError(`not a single batch line: ${JSON.stringify(line)}`);
    }
    if (lines.length === 0) return { errors: [], alreadyGone: [] };
    const release = await this.#queue.acquire(signal);
    try {
      if (this.#disposed) throw closedError(this.tool);
      this.#inFlight = true;
      const result = await this.#run(lines, signal);
      this.#inFlight = false;
      // A stale name → index entry fails every later line naming that device: start afresh.
      if (result.errors.some((error) => error.failure === "rejected" && isStaleDeviceMessage(error.kernelMessage))) await this.#stop();
      return result;
    } finally {
      this.#inFlight = false;
      release();
    }
  }

  async #run(lines: readonly BatchLine<T>[], signal: AbortSignal | undefined): Promise<KernelBatchResult> {
    const outcomes = new Array<LineOutcome | undefined>(lines.length);
    let remaining = lines.map((_, index) => index);
    let fruitless = 0;
    while (remaining.length > 0) {
      signal?.throwIfAborted();
      if (this.#disposed) throw closedError(this.tool);
      const process = this.#process();
      // Aborting cannot take back lines already written: the process is killed, so that nothing
      // more of the request runs, and the next request starts a fresh one.
      const onAbort = (): void => process.kill();
      signal?.addEventListener("abort", onAbort, { once: true });
      let result: AttemptResult;
      try {
        result = await process.run(
          remaining.map((index) => lines[index] ?? ""),
          this.#checkpointInterval,
        );
      } finally {
        signal?.removeEventListener("abort", onAbort);
      }
      signal?.throwIfAborted();
      const notRun: number[] = [];
      result.outcomes.forEach((outcome, position) => {
        const index = remaining[position] ?? -1;
        outcomes[index] = outcome;
        if (outcome.kind === "not-run") notRun.push(index);
      });
      if (!result.died) break;
      await process.closed;
      fruitless = result.progressed ? 0 : fruitless + 1;
      // Lines left as not-run in `outcomes` are the request's answer when we stop here.
      if (fruitless >= maxFruitlessStarts || this.#disposed) break;
      remaining = notRun;
    }
    return this.#result(lines, outcomes);
  }

  #result(lines: readonly string[], outcomes: readonly (LineOutcome | undefined)[]): KernelBatchResult {
    const errors: KernelBatchError[] = [];
    const alreadyGone: number[] = [];
    lines.forEach((line, index) => {
      const outcome = outcomes[index] ?? { kind: "not-run", message: "not sent" };
      if (outcome.kind === "ran") {
        const message = outcome.message;
        if (message === undefined) return;
        if (isDeleteLine(line) && isAbsentMessage(message)) alreadyGone.push(index);
        else errors.push(new KernelBatchError(this.tool, line, index, message, isExistsMessage(message) ? "already-exists" : "rejected"));
      } else {
        errors.push(new KernelBatchError(this.tool, line, index, outcome.message, outcome.kind === "unknown" ? "outcome-unknown" : "not-run"));
      }
    });
    return { errors, alreadyGone };
  }

  #process(): Coprocess {
    const current = this.#current;
    if (current !== undefined && !current.exited) return current;
    const process = new Coprocess(this.tool, this.#spawner);
    this.#current = process;
    this.#observer?.({ kind: "started", tool: this.tool, pid: process.pid });
    void process.closed.then(() => {
      if (this.#current === process) this.#current = undefined;
      this.#observer?.({
        kind: "exited",
        tool: this.tool,
        pid: process.pid,
        code: process.exitCode,
        signal: process.exitSignal,
        duringRequest: this.#inFlight,
        message: process.dyingWords,
      });
    });
    return process;
  }

  async recycle(): Promise<void> {
    if (this.#closing) return;
    const release = await this.#queue.acquire();
    try {
      await this.#stop();
    } finally {
      release();
    }
  }

  close(): Promise<void> {
    this.#closing = true;
    this.#closePromise ??= (async () => {
      // Queued requests go first (drain); the queue is FIFO, so this waits for all of them.
      // A forced disposal refuses every waiter, this one included: it then stops at once.
      const release = await this.#queue.acquire().catch(() => undefined);
      release?.();
      await this.#stop();
    })();
    return this.#closePromise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#closing = true;
    this.#disposed = true;
    this.#queue.rejectWaiting(closedError(this.tool));
    this.#current?.kill();
    await this.close();
  }

  async #stop(): Promise<void> {
    const process = this.#current;
    if (process === undefined || process.exited) return;
    process.child?.stdin.end();
    const grace = new AbortController();
    const exitedInTime = await Promise.race([
      process.closed.then(() => true),
      sleep(this.#closeGraceMs, false, { signal: grace.signal }).catch(() => false),
    ]);
    grace.abort();
    if (!exitedInTime) process.kill();
    await process.closed;
  }
}

export function createKernelBatch<T extends BatchTool>(tool: T, options: KernelBatchOptions = {}): KernelBatch<T> {
  return new BatchCoprocess(tool, options);
}
