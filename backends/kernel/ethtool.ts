// The few ethtool operations flannel needs, run through the kernel layer's CommandRunner (so a
// test or the lab points them at a namespace with the same prefix as every other command):
// a device's driver (`ethtool -i`), its offload features (`ethtool -k`) and switching one
// feature (`ethtool -K DEV FEATURE on|off`). ethtool talks to the kernel through the SIOCETHTOOL
// ioctl / ethtool netlink, which iproute2 does not cover. ethtool has no translations (no
// gettext, no setlocale), so its output does not depend on the locale; the text form of `-k` is
// read rather than `--json`, which older ethtool releases do not offer for it.
import { KernelCommandError, type CommandRunner } from "./command-runner.ts";
import { invalidOutput } from "./json-output.ts";
import { deviceToken } from "./batch-line.ts";

export interface EthtoolFeature {
  readonly active: boolean;
  /** The driver does not let it change. */
  readonly fixed: boolean;
}

/**
 * The driver `ethtool -i` names (e.g. "virtio_net", "vmxnet3", "veth", "vxlan"), or undefined
 * when the device has no driver information (loopback) or is gone. A missing ethtool rejects.
 */
export async function readDriverName(runner: CommandRunner, device: string, signal?: AbortSignal): Promise<string | undefined> {
  signal?.throwIfAborted();
  const result = await runner(["ethtool", "-i", deviceToken(device)], { signal });
  if (result.code !== 0) return undefined;
  // The name may hold spaces ("802.1Q VLAN Support").
  const name = /^driver:(.*)$/m.exec(result.stdout)?.[1]?.trim();
  return name === undefined || name === "" ? undefined : name;
}

// `\ttx-checksum-ip-generic: off [fixed]`, `tx-tcp-segmentation: off [requested on]`
const featureLine = /^\s*([\w-]+): (on|off)( \[fixed\])?(?: \[requested (?:on|off)\])?\s*$/;

/** Pure: the features of an `ethtool -k` listing, by name. */
export function parseFeatures(argv: readonly string[], stdout: string): Map<string, EthtoolFeature> {
  const features = new Map<string, EthtoolFeature>();
  for (const line of stdout.split("\n")) {
    const match = featureLine.exec(line);
    if (match !== null) features.set(match[1]!, { active: match[2] === "on", fixed: match[3] !== undefined });
  }
  if (features.size === 0) throw invalidOutput(argv, "no feature lines");
  return features;
}

/** Every feature `ethtool -k DEV` lists, by name ("tx-checksum-ip-generic", …). */
export async function readFeatures(runner: CommandRunner, device: string, signal?: AbortSignal): Promise<ReadonlyMap<string, EthtoolFeature>> {
  signal?.throwIfAborted();
  const argv = ["ethtool", "-k", deviceToken(device)];
  const result = await runner(argv, { signal });
  if (result.code !== 0) throw new KernelCommandError(argv, result.code, result.stderr);
  return parseFeatures(argv, result.stdout);
}

/** `ethtool -K DEV FEATURE on|off`; setting a feature to what it is already changes nothing. */
export async function setFeature(runner: CommandRunner, device: string, feature: string, on: boolean, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  const argv = ["ethtool", "-K", deviceToken(device), feature, on ? "on" : "off"];
  const result = await runner(argv, { signal });
  if (result.code !== 0) throw new KernelCommandError(argv, result.code, result.stderr);
}
