// What flanneld does with its command line: resolve the options (flags, FLANNELD_* variables,
// defaults), answer --help / --version / --check-config, and turn a configuration error into
// one line and an exit code. It returns the exit code; agent/main.ts is the one that exits.
//
// Exit codes follow Flannel: 0 for --help and --version, 2 when the command line itself cannot
// be read (Go's flag package exits 2: unknown flag, missing value, a value that does not parse,
// and — our addition — positional arguments), 1 for values that read fine but are unacceptable
// (Flannel exits 1 for an out-of-range --subnet-lease-renew-margin) and for any bad FLANNELD_*
// value (which Flannel would only log).
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { isFlannelError, type FlannelError } from "../backends/errors.ts";
import { runDaemon } from "./daemon.ts";
import { createLog, levelForVerbosity } from "./ops/log.ts";
import { formatHelp, parseFlanneldArgs, type FlagErrorDetails, type FlanneldOptions } from "./config/flags.ts";

export interface CliOutput {
  readonly writeStdout: (text: string) => void;
  readonly writeStderr: (text: string) => void;
}

export const exitCodes = { ok: 0, failure: 1, usage: 2 } as const;

/** Runs flanneld for `argv` (without node and the script) and `env`; resolves to the exit code. */
export async function runCli(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  output: CliOutput,
  signal: AbortSignal = new AbortController().signal,
): Promise<number> {
  let options: FlanneldOptions;
  try {
    options = parseFlanneldArgs(argv, env);
  } catch (error) {
    if (!isFlannelError(error, "flag-unknown") && !isFlannelError(error, "flag-invalid")) throw error;
    const usage = exitCodeForFlagError(error) === exitCodes.usage;
    output.writeStderr(`flanneld: ${error.message}${usage ? " (flanneld -help lists the flags)" : ""}\n`);
    return exitCodeForFlagError(error);
  }

  if (options.help) {
    output.writeStdout(formatHelp("flanneld"));
    return exitCodes.ok;
  }
  if (options.version) {
    // Flannel prints its version (a tag such as v0.28.9) on stderr; so do we.
    output.writeStderr(`v${readProductVersion(import.meta.dirname)}\n`);
    return exitCodes.ok;
  }
  if (options.checkConfig) {
    output.writeStdout(`${JSON.stringify(redactSecrets(options))}\n`);
    return exitCodes.ok;
  }
  const log = createLog({ level: levelForVerbosity(options.verbosity) });
  try {
    const outcome = await runDaemon(options, log, signal, env);
    return outcome.exitCode;
  } catch (error) {
    if (signal.aborted) {
      log.info("stopped before start-up completed");
      return exitCodes.ok;
    }
    if (!isFlannelError(error)) throw error;
    // A start-up failure is the operator's to fix: one line naming what is wrong, exit 1 (Flannel).
    log.error(error.message, { code: error.code, ...error.details });
    return exitCodes.failure;
  }
}

/** 2 when Go's flag package would have refused the command line, 1 otherwise. */
export function exitCodeForFlagError(error: FlannelError): number {
  const details = error.details as Partial<FlagErrorDetails>;
  return details.source === "command line" && details.stage === "parse" ? exitCodes.usage : exitCodes.failure;
}

/** The options as --check-config prints them: a password does not belong in logs or terminals. */
export function redactSecrets(options: FlanneldOptions): FlanneldOptions {
  return { ...options, etcdPassword: options.etcdPassword === "" ? "" : "(redacted)" };
}

/**
 * The version in flannel-ts's package.json, found by walking up from `startDirectory`: the same
 * code runs from agent/ (sources) and dist/flanneld/ (the bundle), which sit at different depths.
 */
export function readProductVersion(startDirectory: string): string {
  for (let directory = startDirectory; ; directory = dirname(directory)) {
    try {
      const manifest = JSON.parse(readFileSync(join(directory, "package.json"), "utf8")) as { name?: unknown; version?: unknown };
      if (manifest.name === "flannel-ts" && typeof manifest.version === "string") return manifest.version;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    if (dirname(directory) === directory) throw new Error(`no flannel-ts package.json above ${startDirectory}`);
  }
}
