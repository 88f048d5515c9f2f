// The lab's network namespaces: made and removed by name, commands run inside them. Nothing here
// runs `ip` against the root namespace except `ip netns add/del`, which only create or drop a
// namespace's name; every link, address and route is made with `ip -n <lab namespace>`.
import { existsSync } from "node:fs";
import { run, type CommandResult, type RunOptions } from "./tools/command.ts";

export function namespaceExists(name: string): boolean {
  return existsSync(`/var/run/netns/${name}`);
}

/** Creates the namespace with its loopback up (pods and flanneld's health server need lo). */
export async function addNamespace(name: string): Promise<void> {
  await run(["ip", "netns", "add", name]);
  await ipIn(name, "link", "set", "lo", "up");
}

/** Removes the namespace's name; its links go with it once no process holds it. Idempotent. */
export async function deleteNamespaceIfPresent(name: string): Promise<void> {
  if (!namespaceExists(name)) return;
  await run(["ip", "netns", "del", name]);
}

/** PIDs of the processes inside a namespace (`ip netns pids`), e.g. to report what still holds it. */
export async function namespacePids(name: string): Promise<number[]> {
  if (!namespaceExists(name)) return [];
  const { stdout } = await run(["ip", "netns", "pids", name], { allowFailure: true });
  return stdout.split(/\s+/).filter((word) => word !== "").map(Number);
}

/** `ip netns exec NS argv…` */
export function execIn(ns: string, argv: readonly string[], options?: RunOptions): Promise<CommandResult> {
  return run(["ip", "netns", "exec", ns, ...argv], options);
}

/** `ip -n NS args…` */
export function ipIn(ns: string, ...args: string[]): Promise<CommandResult> {
  return run(["ip", "-n", ns, ...args]);
}

/** `ip -n NS -json args…`, parsed ([] for empty output). */
export async function ipJsonIn<T = unknown>(ns: string, ...args: string[]): Promise<T> {
  const { stdout } = await run(["ip", "-n", ns, "-json", ...args]);
  return (stdout.trim() === "" ? [] : JSON.parse(stdout)) as T;
}

/** `ip -n NS -batch -` with the lines given: one process for many changes inside one namespace. */
export async function ipBatchIn(ns: string, lines: readonly string[]): Promise<void> {
  await run(["ip", "-n", ns, "-batch", "-"], { input: `${lines.join("\n")}\n` });
}
