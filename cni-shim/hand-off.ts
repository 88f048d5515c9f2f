// Handing the operation over to the delegate plugin (bridge): the plugin *becomes* a small POSIX
// sh script that runs the delegate and keeps our guarantees, instead of spawning the delegate and
// waiting for it.
//
// Why: the plugin runs once per pod, and Node's start-up is most of its cost. Loading
// node:child_process and the first spawnSync cost 5–13 ms more than process.execve into
// /bin/sh (shared/reference/node-startup.md), which is what keeps us inside the latency target.
// execve cannot redirect stdin, so the delegate reads its config from a file: for ADD and DEL
// the saved config in dataDir — which IS the delegate config, byte for byte — and for CHECK a
// here-document fed from an argument.
//
// What the scripts guarantee (the sh process is the plugin from the runtime's point of view: its
// stdout, stderr and exit status are what the runtime sees):
//  - ADD: the delegate's result is captured, then printed. If the delegate fails, the saved config
//    is removed and the delegate's output and exit status are passed through — no saved file for
//    a failed ADD. If printing the result fails (the runtime went away, stdout is broken), the ADD
//    is undone with the delegate's DEL and the saved config removed; should that DEL fail too,
//    the file stays so the runtime's own DEL for the failed ADD can still release the address.
//    SIGPIPE is ignored so a closed stdout is a failed printf, not a killed shell.
//  - A 1.1.0 request runs the delegate at 1.0.0 (versions.ts); the result's top-level
//    "cniVersion" is relabelled with sh parameter expansion, no extra process, only then.
//  - DEL: the delegate's output and status pass through; the saved config is removed only after
//    the delegate's DEL succeeded, so a DEL that failed can be retried.
//  - CHECK: the delegate gets the config on stdin and its output and status pass through.
import { rmSync } from "node:fs";
import { CniError, cniErrorCodes, messageOf } from "./errors.ts";

export const shell = "/bin/sh";

// $1 delegate, $2 saved config, $3 the cniVersion the delegate answers in, $4 the cniVersion the
// runtime asked for ("" when they are the same).
const addScript = `trap '' PIPE
result=$("$1" < "$2")
status=$?
if [ "$status" -ne 0 ]; then
  rm -f -- "$2"
  if [ -n "$result" ]; then printf '%s\\n' "$result"; fi
  exit "$status"
fi
if [ -n "$4" ]; then
  for from in '"cniVersion": "'"$3"'"' '"cniVersion":"'"$3"'"'; do
    head=\${result%%"$from"*}
    if [ "$head" != "$result" ]; then
      result=$head'"cniVersion": "'$4'"'\${result#*"$from"}
      break
    fi
  done
fi
if printf '%s\\n' "$result"; then exit 0; fi
echo "$0: could not write the ADD result to stdout; undoing the ADD with the delegate's DEL" >&2
if CNI_COMMAND=DEL "$1" < "$2" > /dev/null; then rm -f -- "$2"; fi
exit 1
`;

// $1 delegate, $2 saved config.
const delScript = `"$1" < "$2"
status=$?
if [ "$status" -eq 0 ]; then rm -f -- "$2"; fi
exit "$status"
`;

// $1 delegate, $2 the config text.
const checkScript = `exec "$1" <<FLANNEL_CHECK_CONFIG
$2
FLANNEL_CHECK_CONFIG
`;

export interface HandOff {
  /** argv for /bin/sh: -c, the script, $0, its arguments. */
  readonly argv: readonly string[];
  /** Removed when the hand-off cannot even start (the saved config of an ADD that never ran). */
  readonly removeOnFailure?: string;
}

export function addHandOff(delegate: string, savedFile: string, delegateVersion: string, requestedVersion: string): HandOff {
  const relabel = requestedVersion !== delegateVersion ? requestedVersion : "";
  return { argv: ["-c", addScript, "flannel", delegate, savedFile, delegateVersion, relabel], removeOnFailure: savedFile };
}

export function delHandOff(delegate: string, savedFile: string): HandOff {
  return { argv: ["-c", delScript, "flannel", delegate, savedFile] };
}

export function checkHandOff(delegate: string, config: string): HandOff {
  return { argv: ["-c", checkScript, "flannel", delegate, config] };
}

export interface HandOffRuntime {
  /** process.execve: replaces this process and never returns (Node ≥ 23.11, POSIX). */
  readonly execve: ((file: string, args: readonly string[], env: NodeJS.ProcessEnv) => never) | undefined;
  /** node:child_process, loaded only for the fallback: requiring it is a cost we avoid. */
  readonly childProcess: () => typeof import("node:child_process");
}

export const processRuntime: HandOffRuntime = {
  execve: typeof process.execve === "function" ? process.execve.bind(process) : undefined,
  childProcess: () => process.getBuiltinModule("node:child_process"),
};

function cannotStart(handOff: HandOff, error: unknown): CniError {
  if (handOff.removeOnFailure !== undefined) rmSync(handOff.removeOnFailure, { force: true });
  return new CniError(cniErrorCodes.ioFailure, `failed to run the delegate through ${shell}: ${messageOf(error)}`, { cause: error });
}

/**
 * Runs the hand-off. With execve this never returns: the process is the script from here on.
 * Without it (an older or unusual Node) the same script runs under spawnSync with our stdio,
 * and its exit status is returned for the plugin to exit with — same behaviour, slower.
 */
export function runHandOff(handOff: HandOff, env: NodeJS.ProcessEnv, runtime: HandOffRuntime = processRuntime): number {
  if (runtime.execve !== undefined) {
    try {
      runtime.execve(shell, ["sh", ...handOff.argv], env);
    } catch (error) {
      throw cannotStart(handOff, error);
    }
  }
  const result = runtime.childProcess().spawnSync(shell, handOff.argv, { stdio: "inherit", env });
  if (result.error !== undefined) throw cannotStart(handOff, result.error);
  return result.status ?? 1;
}
