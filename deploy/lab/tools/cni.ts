// Running CNI plugins the way a container runtime does: exec'd with a clean environment (the
// runtime's PATH plus the CNI_* variables), the network config on stdin, the result on stdout.
//
// Safety: a CNI plugin (ours, bridge, portmap) wires the network namespace it RUNS in — the
// "host" side of every pod. So every call here runs inside a node namespace the test created
// (`ip netns exec NODE …`); there is deliberately no way to run a plugin in the root namespace.
//
// Also a small conflist runner with libcni's rules (network name and cniVersion injected into
// each plugin's config, prevResult chained, capabilities turned into runtimeConfig, DEL in
// reverse order with prevResult from spec 0.4.0 on).
import { resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { run } from "./command.ts";

/** Debian's containernetworking-plugins (bridge, host-local, portmap, …). */
export const referenceCniDir = "/usr/lib/cni";
/** Our plugin, by absolute path (the build may make it a launcher or a single executable). */
export const flannelCniPlugin: string = resolve(import.meta.dirname, "../../../dist/bin/flannel");
/** The PATH a runtime such as containerd typically runs plugins with. */
export const runtimePath = "/usr/sbin:/usr/bin:/sbin:/bin";

export interface CniCall {
  /** The node namespace the plugin runs in (its name under /var/run/netns). */
  readonly node: string;
  /** Absolute path of the plugin executable. */
  readonly plugin: string;
  readonly command: string;
  /** An object is sent as JSON, a string verbatim; nothing means empty stdin. */
  readonly config?: unknown;
  readonly containerId?: string;
  /** The pod namespace's name: CNI_NETNS=/var/run/netns/<pod>. */
  readonly pod?: string;
  /** Default eth0. */
  readonly ifname?: string;
  /** Default /usr/lib/cni. */
  readonly cniPath?: string;
  /** Extra or replaced variables; `undefined` leaves a variable out (e.g. to test a missing CNI_NETNS). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Send the plugin's stdout to this file instead of back to the test (e.g. /dev/full). */
  readonly stdoutTo?: string;
  readonly timeoutMs?: number;
}

export interface CniReply {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
  readonly elapsedMs: number;
  /** stdout parsed as JSON (throws with the whole reply when it is not). */
  json<T = Record<string, unknown>>(): T;
}

export function cniEnvironment(call: CniCall): Record<string, string> {
  const env: Record<string, string | undefined> = {
    PATH: runtimePath,
    CNI_COMMAND: call.command,
    CNI_CONTAINERID: call.containerId,
    CNI_NETNS: call.pod === undefined ? undefined : `/var/run/netns/${call.pod}`,
    CNI_IFNAME: call.command === "VERSION" || call.command === "GC" || call.command === "STATUS" ? undefined : (call.ifname ?? "eth0"),
    CNI_PATH: call.cniPath ?? referenceCniDir,
  };
  for (const [name, value] of Object.entries(call.env ?? {})) env[name] = value;
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

export async function callCni(call: CniCall): Promise<CniReply> {
  const pairs = Object.entries(cniEnvironment(call)).map(([name, value]) => `${name}=${value}`);
  const target = call.stdoutTo === undefined ? [call.plugin] : ["/bin/sh", "-c", 'exec "$0" > "$1"', call.plugin, call.stdoutTo];
  const argv = ["ip", "netns", "exec", call.node, "env", "-i", ...pairs, ...target];
  const input = call.config === undefined ? "" : typeof call.config === "string" ? call.config : JSON.stringify(call.config);
  const start = performance.now();
  const result = await run(argv, { input, allowFailure: true, timeoutMs: call.timeoutMs ?? 60_000 });
  const elapsedMs = performance.now() - start;
  return {
    ...result,
    elapsedMs,
    json<T>(): T {
      try {
        return JSON.parse(result.stdout) as T;
      } catch {
        throw new Error(`${call.command} printed no JSON (exit ${result.code}):\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
      }
    },
  };
}

// ---- network configuration lists -----------------------------------------------------------

export interface Conflist {
  readonly name: string;
  readonly cniVersion: string;
  readonly plugins: ReadonlyArray<Record<string, unknown> & { readonly type: string }>;
}

export interface Attachment {
  readonly node: string;
  readonly pod: string;
  readonly containerId: string;
  readonly ifname?: string;
  /** CNI_PATH given to every plugin (where the delegates are found). */
  readonly cniPath?: string;
  /** Where each plugin type's executable is: the runtime's lookup in its plugin directories. */
  readonly plugins: Readonly<Record<string, string>>;
  /** The runtime's capability arguments (e.g. portMappings), passed where a plugin declares the capability. */
  readonly capabilityArgs?: Readonly<Record<string, unknown>>;
}

/** libcni's buildOneConfig: the plugin's config with the list's name and version, prevResult, runtimeConfig. */
export function pluginConfig(list: Conflist, index: number, attachment: Attachment, prevResult: unknown): Record<string, unknown> {
  const plugin = list.plugins[index]!;
  const config: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  if (prevResult !== undefined) config.prevResult = prevResult;
  const capabilities = (plugin.capabilities ?? {}) as Record<string, boolean>;
  const runtimeConfig = Object.fromEntries(
    Object.entries(attachment.capabilityArgs ?? {}).filter(([name]) => capabilities[name] === true),
  );
  if (Object.keys(runtimeConfig).length > 0) config.runtimeConfig = runtimeConfig;
  return config;
}

function executableOf(attachment: Attachment, type: string): string {
  const path = attachment.plugins[type];
  if (path === undefined) throw new Error(`no executable given for plugin type ${type}`);
  return path;
}

export interface ConflistStep {
  readonly type: string;
  readonly config: Record<string, unknown>;
  readonly reply: CniReply;
}

/** ADD through the list in order; stops at the first failure. The result is the last plugin's. */
export async function addConflist(list: Conflist, attachment: Attachment): Promise<{ result: unknown; steps: ConflistStep[] }> {
  let prevResult: unknown;
  const steps: ConflistStep[] = [];
  for (const [index, plugin] of list.plugins.entries()) {
    const config = pluginConfig(list, index, attachment, prevResult);
    const reply = await callCni({ ...attachment, plugin: executableOf(attachment, plugin.type), command: "ADD", config });
    steps.push({ type: plugin.type, config, reply });
    if (reply.code !== 0) throw new Error(`${plugin.type} ADD failed (exit ${reply.code}): ${reply.stdout}${reply.stderr}`);
    prevResult = reply.json();
  }
  return { result: prevResult, steps };
}

/** DEL through the list in reverse order; prevResult only from spec 0.4.0 on, as libcni does. */
export async function delConflist(list: Conflist, attachment: Attachment, cachedResult: unknown): Promise<ConflistStep[]> {
  const withPrevResult = !["0.1.0", "0.2.0", "0.3.0", "0.3.1"].includes(list.cniVersion);
  const steps: ConflistStep[] = [];
  for (let index = list.plugins.length - 1; index >= 0; index--) {
    const plugin = list.plugins[index]!;
    const config = pluginConfig(list, index, attachment, withPrevResult ? cachedResult : undefined);
    const reply = await callCni({ ...attachment, plugin: executableOf(attachment, plugin.type), command: "DEL", config });
    steps.push({ type: plugin.type, config, reply });
    if (reply.code !== 0) throw new Error(`${plugin.type} DEL failed (exit ${reply.code}): ${reply.stdout}${reply.stderr}`);
  }
  return steps;
}
