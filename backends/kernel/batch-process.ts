// One OS process of a batch tool (`ip -force -batch -`, `bridge -force -batch -`) and the
// checkpoint protocol spoken with it. The supervisor (batch-coprocess.ts) replaces a process that
// died or reached the end of its bounded life (batch-lifetime.ts); a process is never restarted itself.
//
// Protocol. Batch tools print nothing for a command that succeeds and, on stderr (unbuffered),
// `<message>` + `Command failed -:<N>` for one that fails, N being the 1-based input line number
// of this process; `-force` keeps them going after a failure. We interleave *checkpoints*: a
// command that always fails, cheaply and without side effects (`ip link show dev .`, `bridge fdb
// show dev .`: "." can never be a device name). Its `Command failed -:N` proves every line up to
// N has run, on the same unbuffered stream that carries the errors, so errors and progress arrive
// in order. Every attempt starts and ends with a checkpoint and has one every `checkpointInterval`
// lines; lines whose failure can end the tool get one on each side (needsOwnCheckpoint).
//
// When the process dies during an attempt, the lines up to the last proof are settled, the lines
// after the first unproven checkpoint never ran (the tool runs lines in order), and only the lines
// in between are in doubt. A process that ended by itself did so because of the one line it was
// running: when a window holds a single line, its dying words are that line's answer.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import type { RetireReason } from "./batch-lifetime.ts";
import { lineObjectAndVerb, type BatchTool } from "./batch-line.ts";

/** Starts argv with stdin, stdout and stderr as pipes. Tests wrap it to run inside a namespace. */
export type CoprocessSpawner = (argv: readonly string[]) => ChildProcessWithoutNullStreams;

export const spawnCoprocess: CoprocessSpawner = (argv) => {
  const [file, ...args] = argv;
  if (file === undefined) throw new TypeError("spawnCoprocess: empty argv");
  // strerror() text ("No such process") is how the kernel's answer reaches us: keep it untranslated.
  return spawn(file, args, { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, LC_ALL: "C" }, windowsHide: true });
};

interface ToolProtocol {
  readonly argv: readonly string[];
  readonly checkpoint: string;
  /** What the checkpoint prints before its `Command failed`: never a line's answer. */
  readonly checkpointMessage: string;
}

/**
 * Each tool's checkpoint: a line that always fails, cheaply and without side effects ("." can
 * never be a device name), and the message it prints first. The read coprocesses (read-coprocess.ts)
 * speak the same protocol.
 */
export const checkpoints: Readonly<Record<BatchTool, { readonly line: string; readonly message: string }>> = {
  ip: { line: "link show dev .", message: 'Device "." does not exist.' },
  bridge: { line: "fdb show dev .", message: 'Cannot find device "."' },
};

const protocols: Readonly<Record<BatchTool, ToolProtocol>> = {
  ip: { argv: ["ip", "-force", "-batch", "-"], checkpoint: checkpoints.ip.line, checkpointMessage: checkpoints.ip.message },
  bridge: { argv: ["bridge", "-force", "-batch", "-"], checkpoint: checkpoints.bridge.line, checkpointMessage: checkpoints.bridge.message },
};

/**
 * True for lines whose failure can end the tool rather than fail one command. Measured with
 * iproute2 6.1: `ip route …`, `ip address …` and `bridge fdb …` report a kernel refusal and go on;
 * `ip neigh` exits(2) on any kernel error (deleting an absent entry included) and `ip link add`
 * exits on an unknown underlay. Anything not vetted is treated as able to end the tool.
 */
export function needsOwnCheckpoint(tool: BatchTool, line: string): boolean {
  const { object, verb } = lineObjectAndVerb(line);
  if (tool === "bridge") return object !== "fdb";
  if (object === "route" || object === "address" || object === "addr") return false;
  // `neigh replace` of a valid entry on an existing device does not fail in practice, and 5000 of
  // them with a checkpoint each cost 200 ms instead of 60: should one end the process anyway, its
  // window of lines is reported in doubt. A delete of an absent entry is an everyday outcome.
  return !(object === "neigh" && verb === "replace");
}

