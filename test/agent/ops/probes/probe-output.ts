// Reading what probe-runner.ts printed, and starting it inside a namespace. Not a test file.
import { fileURLToPath } from "node:url";
import type { PeerProbeStats } from "../../../../agent/ops/probes/peer-state.ts";
import { spawnProcess, type ManagedProcess } from "../../../support/process.ts";
import type { RunnerArgs } from "./probe-runner.ts";

const runnerPath = fileURLToPath(new URL("./probe-runner.ts", import.meta.url));

/** The runner on the pinned Node (process.execPath), inside `netns`, behind `wrapper` (e.g. setpriv …). */
export function startProbeRunner(netns: string, args: RunnerArgs, wrapper: readonly string[] = []): ManagedProcess {
  return spawnProcess([...wrapper, process.execPath, runnerPath, JSON.stringify(args)], { netns });
}

const lines = (output: string, tag: string): string[] =>
  output
    .split("\n")
    .filter((line) => line.startsWith(`${tag} `))
    .map((line) => line.slice(tag.length + 1));

/** The last stats the runner printed, by target address. */
export function lastStats(output: string): Map<string, PeerProbeStats> {
  const last = lines(output, "STATS").at(-1);
  const stats = last === undefined ? [] : (JSON.parse(last) as PeerProbeStats[]);
  return new Map(stats.map((entry) => [entry.address, entry]));
}

export interface LoggedLine {
  readonly level: string;
  readonly message: string;
  readonly [field: string]: unknown;
}

export function loggedLines(output: string): LoggedLine[] {
  return lines(output, "LOG").map((line) => JSON.parse(line) as LoggedLine);
}

/** Every address an echo request was sent to. */
export function sentAddresses(output: string): Set<string> {
  return new Set(lines(output, "SENT"));
}
