// A long-lived `ip -json … -force -batch -` (or `bridge -json …`) that answers read-only `show`
// and `get` commands, so that a reconcile reads routes, neighbours, FDB entries and links without
// a fork/exec per read (measured here: a spawned `ip -json` costs 4–10 ms on a busy 2-core node,
// a round trip through the coprocess well under 1 ms; the vxlan reconcile does five reads).
//
// Protocol. The tool's stderr is merged into its stdout at the file-descriptor level (`2>&1`
// under sh), so error messages and output arrive in the order the tool wrote them (iproute2
// flushes stdout after each batch command). Each read is sent as two input lines: the command,
// then the checkpoint of batch-process.ts (`checkpoints`: `link show dev .`, `fdb show dev .`), which always fails
// with `Command failed -:<its line>`. Every line printed before that marker belongs to the read:
// JSON lines (the only thing `-json` prints on stdout) are its output; other lines are messages,
// and `Command failed -:<the read's line>` among them means the read itself failed.
//
// A read that ends the tool (iproute2 exits on a few invalid arguments) or that arrives while the
// tool is gone settles as `undefined`: the caller then runs the command the ordinary way, so a
// death never changes an answer, it only costs a spawn. The next read starts a new process.
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { checkpoints, type CoprocessSpawner } from "./batch-process.ts";
import type { CommandOutput } from "./command-runner.ts";
import { endChild } from "./end-child.ts";

export type ReadTool = "ip" | "bridge";

/** The sh program that runs "$0" "$@" with stderr joined to stdout. */
const mergeStderr = 'exec "$0" "$@" 2>&1';

interface PendingRead {
  /** Input line number of the read's command; its checkpoint is the next line. */
  readonly line: number;
  readonly lines: string[];
  readonly settle: (output: CommandOutput | undefined) => void;
}

export interface ReadCoprocess {
  /**
   * Runs one read-only command (the words after the global options). Resolves to its output, or
   * to undefined when the process could not answer (it died or could not be started).
   */
  read(words: readonly string[]): Promise<CommandOutput | undefined>;
  /** Ends the process (stdin closed, SIGKILL by PID after `graceMs`). Idempotent. */
  close(graceMs?: number): Promise<void>;
  /** PID of the current process, if one runs (for tests). */
  readonly pid: number | undefined;
}

/** One process of `tool options… -force -batch -`, started on the first read and after a death. */
export function openReadCoprocess(tool: ReadTool, options: readonly string[], spawner: CoprocessSpawner): ReadCoprocess {
  const checkpoint = checkpoints[tool];
  let child: ChildProcessWithoutNullStreams | undefined;
  let exited: Promise<void> = Promise.resolve();
  let nextLine = 1;
  let queue: PendingRead[] = [];
  let closed = false;

  function start(): ChildProcessWithoutNullStreams | undefined {
    let started: ChildProcessWithoutNullStreams;
    try {
      started = spawner(["sh", "-c", mergeStderr, tool, ...options, "-force", "-batch", "-"]);
    } catch {
      return undefined;
    }
    nextLine = 1;
    const chunks: string[] = [];
    started.stdin.on("error", () => {}); // EPIPE after a death; handled through 'close'
    started.stderr.resume(); // only sh could write here
    started.stdout.setEncoding("utf8");
    started.stdout.on("data", (chunk: string) => {
      // Dumps run to megabytes on one line: join the pieces only once the line is complete.
      let from = 0;
      for (let newline = chunk.indexOf("\n"); newline >= 0; newline = chunk.indexOf("\n", from)) {
        chunks.push(chunk.slice(from, newline));
        onLine(chunks.join(""));
        chunks.length = 0;
        from = newline + 1;
      }
      if (from < chunk.length) chunks.push(chunk.slice(from));
    });
    started.on("error", () => {}); // a failed start ends in 'close' too
    exited = new Promise((resolve) => {
      started.once("close", () => {
        if (child === started) child = undefined;
        const unanswered = queue;
        queue = [];
        for (const read of unanswered) read.settle(undefined);
        resolve();
      });
    });
    return started;
  }

  function onLine(text: string): void {
    const current = queue[0];
    if (current === undefined) return;
    const failed = /^Command failed -:(\d+)$/.exec(text);
    if (failed === null || Number(failed[1]) !== current.line + 1) {
      current.lines.push(text);
      return;
    }
    queue.shift();
    current.settle(outputOf(current));
  }

  function outputOf(read: PendingRead): CommandOutput {
    const stdout: string[] = [];
    const messages: string[] = [];
    let failedItself = false;
    for (const text of read.lines) {
      if (text === `Command failed -:${read.line}`) failedItself = true;
      else if (text.startsWith("[") || text.startsWith("{")) stdout.push(text);
      else if (text !== checkpoint.message) messages.push(text);
    }
    return {
      stdout: stdout.length === 0 ? "" : `${stdout.join("\n")}\n`,
      stderr: messages.length === 0 ? "" : `${messages.join("\n")}\n`,
      code: failedItself ? 1 : 0,
    };
  }

  return {
    get pid() {
      return child?.pid;
    },
    read(words) {
      if (closed) return Promise.resolve(undefined);
      child ??= start();
      const target = child;
      if (target === undefined || target.exitCode !== null || target.signalCode !== null) return Promise.resolve(undefined);
      return new Promise((settle) => {
        const line = nextLine;
        nextLine += 2;
        queue.push({ line, lines: [], settle });
        target.stdin.write(`${words.join(" ")}\n${checkpoint.line}\n`);
      });
    },
    async close(graceMs = 2000) {
      closed = true;
      if (child !== undefined) await endChild(child, exited, graceMs);
    },
  };
}
