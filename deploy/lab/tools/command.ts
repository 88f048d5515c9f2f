// Running one short command and collecting its output. Tests use this to drive `ip`, `etcdctl`,
// the built executables and so on; a non-zero exit is an error that carries argv and stderr.
import { execFile, execFileSync } from "node:child_process";

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

export interface RunOptions {
  readonly input?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly timeoutMs?: number;
  /** Resolve with the exit code instead of rejecting when the command fails. */
  readonly allowFailure?: boolean;
}

export class CommandFailedError extends Error {
  readonly argv: readonly string[];
  readonly result: CommandResult;
  constructor(argv: readonly string[], result: CommandResult) {
    super(`command failed (exit ${result.code}): ${argv.join(" ")}\n${result.stderr.trim()}`);
    this.name = "CommandFailedError";
    this.argv = argv;
    this.result = result;
  }
}

export function run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error("run: empty argv");
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      {
        encoding: "utf8",
        env: options.env ?? process.env,
        cwd: options.cwd,
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
        const result = { stdout, stderr, code };
        if (code !== 0 && options.allowFailure !== true) reject(new CommandFailedError(argv, result));
        else resolve(result);
      },
    );
    // A command that exits without reading its input must not fail the call with EPIPE.
    child.stdin?.on("error", () => {});
    if (options.input === undefined) child.stdin?.end();
    else child.stdin?.end(options.input);
  });
}

/** Synchronous variant for exit-time cleanup, where no promise would ever settle. */
export function runSync(argv: readonly string[]): CommandResult {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error("runSync: empty argv");
  try {
    const stdout = execFileSync(file, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 30_000 });
    return { stdout, stderr: "", code: 0 };
  } catch (error) {
    const failure = error as { status?: number; stdout?: string; stderr?: string };
    return { stdout: failure.stdout ?? "", stderr: failure.stderr ?? "", code: failure.status ?? 1 };
  }
}

/**
 * argv for `bash -c script name args…` that never reads the invoking user's ~/.bashrc. Node hands
 * a child its stdio as socketpairs, and bash takes a socket on stdin for a remote-shell session
 * and sources ~/.bashrc when SHLVL is below 2 — which it is under `npm run`/`npm test` (SHLVL=0).
 * A slow or stuck rc file (here: pyenv's rehash waiting on a stale lock) then made every lab
 * readiness probe time out. `--norc` turns that off.
 */
export function bashScript(script: string, name = "bash", ...args: readonly string[]): string[] {
  return ["bash", "--norc", "-c", script, name, ...args];
}