export type LineOutcome =
  | { readonly kind: "ran"; readonly message: string | undefined }
  | { readonly kind: "unknown" | "not-run"; readonly message: string };

export interface AttemptResult {
  readonly outcomes: readonly LineOutcome[];
  readonly died: boolean;
  /** The process got as far as the attempt's opening checkpoint. */
  readonly progressed: boolean;
}

interface Attempt {
  /** Line number of slots[0]. */
  readonly base: number;
  /** Per input line: the position in the attempt's request lines, or undefined for a checkpoint. */
  readonly slots: readonly (number | undefined)[];
  readonly failures: Map<number, string>;
  settle(): void;
}

/** One OS process of the tool. */
export class Coprocess {
  readonly tool: BatchTool;
  readonly child: ChildProcessWithoutNullStreams | undefined;
  readonly pid: number | undefined;
  readonly closed: Promise<void>;
  exited = false;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  startError: Error | undefined;
  /** Request lines (checkpoints not counted) sent to this process: its memory grows with them. */
  commands = 0;
  /** `commands` when VmRSS was last read (batch-lifetime.ts). */
  commandsAtResidentCheck = 0;
  /** Set when the supervisor ends the process on purpose; undefined for a death. */
  retired: RetireReason | undefined;
  #nextLine = 1;
  /** Highest input line number proven to have run. */
  #confirmed = 0;
  #pendingText: string[] = [];
  #partial = "";
  #attempt: Attempt | undefined;

  constructor(tool: BatchTool, spawner: CoprocessSpawner) {
    this.tool = tool;
    let markClosed = (): void => {};
    this.closed = new Promise((resolve) => (markClosed = resolve));
    let child: ChildProcessWithoutNullStreams | undefined;
    try {
      child = spawner(protocols[tool].argv);
    } catch (error) {
      this.startError = error instanceof Error ? error : new Error(String(error));
    }
    this.child = child;
    this.pid = child?.pid;
    if (child === undefined) {
      this.exited = true;
      markClosed();
      return;
    }
    // Writes after a death fail with EPIPE; the death itself is handled through 'close'.
    child.stdin.on("error", () => {});
    // Nothing we send prints on stdout; drain it anyway so the tool can never block on it.
    child.stdout.resume();
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => this.#onStderr(chunk));
    child.on("error", (error) => (this.startError ??= error));
    // 'close' comes after the process exited *and* its stderr was read to the end: every proof
    // it wrote before dying has been seen by then.
    child.once("close", (code, signal) => {
      this.exited = true;
      this.exitCode = code;
      this.exitSignal = signal;
      if (this.#partial !== "") this.#pendingText.push(this.#partial);
      this.#partial = "";
      this.#attempt?.settle();
      markClosed();
    });
  }

  kill(): void {
    if (this.exited || this.child === undefined) return;
    this.child.kill("SIGKILL");
  }

  /** What the tool printed last without a `Command failed` after it. */
  get dyingWords(): string {
    // A kill between a checkpoint's message and its `Command failed` leaves the message behind.
    const { checkpointMessage } = protocols[this.tool];
    const words = this.#pendingText.filter((text) => text !== checkpointMessage).join("\n").trim();
    return this.startError === undefined ? words : [this.startError.message, words].filter((w) => w !== "").join(": ");
  }

  describeExit(): string {
    const who = `${this.tool} coprocess${this.pid === undefined ? "" : ` (pid ${this.pid})`}`;
    if (this.startError !== undefined && this.pid === undefined) return `${who} could not be started`;
    if (this.exitSignal !== null) return `${who} was killed by ${this.exitSignal}`;
    return `${who} exited with code ${this.exitCode ?? "unknown"}`;
  }

  async run(lines: readonly string[], checkpointInterval: number): Promise<AttemptResult> {
    const { checkpoint } = protocols[this.tool];
    const slots: (number | undefined)[] = [undefined];
    const text: string[] = [checkpoint];
    let sinceCheckpoint = 0;
    const addCheckpoint = (): void => {
      slots.push(undefined);
      text.push(checkpoint);
      sinceCheckpoint = 0;
    };
    lines.forEach((line, position) => {
      const own = needsOwnCheckpoint(this.tool, line);
      if (own && sinceCheckpoint > 0) addCheckpoint();
      slots.push(position);
      text.push(line);
      sinceCheckpoint += 1;
      if (own || sinceCheckpoint >= checkpointInterval) addCheckpoint();
    });
    if (slots.at(-1) !== undefined) addCheckpoint();

    const base = this.#nextLine;
    this.#nextLine += slots.length;
    this.commands += lines.length;
    const failures = new Map<number, string>();
    let settled = false;
    await new Promise<void>((resolve) => {
      this.#attempt = {
        base,
        slots,
        failures,
        settle: () => {
          if (settled) return;
          settled = true;
          this.#attempt = undefined;
          resolve();
        },
      };
      if (this.exited) this.#attempt.settle();
      else this.child?.stdin.write(`${text.join("\n")}\n`);
    });
    return this.#outcomes(base, slots, failures);
  }

