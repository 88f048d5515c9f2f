// Kernel parameters of the target namespace, through `sysctl` (so that a command prefix such as
// `ip netns exec NS` reaches the namespace's own /proc/sys; reading /proc/sys from Node would
// read the agent's namespace instead).
//
// sysctl keys are dot-separated, so a dot *inside* a component (the device flannel.1) is written
// as a slash: net.ipv6.conf.flannel/1.accept_ra is /proc/sys/net/ipv6/conf/flannel.1/accept_ra.
import { FlannelError } from "../errors.ts";
import { deviceToken } from "./batch-line.ts";
import { KernelCommandError, type CommandRunner } from "./command-runner.ts";
import { isAbsentSysctlMessage } from "./kernel-messages.ts";

/** A sysctl path as its components, e.g. ["net", "ipv6", "conf", "flannel.1", "accept_ra"]. */
export type SysctlPath = readonly string[];

export const ipv4ForwardingPath: SysctlPath = ["net", "ipv4", "ip_forward"];
export const ipv6ForwardingPath: SysctlPath = ["net", "ipv6", "conf", "all", "forwarding"];

/** Flannel sets this to 0 on its vxlan devices, so router advertisements never configure them. */
export function acceptRaPath(device: string): SysctlPath {
  return ["net", "ipv6", "conf", deviceToken(device), "accept_ra"];
}

export function sysctlKey(path: SysctlPath): string {
  if (path.length === 0 || path.some((part) => part === "" || /[\s/=]/.test(part))) {
    throw new FlannelError("kernel-command-failed", `invalid sysctl path ${JSON.stringify(path)}`, {
      details: { command: path.join("."), message: "invalid sysctl path" },
    });
  }
  return path.map((part) => part.replaceAll(".", "/")).join(".");
}

/** The value (trimmed), or undefined when the key does not exist (e.g. the device is gone, no IPv6). */
export async function readSysctl(runner: CommandRunner, path: SysctlPath, signal?: AbortSignal): Promise<string | undefined> {
  signal?.throwIfAborted();
  const argv = ["sysctl", "-n", sysctlKey(path)];
  const result = await runner(argv, { signal });
  if (result.code !== 0) {
    if (isAbsentSysctlMessage(result.stderr)) return undefined;
    throw new KernelCommandError(argv, result.code, result.stderr);
  }
  return result.stdout.trim();
}

/** Sets the value; a missing key or a refused value is a KernelCommandError. */
export async function writeSysctl(runner: CommandRunner, path: SysctlPath, value: string, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  const argv = ["sysctl", "-q", "-w", `${sysctlKey(path)}=${value}`];
  const result = await runner(argv, { signal });
  if (result.code !== 0) throw new KernelCommandError(argv, result.code, result.stderr);
}
