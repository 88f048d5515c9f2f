// The benchmark's side of lease-writer.ts: starts it inside the lab's fabric namespace (the only
// place the lab's etcd is reachable from) and sends it batches of puts and deletes.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Lab } from "../../deploy/lab/lab.ts";
import { labEtcd } from "../e2e/lab-fixture.ts";

export interface LeaseWriter {
  /**
   * Puts every entry at once (or spread evenly over `overMs`); resolves to the milliseconds until
   * etcd acknowledged them all.
   */
  put(entries: ReadonlyArray<readonly [string, string]>, options?: { readonly overMs?: number }): Promise<number>;
  del(keys: readonly string[]): Promise<number>;
  close(): Promise<void>;
}

export async function openLeaseWriter(lab: Lab): Promise<LeaseWriter> {
  const script = new URL("./lease-writer.ts", import.meta.url).pathname;
  const child = spawn("ip", ["netns", "exec", lab.fabricNs, process.execPath, script, labEtcd(lab).endpoint], { stdio: ["pipe", "pipe", "inherit"] });
  const pending = new Map<number, { resolve: (ms: number) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  let ready: () => void = () => {};
  const readyPromise = new Promise<void>((resolve) => (ready = resolve));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  createInterface({ input: child.stdout }).on("line", (line) => {
    const reply = JSON.parse(line) as { id: number; ms?: number; error?: string; ready?: boolean };
    if (reply.ready === true) return ready();
    const waiter = pending.get(reply.id);
    pending.delete(reply.id);
    if (reply.error !== undefined) waiter?.reject(new Error(reply.error));
    else waiter?.resolve(reply.ms ?? Number.NaN);
  });
  void exited.then(() => {
    for (const waiter of pending.values()) waiter.reject(new Error("lease-writer exited"));
    pending.clear();
  });
  await Promise.race([readyPromise, exited.then(() => Promise.reject(new Error("lease-writer exited before it was ready")))]);
  const request = (body: Record<string, unknown>): Promise<number> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      child.stdin.write(`${JSON.stringify({ id, ...body })}\n`);
    });
  return {
    put: (entries, options) => request({ put: entries, ...(options?.overMs === undefined ? {} : { overMs: options.overMs }) }),
    del: (keys) => request({ del: keys }),
    async close() {
      child.stdin.end();
      const timer = setTimeout(() => child.pid !== undefined && process.kill(child.pid, "SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
