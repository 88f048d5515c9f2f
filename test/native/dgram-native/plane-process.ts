// The test's side of plane-child.ts: starts it inside a namespace on the pinned Node and sends
// it requests. A failure the child reports comes back as an Error carrying `code` and `details`.
// Spawned here rather than with support/process.ts, whose processes get no stdin to talk over;
// removing the namespace ends it if a test fails before stop().
import { spawn } from "node:child_process";
import { join, resolve } from "node:path";

const projectRoot = resolve(import.meta.dirname, "../../..");
const node = join(projectRoot, "node_modules/node/bin/node");
const child = join(import.meta.dirname, "plane-child.ts");

export interface ChildFailure extends Error {
  readonly code?: string;
  readonly details?: Record<string, unknown>;
}

export interface PlaneProcess {
  readonly pid: number;
  request<T = unknown>(op: string, args?: Record<string, unknown>): Promise<T>;
  stop(): Promise<void>;
}

export function startPlaneProcess(netns: string): PlaneProcess {
  const process = spawn("ip", ["netns", "exec", netns, node, child], { stdio: ["pipe", "pipe", "pipe"] });
  process.stdin.on("error", () => {}); // a child that died is reported through `exited`
  let output = "";
  process.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((done) => process.once("exit", () => done()));
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  let buffered = "";
  let nextId = 1;
  process.stdout.on("data", (chunk: string | Buffer) => {
    buffered += chunk.toString();
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      const answer = JSON.parse(line) as { id: number; ok: boolean; result?: unknown; error?: { name: string; message: string; code?: string; details?: Record<string, unknown> } };
      const waiter = pending.get(answer.id);
      pending.delete(answer.id);
      if (answer.ok) waiter?.resolve(answer.result);
      else waiter?.reject(Object.assign(new Error(answer.error?.message ?? "child failed"), answer.error));
    }
  });
  void exited.then(() => {
    for (const waiter of pending.values()) waiter.reject(new Error(`plane child exited: ${output}`));
    pending.clear();
  });
  return {
    pid: process.pid ?? 0,
    request<T>(op: string, args: Record<string, unknown> = {}) {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
        process.stdin.write(`${JSON.stringify({ id, op, ...args })}\n`);
      });
    },
    async stop() {
      process.stdin.end();
      const timer = setTimeout(() => process.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