  #outcomes(base: number, slots: readonly (number | undefined)[], failures: Map<number, string>): AttemptResult {
    const lastLine = base + slots.length - 1;
    const died = this.#confirmed < lastLine;
    const outcomes: LineOutcome[] = [];
    // The first checkpoint not proven: nothing after it ran.
    const unproven = slots.findIndex((slot, pos) => slot === undefined && base + pos > this.#confirmed);
    const doubtful = slots.filter((slot, pos) => slot !== undefined && base + pos > this.#confirmed && pos < unproven);
    const words = this.dyingWords;
    const exit = this.describeExit();
    // A process that ended by itself did so because of the line it was running: when only one
    // line can have been running, its dying words are its answer.
    const selfInflicted = doubtful.length === 1 && this.exitSignal === null && this.startError === undefined && words !== "";
    slots.forEach((slot, pos) => {
      if (slot === undefined) return;
      const line = base + pos;
      if (line <= this.#confirmed) outcomes[slot] = { kind: "ran", message: failures.get(pos) };
      else if (pos > unproven) outcomes[slot] = { kind: "not-run", message: withWords(`${exit} before running this line`, words) };
      else if (selfInflicted) outcomes[slot] = { kind: "ran", message: words };
      else outcomes[slot] = { kind: "unknown", message: withWords(`${exit} before confirming this line`, words) };
    });
    return { outcomes, died, progressed: this.#confirmed >= base };
  }

  #onStderr(chunk: string): void {
    this.#partial += chunk;
    let newline: number;
    while ((newline = this.#partial.indexOf("\n")) >= 0) {
      this.#onLine(this.#partial.slice(0, newline));
      this.#partial = this.#partial.slice(newline + 1);
    }
  }

  #onLine(text: string): void {
    const match = /^Command failed -:(\d+)$/.exec(text);
    if (match === null) {
      this.#pendingText.push(text);
      return;
    }
    const line = Number(match[1]);
    const message = this.#pendingText.join("\n").trim();
    this.#pendingText = [];
    if (line > this.#confirmed) this.#confirmed = line;
    const attempt = this.#attempt;
    if (attempt === undefined) return;
    const pos = line - attempt.base;
    if (pos < 0 || pos >= attempt.slots.length) return;
    // A checkpoint's own message ("." does not exist) and warnings of lines that succeeded are dropped.
    if (attempt.slots[pos] !== undefined) attempt.failures.set(pos, message);
    if (pos === attempt.slots.length - 1) attempt.settle();
  }
}

function withWords(text: string, words: string): string {
  return words === "" ? text : `${text}: ${words}`;
}
