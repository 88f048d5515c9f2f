// The vxlan backend's prepare step: decodes the Backend options, picks the MTU and the TX
// checksum decision, and makes (or adopts) one VTEP per configured address family, as Flannel's
// vxlan backend does before it writes its lease.
import type { BackendLog, LocalNode, PreparedBackend, TxChecksumOffloadReport } from "../backend.ts";
import { FlannelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { chooseMtu, podMtu } from "../mtu.ts";
import type { Cidr, IpAddress, IpFamily } from "../net/ip.ts";
import { ProgrammedPeers } from "../reconcile/programmed.ts";
import { decideVtepTxChecksum, txChecksumReport } from "./checksum-offload-device.ts";
import { vxlanLeaseData } from "./lease-data.ts";
import { decodeVxlanOptions, type VxlanOptions } from "./options.ts";
import { ensureVtep, vtepDeviceName, warnIfMtuUnfit, type VtepSpec } from "./vtep-device.ts";
import type { Vtep } from "./vtep-state.ts";

export interface PreparedVteps {
  readonly options: VxlanOptions;
  readonly vteps: Vtep[];
  readonly externalLink: string;
  readonly offloadReport: TxChecksumOffloadReport;
  /** What the agent writes into its lease and hands the CNI plugin. */
  readonly prepared: PreparedBackend;
}

export async function prepareVteps(kernel: Kernel, log: BackendLog, local: LocalNode, signal: AbortSignal): Promise<PreparedVteps> {
  const decoded = decodeVxlanOptions(local.backendConfig);
  const families: { family: IpFamily; network: Cidr | undefined; local: IpAddress | undefined }[] = [];
  if (local.network !== undefined) families.push({ family: 4, network: local.network, local: local.extAddr });
  if (local.networkV6 !== undefined) families.push({ family: 6, network: local.networkV6, local: local.extV6Addr });
  if (families.length === 0) {
    throw new FlannelError("netconf-invalid", "vxlan: neither Network nor IPv6Network is configured", { details: { field: "Network" } });
  }
  // MTU per underlay family, Backend.MTU validated (backends/mtu.ts); TX checksum offload decided once (checksum-offload.ts).
  const mtus = chooseMtu({ backend: "vxlan", link: local.link, configured: decoded.mtu, families: families.map((entry) => entry.family) });
  const txChecksum = await decideVtepTxChecksum(kernel.runner, local.link.name, local.txChecksumOffload ?? "auto", log, signal);
  const offloadOf: { device: string; offloadActive: boolean | undefined }[] = [];
  const vteps: Vtep[] = [];
  for (const { family, network, local: address } of families) {
    if (address === undefined || address.family !== family) {
      throw new FlannelError("interface-invalid", `vxlan: interface ${local.link.name} has no IPv${family} address to use as the VTEP address`, {
        details: { interface: local.link.name, family },
      });
    }
    const spec: VtepSpec = {
      name: vtepDeviceName(family, decoded.vni),
      vni: decoded.vni,
      underlay: local.link,
      local: address,
      learning: decoded.learning,
      port: decoded.port,
      gbp: decoded.gbp,
      mtu: mtus.byFamily[family] ?? mtus.pod,
      txChecksum,
    };
    const ensured = await ensureVtep(kernel, spec, log, signal, family === 4 ? local.vtepMAC : local.vtepMACv6);
    log.info(`vxlan device ${spec.name} ${ensured.outcome}`, { device: spec.name, mac: ensured.mac, mtu: ensured.link.mtu, vni: spec.vni });
    warnIfMtuUnfit(log, spec.name, family, ensured.link.mtu, local.link);
    offloadOf.push({ device: spec.name, offloadActive: ensured.txChecksumActive });
    // Restores use what the device has now: an adopted device keeps its MTU, as in Flannel.
    vteps.push({
      family,
      spec: { ...spec, mtu: ensured.link.mtu },
      mac: ensured.mac,
      network,
      ownSubnet: undefined,
      index: ensured.link.index,
      programmed: new ProgrammedPeers(),
      memos: { routes: {}, linkRoutes: {}, neighbours: {}, fdb: {} },
      clean: new Map(),
    });
  }
  const v4 = vteps.find((vtep) => vtep.family === 4);
  const v6 = vteps.find((vtep) => vtep.family === 6);
  return {
    options: decoded,
    vteps,
    externalLink: local.link.name,
    offloadReport: txChecksumReport(txChecksum, offloadOf),
    prepared: {
      ...(v4 === undefined ? {} : { backendData: vxlanLeaseData(decoded.vni, v4.mac) }),
      ...(v6 === undefined ? {} : { backendV6Data: vxlanLeaseData(decoded.vni, v6.mac) }),
      mtu: podMtu(mtus, vteps.map((vtep) => ({ device: vtep.spec.name, family: vtep.family, mtu: vtep.spec.mtu }))),
    },
  };
}
