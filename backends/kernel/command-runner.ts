// The one door through which kernel tools (`ip`, `bridge`, `iptables`, `nft`) are run.
//
// Everything in backends/kernel/ takes a CommandRunner instead of spawning on its own, so that
// tests can record what would run, or point the same code at a network namespace by prefixing
// argv with `ip netns exec NS` — the production code stays unchanged; only the runner differs.
import { execFile } from "node:child_process";
import { FlannelError } from "../errors.ts";

export interface CommandOptions {
  /** Written to the command's stdin, which is then closed. */
  readonly input?: string;
  /** Aborting kills the command; the call rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

export interface CommandOutput {
  readonly stdout: string;
  readonly stderr: string;
  /** The exit code; a command killed by a signal reports -1. */
  readonly code: number;
}

/** Runs argv (argv[0] is the program, never a shell line). A non-zero exit is a value, not an error. */
export type CommandRunner = (argv: readonly string[], options?: CommandOptions) => Promise<CommandOutput>;

/** A kernel tool exited non-zero (or could not be started at all). */
export class KernelCommandError extends FlannelError {
  readonly argv: readonly string[];
  readonly exitCode: number;
  readonly stderr: string;

  constructor(argv: readonly string[], exitCode: number, stderr: string, cause?: unknown) {
    const reason = stderr.trim() === "" ? `exit code ${exitCode}` : stderr.trim();
    super("kernel-command-failed", `${argv.join(" ")}: ${reason}`, {
      cause,
      details: { argv: [...argv], exitCode, stderr },
    });
    this.name = "KernelCommandError";
    this.argv = argv;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

// Route and address dumps of a busy node run to megabytes; Node's 1 MiB default would cut them.
const maxOutputBytes = 256 * 1024 * 1024;

/** The real runner: node:child_process execFile, no shell, so no quoting or injection concerns. */
export const execCommandRunner: CommandRunner = (argv, options = {}) => {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new TypeError("execCommandRunner: empty argv"));
  if (options.signal?.aborted === true) return Promise.reject(options.signal.reason);
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      // strerror() text is how the kernel's answers reach kernel-messages.ts: keep it untranslated.
      { encoding: "utf8", maxBuffer: maxOutputBytes, signal: options.signal, windowsHide: true, env: { ...process.env, LC_ALL: "C" } },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ stdout, stderr, code: 0 });
        } else if (options.signal?.aborted === true) {
          reject(options.signal.reason);
        } else if (typeof error.code === "number") {
          resolve({ stdout, stderr, code: error.code });
        } else if (typeof error.code === "string") {
          // Not started at all (ENOENT, EACCES) or output over the limit: nothing usable to return.
          reject(new KernelCommandError(argv, -1, stderr === "" ? error.message : stderr, error));
        } else {
          // Killed by a signal from outside.
          resolve({ stdout, stderr, code: -1 });
        }
      },
    );
    // A tool that exits without reading its input must not turn into an EPIPE crash.
    child.stdin?.on("error", () => {});
    child.stdin?.end(options.input);
  });
};

/** Runs argv and returns its stdout; a non-zero exit becomes a KernelCommandError. */
export async function runKernelCommand(
  runner: CommandRunner,
  argv: readonly string[],
  options: CommandOptions = {},
): Promise<string> {
  options.signal?.throwIfAborted();
  const result = await runner(argv, options);
  if (result.code !== 0) throw new KernelCommandError(argv, result.code, result.stderr);
  return result.stdout;
}
