// A long-lived `ip -json -force -batch -` (or `bridge …`) inside one namespace, used by the
// benchmarks to read kernel objects many times a second without paying a fork/exec each time.
// Measured here: a round trip of two netlink "get" requests is ~0.3–1 ms.
//
// Protocol: every request ends with a sentinel command that always prints exactly one line, so
// the reply is "all lines up to and including the sentinel's". Commands that fail (a `neigh get`
// for an absent entry) print only to stderr under -force, hence the sentinel.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";

export interface BatchShell {
  /** The tool's PID: it runs in the namespace, so /proc/<pid>/net/ shows that namespace's tables. */
  readonly pid: number;
  /** Sends `commands` + the sentinel; resolves to the lines printed before the sentinel's line. */
  ask(commands: readonly string[]): Promise<string[]>;
  /** Ends the process by its PID (stdin closed first, SIGKILL if still there). */
  close(): Promise<void>;
}

export function openBatchShell(tool: "ip" | "bridge", ns: string, sentinel: { command: string; isReply: (line: string) => boolean }): BatchShell {
  const child: ChildProcessWithoutNullStreams = spawn(tool, ["-n", ns, "-json", "-force", "-batch", "-"], { stdio: ["pipe", "pipe", "pipe"] });
  let buffer = "";
  let collected: string[] = [];
  let waiting: { resolve: (lines: string[]) => void; reject: (error: Error) => void } | undefined;
  let exited = false;
  child.stderr.resume(); // "not found" errors are expected; drained so the pipe never fills
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    buffer += chunk;
    for (let newline = buffer.indexOf("\n"); newline >= 0; newline = buffer.indexOf("\n")) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (sentinel.isReply(line)) {
        const lines = collected;
        collected = [];
        const current = waiting;
        waiting = undefined;
        current?.resolve(lines);
      } else {
        collected.push(line);
      }
    }
  });
  const exitedPromise = new Promise<void>((resolve) => {
    child.on("exit", () => {
      exited = true;
      waiting?.reject(new Error(`${tool} -batch in ${ns} exited`));
      waiting = undefined;
      resolve();
    });
  });
  child.stdin.on("error", () => {});
  if (child.pid === undefined) throw new Error(`${tool} -batch in ${ns} could not be started`);
  return {
    pid: child.pid,
    ask(commands) {
      if (exited) return Promise.reject(new Error(`${tool} -batch in ${ns} has exited`));
      if (waiting !== undefined) return Promise.reject(new Error("one request at a time"));
      return new Promise((resolve, reject) => {
        waiting = { resolve, reject };
        child.stdin.write(`${[...commands, sentinel.command].join("\n")}\n`);
      });
    },
    async close() {
      if (exited) return;
      child.stdin.end();
      const timer = setTimeout(() => {
        if (!exited && child.pid !== undefined) process.kill(child.pid, "SIGKILL");
      }, 2000);
      await exitedPromise;
      clearTimeout(timer);
    },
  };
}

/** `ip` with `route get 127.0.0.1` as sentinel: always answers one JSON line of type "local". */
export function openIpShell(ns: string): BatchShell {
  return openBatchShell("ip", ns, { command: "route get 127.0.0.1", isReply: (line) => line.startsWith('[{"type":"local","dst":"127.0.0.1"') });
}

/** `bridge` with `link show dev lo` as sentinel: lo is never a bridge port, so it prints "[]". */
export function openBridgeShell(ns: string): BatchShell {
  return openBatchShell("bridge", ns, { command: "link show dev lo", isReply: (line) => line === "[]" });
}

/** Number of objects in one `-json` dump line (counted without parsing: cheap for 5000 entries). */
export function countJsonObjects(line: string | undefined, key: string): number {
  if (line === undefined) return 0;
  const needle = `{"${key}":`;
  let count = 0;
  for (let at = line.indexOf(needle); at >= 0; at = line.indexOf(needle, at + needle.length)) count++;
  return count;
}
