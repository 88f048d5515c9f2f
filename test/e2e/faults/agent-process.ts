// The agent as a process, for the fault tests: its `ip` batch coprocess found by PID among its
// children, the error-level lines of its JSON log, and a run of it with extra flags (ended by PID).
// Not a test file itself.
import { readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LabNode } from "../../../deploy/lab/lab.ts";
import { endProcess, spawnInNamespace, type LabProcess } from "../../../deploy/lab/processes.ts";
import { runStateDir } from "../../support/run-context.ts";

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((arg) => arg !== "");
  } catch {
    return [];
  }
}

/** Direct children of `pid` (every thread's), read from /proc. */
export function childrenOf(pid: number): number[] {
  const children: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  for (const task of tasks) {
    try {
      children.push(...readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim().split(/\s+/).filter((s) => s !== "").map(Number));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return children;
}

/** The agent's `ip -force -batch -` coprocess: the child of its node process with exactly that argv. */
export function ipBatchPid(agentPid: number): number | undefined {
  return childrenOf(agentPid).find((child) => {
    const argv = cmdline(child);
    return argv.length === 4 && /(^|\/)ip$/.test(argv[0]!) && argv.slice(1).join(" ") === "-force -batch -";
  });
}

/** Error-level lines of flanneld's JSON log. */
export function errorLines(node: LabNode): Array<Record<string, unknown>> {
  let text = "";
  try {
    text = readFileSync(node.flanneld.logFile, "utf8");
  } catch {
    return [];
  }
  return text.split("\n").flatMap((line) => {
    try {
      const entry = JSON.parse(line) as Record<string, unknown>;
      return entry.level === "error" ? [entry] : [];
    } catch {
      return [];
    }
  });
}

/**
 * The node's flanneld run with `extra` flags in place of the lab's (stopped first): same argv,
 * environment, namespace and log. Its PID is recorded for the run's sweep; close() ends it by PID
 * (the lab's own agent stays stopped).
 */
export interface FlaggedAgent {
  readonly pid: number;
  readonly running: boolean;
  close(): Promise<void>;
}

export async function runAgentWithFlags(node: LabNode, extra: readonly string[]): Promise<FlaggedAgent> {
  await node.flanneld.stop("SIGTERM");
  const started: LabProcess = spawnInNamespace(node.ns, [...node.flanneld.argv, ...extra], node.flanneld.logFile);
  const record = join(runStateDir, "pids", String(started.identity.pid));
  writeFileSync(record, `${started.identity.startTime}\n`);
  let gone = false;
  void started.exited.then(() => (gone = true));
  let closing: Promise<void> | undefined;
  return {
    pid: started.identity.pid,
    get running() {
      return !gone;
    },
    close() {
      closing ??= (async () => {
        await endProcess(started.identity, "SIGTERM", 10_000);
        rmSync(record, { force: true });
      })();
      return closing;
    },
  };
}
