// The shell around checksum-offload.ts: reads the facts the decision needs (the running kernel's
// release, the drivers under the external interface) and puts a VTEP device's
// tx-checksum-ip-generic where the decision wants it, reading it back.
import { release } from "node:os";
import type { BackendLog, TxChecksumOffloadReport } from "../backend.ts";
import { FlannelError } from "../errors.ts";
import type { CommandRunner } from "../kernel/command-runner.ts";
import { readDriverName, readFeatures, setFeature } from "../kernel/ethtool.ts";
import { isRecord, parseRecordArray, type JsonRecord } from "../kernel/json-output.ts";
import { decideTxChecksumOffload, type TxChecksumDecision, type TxChecksumFacts, type TxChecksumOffloadSetting } from "./checksum-offload.ts";

/** The feature the workaround turns off (Flannel's troubleshooting guide, flannel#1929). */
export const txChecksumFeature = "tx-checksum-ip-generic";

// Devices that stack on a parent: the parent's driver is the one that touches the wire.
const stackedKinds = new Set(["vlan", "macvlan", "macvtap", "ipvlan", "ipvtap"]);
// Devices that aggregate members: each member's driver may carry the packets.
const aggregateKinds = new Set(["bond", "team", "bridge"]);

const linkDumpArgv = ["ip", "-d", "-json", "link", "show"] as const;

/**
 * The external interface and the devices under it — a VLAN's (macvlan's…) parent, a bond's,
 * team's or bridge's members, a few levels down — by name. Pure over one `ip -d -json link` dump.
 */
export function underlayDevices(links: readonly JsonRecord[], external: string): string[] {
  const byName = new Map(links.flatMap((link) => (typeof link.ifname === "string" ? [[link.ifname, link] as const] : [])));
  const found: string[] = [];
  const visit = (name: string, depth: number): void => {
    if (found.includes(name) || depth > 3) return;
    found.push(name);
    const link = byName.get(name);
    if (link === undefined) return;
    const kind = isRecord(link.linkinfo) && typeof link.linkinfo.info_kind === "string" ? link.linkinfo.info_kind : undefined;
    if (kind !== undefined && stackedKinds.has(kind) && typeof link.link === "string") visit(link.link, depth + 1);
    if (kind !== undefined && aggregateKinds.has(kind)) {
      for (const member of links) if (member.master === name && typeof member.ifname === "string") visit(member.ifname, depth + 1);
    }
  };
  visit(external, 0);
  return found;
}

/** What decideTxChecksumOffload needs, read from this host (the kernel is the same in every namespace). */
export async function readTxChecksumFacts(runner: CommandRunner, external: string, setting: TxChecksumOffloadSetting, signal?: AbortSignal): Promise<TxChecksumFacts> {
  const kernelRelease = release();
  // A forced setting needs no facts: no ethtool runs only to be ignored.
  if (setting !== "auto") return { kernelRelease, underlayDrivers: [], setting };
  const dump = await runner(linkDumpArgv, { signal });
  const devices = dump.code === 0 ? underlayDevices(parseRecordArray(linkDumpArgv, dump.stdout), external) : [external];
  const underlayDrivers = await Promise.all(
    devices.map(async (device) => ({ device, driver: await readDriverName(runner, device, signal).catch(() => undefined) })),
  );
  return { kernelRelease, underlayDrivers, setting };
}

/** Reads the facts and decides; the decision is logged once, with its reason. */
export async function decideVtepTxChecksum(runner: CommandRunner, external: string, setting: TxChecksumOffloadSetting, log: BackendLog, signal?: AbortSignal): Promise<TxChecksumDecision> {
  const facts = await readTxChecksumFacts(runner, external, setting, signal);
  const decision = decideTxChecksumOffload(facts);
  const fields = { setting, basis: decision.basis, workaround: decision.apply, kernel: facts.kernelRelease, drivers: facts.underlayDrivers };
  if (decision.apply) log.warn(`vxlan TX checksum offload: ${decision.reason}`, fields);
  else log.info(`vxlan TX checksum offload: ${decision.reason}`, fields);
  return decision;
}

/**
 * Puts `device`'s tx-checksum-ip-generic where `decision` wants it and returns whether the
 * offload is active afterwards (undefined: the device has no such feature, or ethtool failed
 * under "auto"). Under "auto" an offload already off is left off (an operator's udev rule, say)
 * with a warning; only an explicit setting is enforced both ways. A failure under an explicit
 * setting throws: the operator asked for it.
 */
export async function ensureTxChecksum(runner: CommandRunner, device: string, decision: TxChecksumDecision, log: BackendLog, signal?: AbortSignal): Promise<boolean | undefined> {
  try {
    const feature = (await readFeatures(runner, device, signal)).get(txChecksumFeature);
    if (feature === undefined) {
      log.warn(`${device} has no ${txChecksumFeature} feature; TX checksum offload left as it is`, { device });
      return undefined;
    }
    const wanted = !decision.apply;
    if (feature.active === wanted) return wanted;
    if (!decision.apply && !decision.enforce) {
      log.warn(
        `${txChecksumFeature} is off on ${device} although no known problem needs it (set by hand, a udev rule or an earlier --vxlan-tx-checksum-offload=off?); ` +
          "left off, at a large cost in throughput: --vxlan-tx-checksum-offload=on turns it back on",
        { device },
      );
      return false;
    }
    await setFeature(runner, device, txChecksumFeature, wanted, signal);
    const after = (await readFeatures(runner, device, signal)).get(txChecksumFeature)?.active;
    if (after !== wanted) {
      throw new FlannelError("kernel-command-failed", `${device}: ${txChecksumFeature} is still ${after === true ? "on" : "off"} after ethtool -K`, {
        details: { device, feature: txChecksumFeature, wanted },
      });
    }
    log.info(`${txChecksumFeature} turned ${wanted ? "on" : "off"} on ${device}`, { device, reason: decision.reason });
    return wanted;
  } catch (error) {
    signal?.throwIfAborted();
    if (decision.basis === "flag") throw error;
    const message = `could not read or set ${txChecksumFeature} on ${device}: ${error instanceof Error ? error.message : String(error)}`;
    if (decision.apply) log.error(message, { device });
    else log.warn(message, { device });
    return undefined;
  }
}

/** The decision and what the devices have now, as PreparedBackend reports it. */
export function txChecksumReport(decision: TxChecksumDecision, devices: TxChecksumOffloadReport["devices"]): TxChecksumOffloadReport {
  return { setting: decision.setting, workaround: decision.apply, basis: decision.basis, reason: decision.reason, devices };
}
