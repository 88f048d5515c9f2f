// The VTEP device flannel.<VNI> (IPv6: flannel-v6.<VNI>), created, adopted and restored the way
// Flannel does it (F:pkg/backend/vxlan/device.go):
//  - an existing device of that name is adopted when compatible — same kind, VNI, underlay
//    index, local address, group, l2miss, port, gbp, where an unset value on either side is a
//    wildcard; learning and MTU are not compared, so an adopted device keeps its MTU and MAC;
//  - an incompatible one is deleted and created anew ("already exists with incompatible
//    configuration");
//  - a new one gets a random locally-administered unicast MAC, the MTU chosen by backends/mtu.ts
//    (base MTU − 50 over IPv4; − 70 over IPv6, where Flannel also takes 50), and accept_ra 0.
// Beyond Flannel, each device created or adopted gets the TX checksum-offload decision of
// checksum-offload.ts applied (a recreated device comes back with the kernel's default, so the
// workaround is applied again).
// Restoring at reconcile time goes further than Flannel: the device comes back with the same
// MAC (peers know it) and attributes, and the caller then replays every peer.
import type { BackendLog, ExternalLink } from "../backend.ts";
import { FlannelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { linkDeleteLine, linkUpLine, readLink, vxlanCreateLine, type KernelLink } from "../kernel/link.ts";
import type { LinkAddress } from "../kernel/link-query.ts";
import { randomVtepMac, type MacAddress } from "../kernel/mac.ts";
import { mtuFitProblem } from "../mtu.ts";
import { ensureTxChecksum } from "./checksum-offload-device.ts";
import type { TxChecksumDecision } from "./checksum-offload.ts";
import { acceptRaPath, readSysctl, writeSysctl } from "../kernel/sysctl.ts";
import type { IpLine } from "../kernel/batch-line.ts";
import { addressBits, formatIp, isLinkLocalUnicast, sameIp, type IpAddress, type IpFamily } from "../net/ip.ts";

export function vtepDeviceName(family: IpFamily, vni: number): string {
  return family === 4 ? `flannel.${vni}` : `flannel-v6.${vni}`;
}

export interface VtepSpec {
  readonly name: string;
  readonly vni: number;
  readonly underlay: ExternalLink;
  /** The VXLAN source address: the node's external (public) address. */
  readonly local: IpAddress;
  readonly learning: boolean;
  readonly port: number;
  readonly gbp: boolean;
  readonly mtu: number;
  /** The TX checksum-offload decision to apply to the device; undefined: left as the kernel makes it. */
  readonly txChecksum?: TxChecksumDecision | undefined;
}

/** Why `link` cannot serve as the VTEP described by `spec`, or undefined when it can. */
export function vtepIncompatibility(link: KernelLink, spec: VtepSpec): string | undefined {
  const vxlan = link.vxlan;
  if (link.kind !== "vxlan" || vxlan === undefined) return `link type ${link.kind ?? "none"}`;
  if (vxlan.id !== spec.vni) return `vni ${vxlan.id}`;
  const underlayIndex = vxlan.underlay?.index ?? 0;
  if (underlayIndex > 0 && spec.underlay.index > 0 && underlayIndex !== spec.underlay.index) return `vtep (external) interface ${vxlan.underlay?.name ?? underlayIndex}`;
  if (vxlan.local !== undefined && !sameIp(vxlan.local, spec.local)) return `vtep (external) IP ${formatIp(vxlan.local)}`;
  // Flannel sets no group; an unset group is a wildcard, so any group passes, as in Flannel.
  if (vxlan.l2miss) return "l2miss";
  if (spec.port > 0 && vxlan.port > 0 && vxlan.port !== spec.port) return `port ${vxlan.port}`;
  if (vxlan.gbp !== spec.gbp) return `gbp ${vxlan.gbp}`;
  return undefined;
}

function deviceError(spec: VtepSpec, reason: string, cause?: unknown): FlannelError {
  return new FlannelError("kernel-command-failed", `vxlan device ${spec.name}: ${reason}`, { cause, details: { device: spec.name, reason } });
}

async function applyOrThrow(kernel: Kernel, lines: readonly IpLine[], signal: AbortSignal | undefined): Promise<void> {
  const result = await kernel.ip.apply(lines, signal);
  const [first] = result.errors;
  if (first !== undefined) throw first;
}

/** Creates the device (deleting whatever holds the name first when `replace`), brings it up and reads it back. */
async function createVtep(kernel: Kernel, spec: VtepSpec, mac: MacAddress, replace: boolean, log: BackendLog, signal?: AbortSignal): Promise<CreatedVtep> {
  if (replace) await applyOrThrow(kernel, [linkDeleteLine(spec.name)], signal);
  // The coprocesses cache name → index: lines naming the new device need fresh ones.
  await kernel.recycleWriters();
  await applyOrThrow(
    kernel,
    [
      vxlanCreateLine({ name: spec.name, vni: spec.vni, underlay: spec.underlay.name, local: spec.local, learning: spec.learning, port: spec.port, gbp: spec.gbp, mac, mtu: spec.mtu }),
      linkUpLine(spec.name),
    ],
    signal,
  );
  await disableAcceptRa(kernel, spec.name, signal);
  const txChecksumActive = await applyTxChecksum(kernel, spec, log, signal);
  // The kernel clamps an MTU above what the underlay allows without a word: read it back.
  const link = await readLink(kernel.runner, spec.name, signal);
  if (link === undefined) throw deviceError(spec, "created but not found");
  return { link, txChecksumActive };
}

interface CreatedVtep {
  readonly link: KernelLink;
  readonly txChecksumActive: boolean | undefined;
}

async function applyTxChecksum(kernel: Kernel, spec: VtepSpec, log: BackendLog, signal: AbortSignal | undefined): Promise<boolean | undefined> {
  return spec.txChecksum === undefined ? undefined : ensureTxChecksum(kernel.runner, spec.name, spec.txChecksum, log, signal);
}

/** Flannel sets accept_ra 0 so router advertisements never configure the VTEP. No IPv6 in the kernel: nothing to do. */
export async function disableAcceptRa(kernel: Kernel, device: string, signal?: AbortSignal): Promise<void> {
  const path = acceptRaPath(device);
  try {
    await writeSysctl(kernel.runner, path, "0", signal);
  } catch (error) {
    if ((await readSysctl(kernel.runner, path, signal)) !== undefined) throw error;
  }
}

export interface EnsuredVtep {
  readonly link: KernelLink;
  readonly mac: MacAddress;
  readonly outcome: "adopted" | "created" | "recreated";
  /** Whether TX checksum offload is on after the decision was applied (undefined: unknown or not applied). */
  readonly txChecksumActive: boolean | undefined;
}

/**
 * At prepare: adopt a compatible device (keeping its MAC and MTU) or create one with the MAC
 * this node advertised before (`storedMac`, kube mode) or a fresh one.
 */
export async function ensureVtep(kernel: Kernel, spec: VtepSpec, log: BackendLog, signal?: AbortSignal, storedMac?: MacAddress): Promise<EnsuredVtep> {
  signal?.throwIfAborted();
  const existing = await readLink(kernel.runner, spec.name, signal);
  if (existing !== undefined) {
    const reason = vtepIncompatibility(existing, spec);
    if (reason === undefined && existing.mac !== undefined) {
      if (!existing.up) await applyOrThrow(kernel, [linkUpLine(spec.name)], signal);
      await disableAcceptRa(kernel, spec.name, signal);
      const txChecksumActive = await applyTxChecksum(kernel, spec, log, signal);
      return { link: { ...existing, up: true }, mac: existing.mac, outcome: "adopted", txChecksumActive };
    }
    log.warn(`vxlan device ${spec.name} already exists with incompatible configuration: ${reason ?? "no MAC address"}; recreating it`, { device: spec.name });
  }
  const { link, txChecksumActive } = await createVtep(kernel, spec, storedMac ?? randomVtepMac(), existing !== undefined, log, signal);
  if (link.mac === undefined) throw deviceError(spec, "has no MAC address");
  return { link, mac: link.mac, outcome: existing === undefined ? "created" : "recreated", txChecksumActive };
}

/** What restoreVtep found and did. */
export interface RestoredVtep {
  /** Whether the device had to be recreated or set up. */
  readonly repaired: boolean;
  /** The device's interface index now: a new index means a new device, whoever made it. */
  readonly index: number;
}

/**
 * At reconcile: puts the device back as prepared — same MAC, same attributes — when it is gone,
 * replaced by an incompatible one, carries another MAC, or is down.
 */
export async function restoreVtep(kernel: Kernel, spec: VtepSpec, mac: MacAddress, log: BackendLog, signal?: AbortSignal): Promise<RestoredVtep> {
  const link = await readLink(kernel.runner, spec.name, signal);
  if (link === undefined) {
    // Flannel re-creates a deleted device but forgets its peers; the caller replays them.
    log.warn(`vxlan device ${spec.name} is gone; recreating it and replaying every peer`, { device: spec.name });
    return { repaired: true, index: (await createVtep(kernel, spec, mac, false, log, signal)).link.index };
  }
  const reason = vtepIncompatibility(link, spec) ?? (link.mac === mac ? undefined : `MAC ${link.mac ?? "none"} instead of ${mac}`);
  if (reason !== undefined) {
    log.warn(`vxlan device ${spec.name} already exists with incompatible configuration: ${reason}; recreating it`, { device: spec.name });
    return { repaired: true, index: (await createVtep(kernel, spec, mac, true, log, signal)).link.index };
  }
  if (!link.up) {
    log.warn(`vxlan device ${spec.name} was down; setting it up`, { device: spec.name });
    await applyOrThrow(kernel, [linkUpLine(spec.name)], signal);
    return { repaired: true, index: link.index };
  }
  return { repaired: false, index: link.index };
}

/** Warns (with the numbers) when the device's encapsulated packets do not fit the underlay, e.g. an adopted device kept an old, larger MTU. */
export function warnIfMtuUnfit(log: BackendLog, device: string, family: IpFamily, mtu: number, underlay: ExternalLink): void {
  const problem = mtuFitProblem("vxlan", { device, family, mtu }, underlay);
  if (problem !== undefined) log.warn(problem.message, problem.fields);
}

export interface VtepAddressPlan {
  /** The node's address is missing and must be added. */
  readonly addOwn: boolean;
  /** Addresses of the family that must go. */
  readonly remove: readonly LinkAddress[];
}

/**
 * Pure: the VTEP carries exactly `<own subnet address>/32` (/128) of its family. Flannel removes
 * other addresses inside the cluster network (IPv6: every other non-link-local one); here every
 * other non-link-local address of the family goes — the device is flannel's alone, and a stray
 * address on it would become the source of overlay traffic.
 */
export function vtepAddressPlan(addresses: readonly LinkAddress[], own: IpAddress): VtepAddressPlan {
  const bits = addressBits[own.family];
  const ofFamily = addresses.filter((address) => address.ip.family === own.family && !isLinkLocalUnicast(address.ip));
  const isOwn = (address: LinkAddress): boolean => sameIp(address.ip, own) && address.prefixLength === bits;
  return { addOwn: !ofFamily.some(isOwn), remove: ofFamily.filter((address) => !isOwn(address)) };
}
