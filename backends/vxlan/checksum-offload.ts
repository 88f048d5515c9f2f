// Whether the VTEP devices need the TX checksum-offload workaround
// (`ethtool -K flannel.<VNI> tx-checksum-ip-generic off`), decided once at start from what is
// known of the running kernel and of the underlay's driver, or forced by
// --vxlan-tx-checksum-offload. Pure: the facts are passed in (checksum-offload-facts.ts reads them).
//
// The trap (peers.md §1.1): with TX checksum offload on the vxlan device, some set-ups send
// VXLAN packets whose checksums are wrong; receivers log "UDP: bad checksum … :8472", DNS and
// Service traffic die while ping works. Known causes:
//   - kernels before 5.7, where the offload breaks together with MASQUERADE --random-fully
//     (which Flannel's --ip-masq and kube-proxy both use) — projectcalico/felix#2811, which turns
//     the offload off automatically below 5.7; flannel#1279, flannel#1243, flannel#2152;
//   - VMware's vmxnet3 vNIC under the tunnel, whose encapsulation offload computes wrong
//     checksums on some vSphere versions — projectcalico/calico#4727, openshift MCO#2734 (turns
//     TX checksum off on vmxnet3), replicatedhq/kURL#5041 (the same on flannel.1 for vmxnet3).
// Flannel itself never changes the offload: no flag, no detection; a PR forcing it off was closed
// unmerged (flannel#1282, "flannel does not change checksum behaviour", flannel#1266), and its
// troubleshooting guide tells the operator to run the ethtool command by hand, with a udev rule
// to survive reboots (flannel#1929). The workaround is not free: with it the kernel also drops
// TSO on the device, and vxlan throughput fell 4.4× on the test machines (testbed.md, row 4).
// Calico, which once disabled it everywhere, re-enabled it on newer kernels for that reason
// (projectcalico/calico#8746). So: off only where a known cause applies, or where the operator
// says so.
//
// No self-probe: the driver case happens in the hypervisor's vNIC, which a local probe over veth
// never reaches, and the kernel case needs a masqueraded flow to a peer whose receive counters
// (Udp InCsumErrors) only the peer sees.

import type { TxChecksumOffloadReport, TxChecksumOffloadSetting } from "../backend.ts";

export type { TxChecksumOffloadSetting } from "../backend.ts";

export const txChecksumOffloadSettings: readonly TxChecksumOffloadSetting[] = ["auto", "on", "off"];

export function isTxChecksumOffloadSetting(text: string): text is TxChecksumOffloadSetting {
  return (txChecksumOffloadSettings as readonly string[]).includes(text);
}

export interface TxChecksumFacts {
  /** `uname -r`, e.g. "6.18.44-fc-v1272", "4.18.0-553.el8_10.x86_64". */
  readonly kernelRelease: string;
  /**
   * Drivers (`ethtool -i`) of the external interface and of the devices under it (a VLAN's
   * parent, a bond's or bridge's members); undefined where ethtool could not say.
   */
  readonly underlayDrivers: readonly { readonly device: string; readonly driver: string | undefined }[];
  readonly setting: TxChecksumOffloadSetting;
}

export interface TxChecksumDecision {
  readonly setting: TxChecksumOffloadSetting;
  /** True: tx-checksum-ip-generic is turned off on the VTEP devices (the workaround). */
  readonly apply: boolean;
  /**
   * What decided: the flag, the kernel version, the underlay's driver, or "none" (no known
   * cause: the devices are left as the kernel made them, as Flannel leaves them).
   */
  readonly basis: TxChecksumOffloadReport["basis"];
  /** One sentence for the log and for operators. */
  readonly reason: string;
  /**
   * Whether the devices' setting is enforced both ways. Only an explicit "on" turns the offload
   * back on where something else (a udev rule from Flannel's troubleshooting guide, an earlier
   * run with "off") turned it off; "auto" never undoes an operator's workaround.
   */
  readonly enforce: boolean;
}

/** The first kernel without the MASQUERADE --random-fully checksum breakage (felix#2811). */
export const fixedKernel: readonly [number, number] = [5, 7];

/** Drivers whose VXLAN checksum offload is known to corrupt packets. */
export const brokenOffloadDrivers: ReadonlySet<string> = new Set(["vmxnet3"]);

/** "major.minor" of a kernel release string, or undefined when it does not start with one. */
export function parseKernelVersion(release: string): readonly [number, number] | undefined {
  const match = /^(\d+)\.(\d+)/.exec(release.trim());
  return match === null ? undefined : [Number(match[1]), Number(match[2])];
}

function olderThan(version: readonly [number, number], than: readonly [number, number]): boolean {
  return version[0] < than[0] || (version[0] === than[0] && version[1] < than[1]);
}

const flagHint = "--vxlan-tx-checksum-offload=on keeps the offload";

export function decideTxChecksumOffload(facts: TxChecksumFacts): TxChecksumDecision {
  const { setting } = facts;
  if (setting === "off") {
    return { setting, apply: true, basis: "flag", enforce: true, reason: "--vxlan-tx-checksum-offload=off: TX checksum offload turned off on the VXLAN devices" };
  }
  if (setting === "on") {
    return { setting, apply: false, basis: "flag", enforce: true, reason: "--vxlan-tx-checksum-offload=on: TX checksum offload kept on the VXLAN devices" };
  }
  const version = parseKernelVersion(facts.kernelRelease);
  if (version !== undefined && olderThan(version, fixedKernel)) {
    return {
      setting,
      apply: true,
      basis: "kernel",
      enforce: false,
      reason:
        `kernel ${facts.kernelRelease} is older than ${fixedKernel.join(".")}: VXLAN checksum offload breaks with MASQUERADE --random-fully there; ` +
        `turning it off (${flagHint}, e.g. on a distribution kernel that carries the fix)`,
    };
  }
  const broken = facts.underlayDrivers.find((entry) => entry.driver !== undefined && brokenOffloadDrivers.has(entry.driver));
  if (broken !== undefined) {
    return {
      setting,
      apply: true,
      basis: "driver",
      enforce: false,
      reason: `${broken.device} uses the ${broken.driver} driver, whose VXLAN checksum offload corrupts packets on some hypervisors; turning it off (${flagHint})`,
    };
  }
  const drivers = facts.underlayDrivers.map((entry) => `${entry.device}: ${entry.driver ?? "unknown"}`).join(", ");
  const kernel = version === undefined ? `kernel ${JSON.stringify(facts.kernelRelease)} (version not recognised)` : `kernel ${facts.kernelRelease}`;
  return {
    setting,
    apply: false,
    basis: "none",
    enforce: false,
    reason:
      `no known checksum-offload problem with ${kernel} and driver${facts.underlayDrivers.length === 1 ? "" : "s"} ${drivers === "" ? "unknown" : drivers}; ` +
      "offload left on (--vxlan-tx-checksum-offload=off turns it off if receivers log 'bad checksum')",
  };
}
