// One long-lived `ip -force -batch -` (or `bridge -force -batch -`) per namespace, supervised:
// started on the first request, replaced after it dies and after a bounded number of lines or above
// a memory bound (batch-lifetime.ts: iproute2 keeps 4 KiB per modifying command for its lifetime),
// fed one request at a time (a FIFO queue: line numbers only make sense for one writer). Never one
// process per route.
//
// Guarantees (the protocol is in batch-process.ts): no line is ever applied twice and none is
// silently lost. When the process dies mid-request, the lines it proved are answered, the lines
// it may or may not have run (at most one checkpoint window) are "outcome-unknown" and never
// re-sent, and the lines it never ran are re-sent on a fresh process. Two fruitless starts in a
// row (binary missing, namespace gone) fail the remaining lines as "not-run" instead. A process
// reaching its bound is retired only at a proven checkpoint: a request longer than the bound is
// sent in slices, each ending with a checkpoint, and the lines after a slice go to a new process.
import { FlannelError } from "../errors.ts";
import { batchLifetime, endProcess, retireReason, type BatchLifetime, type BatchLifetimeOptions, type RetireReason } from "./batch-lifetime.ts";
import type { KernelBatchResult } from "./batch-error.ts";
import type { BatchLine, BatchTool } from "./batch-line.ts";
import { Coprocess, spawnCoprocess, type AttemptResult, type CoprocessSpawner, type LineOutcome } from "./batch-process.ts";
import { batchResult } from "./batch-result.ts";
import { isStaleDeviceMessage } from "./kernel-messages.ts";
import { RequestQueue } from "./request-queue.ts";

export type CoprocessEvent =
  | { readonly kind: "started"; readonly tool: BatchTool; readonly pid: number | undefined }
  | {
      readonly kind: "exited";
      readonly tool: BatchTool;
      readonly pid: number | undefined;
      readonly code: number | null;
      readonly signal: string | null;
      /**
       * True when the process died while a request was in flight: its doubtful lines are
       * reported, the rest re-sent. False for a process retired on purpose.
       */
      readonly duringRequest: boolean;
      /** Why the supervisor ended the process itself; undefined when it died on its own (or was killed). */
      readonly retired: RetireReason | undefined;
      /** Whatever the tool printed last without a line number (its dying words), if anything. */
      readonly message: string;
    };

export interface KernelBatchOptions extends BatchLifetimeOptions {
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
  readonly #lifetime: BatchLifetime;
  readonly #queue = new RequestQueue();
  /** Processes being ended (stdin closed, not yet reaped): close() waits for them too. */
  readonly #ending = new Set<Promise<void>>();
  #current: Coprocess | undefined;
  /**
   * The process that takes over when the current one reaches its bound, started while the current
   * one runs its last lines: `ip` takes ~14 ms to start on a busy 2-core node, kept off the path.
   */
  #successor: Coprocess | undefined;
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
    this.#lifetime = batchLifetime(options);
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
      if (result.errors.some((error) => error.failure === "rejected" && isStaleDeviceMessage(error.kernelMessage))) await this.#stop("stale-device");
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
      // No more lines than the process has left to live: the slice ends with a checkpoint, so
      // the process is retired with every line it was sent proven run.
      const slice = remaining.slice(0, Math.max(1, this.#lifetime.maxCommands - process.commands));
      const rest = remaining.slice(slice.length);
      if (process.commands + slice.length >= this.#lifetime.maxCommands) this.#prepareSuccessor();
      // Aborting cannot take back lines already written: the process is killed, so that nothing
      // more of the request runs, and the next request starts a fresh one.
      const onAbort = (): void => process.kill();
      signal?.addEventListener("abort", onAbort, { once: true });
      let result: AttemptResult;
      try {
        result = await process.run(
          slice.map((index) => lines[index] ?? ""),
          this.#checkpointInterval,
        );
      } finally {
        signal?.removeEventListener("abort", onAbort);
      }
      signal?.throwIfAborted();
      const notRun: number[] = [];
      let notRunOutcome: LineOutcome | undefined;
      result.outcomes.forEach((outcome, position) => {
        const index = slice[position] ?? -1;
        outcomes[index] = outcome;
        if (outcome.kind === "not-run") {
          notRun.push(index);
          notRunOutcome ??= outcome;
        }
      });
      if (!result.died) {
        const reason = retireReason(process, this.#lifetime);
        if (reason !== undefined) {
          void this.#retire(process, reason);
          // The next process starts now (or was started during this slice), not on the next request.
          if (!this.#closing) this.#process();
        }
        remaining = rest;
        continue;
      }
      await process.closed;
      fruitless = result.progressed ? 0 : fruitless + 1;
      if (fruitless >= maxFruitlessStarts || this.#disposed) {
        // The lines after the slice were never sent: they share the slice's reason.
        for (const index of rest) outcomes[index] = notRunOutcome;
        break;
      }
      remaining = [...notRun, ...rest];
    }
    return batchResult(this.tool, lines, outcomes);
  }

  #process(): Coprocess {
    const current = this.#current;
    if (current !== undefined && !current.exited) return current;
    const successor = this.#successor;
    this.#successor = undefined;
    const process = successor !== undefined && !successor.exited ? successor : this.#spawn();
    this.#current = process;
    return process;
  }

  #prepareSuccessor(): void {
    if (this.#successor === undefined && !this.#closing) this.#successor = this.#spawn();
  }

  #spawn(): Coprocess {
    const process = new Coprocess(this.tool, this.#spawner);
    this.#observer?.({ kind: "started", tool: this.tool, pid: process.pid });
    void process.closed.then(() => {
      if (this.#current === process) this.#current = undefined;
      if (this.#successor === process) this.#successor = undefined;
      this.#observer?.({
        kind: "exited",
        tool: this.tool,
        pid: process.pid,
        code: process.exitCode,
        signal: process.exitSignal,
        duringRequest: this.#inFlight && process.retired === undefined,
        retired: process.retired,
        message: process.dyingWords,
      });
    });
    return process;
  }

  /**
   * Detaches a process whose lines are all proven and ends it in the background: the next line
   * goes to a new process at once, and the old one, with nothing left to run, exits on stdin EOF.
   */
  #retire(process: Coprocess, reason: RetireReason): Promise<void> {
    if (this.#current === process) this.#current = undefined;
    if (this.#successor === process) this.#successor = undefined;
    process.retired ??= reason;
    const ending = endProcess(process, this.#closeGraceMs);
    this.#ending.add(ending);
    void ending.finally(() => this.#ending.delete(ending));
    return ending;
  }

  async recycle(): Promise<void> {
    if (this.#closing) return;
    const release = await this.#queue.acquire();
    try {
      await this.#stop("recycle");
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
      await this.#stop("close");
      await Promise.all(this.#ending);
    })();
    return this.#closePromise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#closing = true;
    this.#disposed = true;
    this.#queue.rejectWaiting(closedError(this.tool));
    this.#current?.kill();
    this.#successor?.kill();
    await this.close();
  }

  /** Ends the current process and any successor: the next request starts a fresh process. */
  async #stop(reason: RetireReason): Promise<void> {
    const processes = [this.#current, this.#successor].flatMap((process) => (process === undefined || process.exited ? [] : [process]));
    await Promise.all(processes.map((process) => this.#retire(process, reason)));
  }
}

export function createKernelBatch<T extends BatchTool>(tool: T, options: KernelBatchOptions = {}): KernelBatch<T> {
  return new BatchCoprocess(tool, options);
}
