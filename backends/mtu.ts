// The MTU rules of every backend, in one pure module: which MTU each tunnel device (and the pods,
// FLANNEL_MTU) gets from the external interface and net-conf.json's `Backend.MTU`, what is refused
// at start, and when to warn that a device's packets no longer fit the underlay.
//
// Flannel (reference §7): vxlan = MTU − 50, host-gw = the interface's MTU, udp = MTU − 28, where
// MTU is `Backend.MTU` (vxlan only, a value *before* the overhead, standing in for the
// interface's) or else the external interface's. Flannel subtracts 50 for an IPv6 underlay too,
// although an IPv6 outer header is 20 bytes longer: the kernel then clamps flannel-v6.<VNI> to
// MTU − 70 without a word while FLANNEL_MTU still says MTU − 50, and pods send packets the device
// drops (peers.md §1.2). Here the overhead is per underlay family: 50 for IPv4, 70 for IPv6.
//
// Refused at start (Flannel creates the device and fails, or worse, runs with it):
//   - a `Backend.MTU` larger than the external interface's: the kernel clamps a vxlan device to
//     what its underlay carries, so the value could never be honoured, and for host-gw or udp
//     every full-sized packet would be fragmented or dropped;
//   - a resulting MTU below IPv4's minimum (68) or, when IPv6 is enabled, IPv6's (1280; the
//     kernel turns IPv6 off on a smaller link).
import type { BackendType } from "./backend.ts";
import { FlannelError } from "./errors.ts";
import type { IpFamily } from "./net/ip.ts";

/**
 * Bytes a backend adds to each packet, per underlay family: vxlan = outer IP (20 / 40) + UDP 8 +
 * VXLAN 8 + inner Ethernet 14; udp = outer IP + UDP (Flannel's udp backend is IPv4 only).
 */
export const encapOverhead: Readonly<Record<BackendType, Readonly<Record<IpFamily, number>>>> = {
  vxlan: { 4: 50, 6: 70 },
  udp: { 4: 28, 6: 48 },
  "host-gw": { 4: 0, 6: 0 },
};

/** The smallest MTU each family allows (RFC 791 / RFC 8200). */
export const minimumMtu: Readonly<Record<IpFamily, number>> = { 4: 68, 6: 1280 };

export interface MtuInput {
  readonly backend: BackendType;
  /** The external interface: its name (for messages) and MTU. */
  readonly link: { readonly name: string; readonly mtu: number };
  /** `Backend.MTU`; 0 = not given. Flannel's meaning: the MTU the underlay carries, before the overhead. */
  readonly configured: number;
  /**
   * One entry per tunnel (vxlan: per VTEP), the underlay family it encapsulates over, which is
   * also the family of the pod traffic it carries; host-gw: the enabled families.
   */
  readonly families: readonly IpFamily[];
}

export interface MtuChoice {
  /** The underlay MTU the choice is based on: `Backend.MTU` or the interface's. */
  readonly base: number;
  /** The MTU of each family's device (or, for host-gw, of its pod traffic). */
  readonly byFamily: Readonly<Partial<Record<IpFamily, number>>>;
  /** What pods get (FLANNEL_MTU): the smallest of byFamily, as pods carry every family over one link. */
  readonly pod: number;
}

function familyName(family: IpFamily): string {
  return `IPv${family}`;
}

/**
 * The MTU of each device and of the pods. Throws FlannelError "netconf-invalid" naming
 * `Backend.MTU` when the configured value cannot work, "interface-invalid" naming the interface
 * when its own MTU is too small for a family.
 */
export function chooseMtu(input: MtuInput): MtuChoice {
  const { backend, link, configured } = input;
  if (configured < 0 || !Number.isInteger(configured)) {
    throw new FlannelError("netconf-invalid", `Backend.MTU ${configured} is not a positive integer`, {
      details: { field: "Backend.MTU", value: configured, reason: "not a positive integer" },
    });
  }
  if (configured > link.mtu) {
    const reason = `Backend.MTU ${configured} is larger than what ${link.name} can carry (MTU ${link.mtu}); Backend.MTU is the underlay's MTU, before the ${backend} overhead`;
    throw new FlannelError("netconf-invalid", reason, { details: { field: "Backend.MTU", value: configured, interface: link.name, interfaceMtu: link.mtu, reason } });
  }
  const base = configured > 0 ? configured : link.mtu;
  const byFamily: Partial<Record<IpFamily, number>> = {};
  for (const family of new Set(input.families)) {
    const overhead = encapOverhead[backend][family];
    const mtu = base - overhead;
    if (mtu < minimumMtu[family]) {
      const source = configured > 0 ? `Backend.MTU ${configured}` : `the MTU of ${link.name} (${link.mtu})`;
      const reason = `${source} leaves ${mtu} for ${familyName(family)} after the ${overhead}-byte ${backend} overhead, below ${familyName(family)}'s minimum of ${minimumMtu[family]}`;
      throw configured > 0
        ? new FlannelError("netconf-invalid", reason, { details: { field: "Backend.MTU", value: configured, family, mtu, minimum: minimumMtu[family], reason } })
        : new FlannelError("interface-invalid", reason, { details: { interface: link.name, interfaceMtu: link.mtu, family, mtu, minimum: minimumMtu[family] } });
    }
    byFamily[family] = mtu;
  }
  const values = Object.values(byFamily);
  if (values.length === 0) throw new TypeError("chooseMtu: no family");
  return { base, byFamily, pod: Math.min(...values) };
}

export interface DeviceMtu {
  readonly device: string;
  readonly family: IpFamily;
  /** The device's MTU as the kernel reports it (an adopted device keeps its own, as in Flannel). */
  readonly mtu: number;
}

/**
 * Why the device's packets, once encapsulated, no longer fit the underlay (device MTU + overhead
 * above the interface's MTU: every full-sized packet is then fragmented or dropped), with the
 * numbers; undefined when they fit. Typical cause: a device adopted from an earlier run keeps
 * its MTU after the interface's MTU was lowered.
 */
export function mtuFitProblem(backend: BackendType, device: DeviceMtu, link: { readonly name: string; readonly mtu: number }): { message: string; fields: Record<string, unknown> } | undefined {
  const overhead = encapOverhead[backend][device.family];
  if (device.mtu + overhead <= link.mtu) return undefined;
  return {
    message:
      `${device.device} has MTU ${device.mtu}: with the ${overhead}-byte ${backend}/${familyName(device.family)} overhead its packets are ` +
      `${device.mtu + overhead} bytes, more than ${link.name} carries (MTU ${link.mtu}); they will be fragmented or dropped ` +
      `(delete the device to have it recreated with MTU ${link.mtu - overhead}, or raise ${link.name}'s MTU)`,
    fields: { device: device.device, mtu: device.mtu, overhead, interface: link.name, interfaceMtu: link.mtu },
  };
}

/**
 * FLANNEL_MTU once the devices exist: the chosen pod MTU, lowered to a device's actual MTU when
 * an adopted device is smaller (pods must not send what it cannot take), never raised by an
 * adopted device that is larger (its packets would not fit the underlay).
 */
export function podMtu(choice: MtuChoice, devices: readonly DeviceMtu[]): number {
  return Math.min(choice.pod, ...devices.map((device) => device.mtu));
}
