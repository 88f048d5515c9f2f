// The udp backend (F:pkg/backend/udp): Flannel's userspace fallback, wire-compatible with it —
// TUN flannel0, one bare IPv4 packet per UDP datagram on Backend.Port (8285) — with the packet
// path in native code (dgram-native: batched TUN and UDP I/O, off the JavaScript thread). Here
// the agent process is the data plane: JavaScript only steers it (the peer table, the device's
// address, MTU and route, counters).
//
// Life cycle, mapped onto the Backend contract:
//  - prepare: options and MTU (external MTU − 28); no lease data — a udp lease carries only
//    PublicIP, no BackendType (Flannel's udp backend sets neither);
//  - configure: opens the data plane (which creates flannel0, or re-attaches to the one a
//    previous run left: it is persistent) and gives the device its /32, MTU, up and Network route;
//  - reconcile (level-triggered): the device is read and repaired — recreated with the data plane
//    when it was deleted — and the peer table computed from the whole peer set (peer-table-keeper);
//  - apply (incremental): the changed peers update the table;
//  - close: stops the data plane; flannel0 stays with its address and route (TUNSETPERSIST), so
//    a restarted agent re-attaches and pods lose only the packets of the gap.
//
// The gap is kept short by a snapshot of what the data plane runs with (data-plane-snapshot.ts),
// saved beside subnet.env: the next agent resumes forwarding from it at its very start
// (resume.ts), and configure adopts that data plane when the options it would open with are the
// same — otherwise it is closed and a new one opened.
import type { ApplyReport, Backend, BackendLog, LocalNode, OwnSubnets, Peer, PeerChange, PreparedBackend, ReconcileDepth, ReconcileReport } from "../backend.ts";
import { FlannelError, isFlannelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { linkDeleteLine, readLink } from "../kernel/link.ts";
import { refreshDeviceNames } from "../kernel/read-runner.ts";
import { cidrIp, formatCidr, formatIp, type Cidr, type IpAddress } from "../net/ip.ts";
import { oneAtATime } from "../reconcile/one-at-a-time.ts";
import { applySteps, newTally, tallyReport, type Tally } from "../reconcile/steps.ts";
import { readDeviceEntries, tuneDevice } from "./device-kernel.ts";
import { chooseMtu } from "../mtu.ts";
import { udpDeviceName, udpDevicePlan, type UdpDeviceSpec } from "./device.ts";
import { openDataPlane, type DataPlane } from "./dgram-native.ts";
import { createDropReporter } from "./drop-report.ts";
import { decodeUdpOptions, type UdpOptions } from "./options.ts";
import { createPeerTableKeeper } from "./peer-table-keeper.ts";
import { createSnapshotKeeper, sameSnapshotOptions, type SnapshotOptions } from "./data-plane-snapshot.ts";
import type { ResumedDataPlane } from "./resume.ts";
import { trafficCounters, type UdpHooks } from "./traffic-counters.ts";

export interface UdpBackendDeps {
  readonly kernel: Kernel;
  readonly log: BackendLog;
  /** Where the data plane's snapshot is kept for the next start; none when undefined. */
  readonly snapshotFile?: string | undefined;
  /** A data plane the agent resumed from the previous run's snapshot, adopted when it fits. */
  readonly resumed?: ResumedDataPlane | undefined;
}

export type UdpBackend = Backend & UdpHooks;

interface Prepared {
  readonly options: UdpOptions;
  readonly mtu: number;
  readonly network: Cidr;
  /** Flannel binds the socket to the interface address (not --public-ip). */
  readonly bindAddress: IpAddress;
}

function asFlannelError(error: unknown, what: string): FlannelError {
  if (isFlannelError(error)) return error;
  return new FlannelError("kernel-command-failed", `udp backend: ${what}: ${String(error)}`, { cause: error, details: { device: udpDeviceName } });
}

export function createUdpBackend(deps: UdpBackendDeps): UdpBackend {
  const { kernel, log } = deps;
  const serial = oneAtATime("the udp backend");
  let prepared: Prepared | undefined;
  let spec: UdpDeviceSpec | undefined;
  let ownSubnet: Cidr | undefined;
  let dataPlane: DataPlane | undefined;
  /** What dataPlane was opened with (one object per open: the snapshot keeper compares identity). */
  let openedWith: SnapshotOptions | undefined;
  let resumed = deps.resumed;
  const snapshots = deps.snapshotFile === undefined ? undefined : createSnapshotKeeper(deps.snapshotFile, log);
  let deviceIndex = 0;
  const drops = createDropReporter(log);
  const peerTable = createPeerTableKeeper(() => ownSubnet, drops);

  function requirePrepared(call: string): Prepared {
    if (prepared === undefined) throw new Error(`udp backend: ${call}() called before prepare()`);
    return prepared;
  }

  function requireConfigured(call: string): UdpDeviceSpec {
    if (spec === undefined) throw new Error(`udp backend: ${call}() called before configure()`);
    return spec;
  }

  async function prepare(local: LocalNode, signal: AbortSignal): Promise<PreparedBackend> {
    signal.throwIfAborted();
    const options = decodeUdpOptions(local.backendConfig);
    if (local.network === undefined) {
      throw new FlannelError("netconf-invalid", "udp backend: Network is not configured (the udp backend carries IPv4 only)", { details: { field: "Network" } });
    }
    if (local.networkV6 !== undefined) {
      throw new FlannelError("unsupported", "udp backend: IPv6Network is not supported (Flannel's udp backend carries IPv4 only)", { details: { field: "IPv6Network" } });
    }
    const bindAddress = local.ifaceAddr;
    if (bindAddress === undefined || bindAddress.family !== 4) {
      throw new FlannelError("interface-invalid", `udp backend: interface ${local.link.name} has no IPv4 address to bind port ${options.port} to`, {
        details: { interface: local.link.name },
      });
    }
    // Flannel's interface MTU − 28 (backends/mtu.ts refuses a link too small to leave IPv4's 68).
    const mtu = chooseMtu({ backend: "udp", link: local.link, configured: 0, families: [4] }).pod;
    prepared = { options, mtu, network: local.network, bindAddress };
    log.info("udp backend ready", { interface: local.link.name, bind: `${formatIp(bindAddress)}:${options.port}`, mtu, queues: options.queues });
    // No BackendData: a udp lease is {"PublicIP":…,"PublicIPv6":null} and nothing else.
    return { mtu };
  }

  function wantedOptions(): SnapshotOptions {
    const { options, mtu, network, bindAddress } = requirePrepared("configure");
    if (ownSubnet === undefined) throw new Error("udp backend: no own subnet");
    return {
      tunName: udpDeviceName,
      bindAddress: formatIp(bindAddress),
      port: options.port,
      mtu,
      ownSubnet: formatCidr(ownSubnet),
      network: formatCidr(network),
      queues: options.queues,
    };
  }

  function open(): DataPlane {
    const wanted = wantedOptions();
    // The device outlives the process: a restarted agent re-attaches to it, with its address
    // and route in place, so the gap in traffic is only the time the agent is away.
    const opened = openDataPlane({ ...wanted, persist: true });
    openedWith = wanted;
    log.info("udp data plane open", { device: udpDeviceName, port: wanted.port, ...opened.features });
    return opened;
  }

  /** The resumed data plane when it runs with the very options this node opens with now; closed otherwise. */
  async function adoptResumed(): Promise<DataPlane | undefined> {
    const candidate = resumed;
    resumed = undefined;
    if (candidate === undefined) return undefined;
    const wanted = wantedOptions();
    if (sameSnapshotOptions(candidate.snapshot.options, wanted)) {
      openedWith = wanted;
      log.info("udp data plane kept: the one resumed at start opened with these very options", { device: udpDeviceName, port: wanted.port });
      return candidate.plane;
    }
    log.info("udp data plane resumed at start is replaced: this run opens it with other options", { device: udpDeviceName, was: candidate.snapshot.options, now: wanted });
    // Closed first: flannel0 takes one attachment at a time.
    await candidate.plane.close();
    return undefined;
  }

  /**
   * Opens the data plane. A flannel0 the kernel refuses to attach (another kind of device, a TUN
   * made with other flags: TUNSETIFF EINVAL) is deleted and made anew, as vxlan recreates an
   * incompatible VTEP. Anything else is fatal — EBUSY (another process holds it), a missing
   * addon, … — and leaves the device alone.
   */
  async function openReplacing(signal: AbortSignal): Promise<DataPlane> {
    const adopted = await adoptResumed();
    if (adopted !== undefined) return adopted;
    try {
      return open();
    } catch (error) {
      const existing = await readLink(kernel.runner, udpDeviceName, signal);
      const incompatible = isFlannelError(error, "udp-dataplane-failed") && error.details.syscall === "TUNSETIFF" && error.details.errno === "EINVAL";
      if (existing === undefined || !incompatible) throw asFlannelError(error, `opening the data plane on ${udpDeviceName}`);
      log.warn(`udp device ${udpDeviceName} exists but cannot be attached (${String(error)}); recreating it`, { device: udpDeviceName, kind: existing.kind ?? "none" });
      // The writer caches name → index: a device made by someone else is unknown to it.
      await kernel.ip.recycle();
      const deleted = await kernel.ip.apply([linkDeleteLine(udpDeviceName)], signal);
      if (deleted.errors[0] !== undefined) throw deleted.errors[0];
      return open();
    }
  }

  /** Reads the device and repairs what differs; recreates it (with the data plane) when it is gone. */
  async function ensureDevice(wanted: UdpDeviceSpec, tally: Tally | undefined, signal: AbortSignal): Promise<void> {
    let link = await readLink(kernel.runner, wanted.name, signal);
    // Also after a reopen that failed (dataPlane undefined): each reconcile tries again.
    if (link === undefined || link.kind !== "tun" || dataPlane === undefined) {
      log.warn(`udp device ${wanted.name} is gone or replaced; reopening the data plane`, { device: wanted.name, found: link?.kind ?? "none" });
      await dataPlane?.close();
      dataPlane = undefined;
      dataPlane = await openReplacing(signal);
      dataPlane.setPeers(peerTable.entries);
      if (tally !== undefined) tally.repaired += 1;
      link = await readLink(kernel.runner, wanted.name, signal);
      if (link === undefined) throw asFlannelError(new Error("the data plane did not create the device"), "reopen");
    }
    if (link.index !== deviceIndex) {
      // A new device under the same name: the long-lived readers' and writers' name caches are stale.
      await Promise.all([refreshDeviceNames(kernel.runner), kernel.ip.recycle(), tuneDevice(kernel, wanted.name, signal)]);
      deviceIndex = link.index;
    }
    const steps = udpDevicePlan(wanted, { link, ...(await readDeviceEntries(kernel, wanted.name, signal)) });
    const into = tally ?? newTally();
    await applySteps(kernel.ip, steps, into, signal);
    if (tally === undefined && into.errors.length > 0) throw into.errors[0];
  }

  /** Notes the table the data plane runs with now, for the next start. */
  function keepSnapshot(): void {
    if (openedWith !== undefined) snapshots?.update(openedWith, peerTable.entries);
  }

  async function configure(own: OwnSubnets, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const { mtu, network } = requirePrepared("configure");
    if (own.subnet === undefined) throw new FlannelError("netconf-invalid", "udp backend: the lease has no IPv4 subnet", { details: { field: "Network" } });
    ownSubnet = own.subnet;
    spec = { name: udpDeviceName, mtu, address: cidrIp(own.subnet), network };
    if (dataPlane === undefined) dataPlane = await openReplacing(signal);
    await ensureDevice(spec, undefined, signal);
  }

  /** Level-triggered: the device checked and repaired, then the table for the whole peer set. */
  async function reconcile(peers: readonly Peer[], signal: AbortSignal, depth: ReconcileDepth = "full"): Promise<ReconcileReport> {
    signal.throwIfAborted();
    const wanted = requireConfigured("reconcile");
    const tally = newTally();
    try {
      await ensureDevice(wanted, tally, signal);
    } catch (error) {
      tally.errors.push(asFlannelError(error, `checking ${udpDeviceName}`));
    }
    if (dataPlane !== undefined) {
      peerTable.reconcile(dataPlane, peers, depth, tally);
      drops.report(dataPlane.counters());
      keepSnapshot();
    }
    return tallyReport(tally);
  }

  async function apply(changes: readonly PeerChange[], signal: AbortSignal): Promise<ApplyReport> {
    signal.throwIfAborted();
    requireConfigured("apply");
    const tally = newTally();
    peerTable.apply(dataPlane, changes, tally);
    if (dataPlane !== undefined) keepSnapshot();
    // Without a data plane (its reopen failed) the next reconcile must try again.
    return { ...tallyReport(tally), needsReconcile: dataPlane === undefined };
  }

  return {
    type: "udp",
    prepare: (local, signal) => serial.run(() => prepare(local, signal)),
    configure: (own, signal) => serial.run(() => configure(own, signal)),
    reconcile: (peers, signal, depth) => serial.run(() => reconcile(peers, signal, depth)),
    apply: (changes, signal) => serial.run(() => apply(changes, signal)),
    counters: () => (dataPlane === undefined ? undefined : trafficCounters(dataPlane.counters())),
    programmedPeers: () => (dataPlane === undefined ? 0 : peerTable.entries.length),
    deviceNames: () => [udpDeviceName],
    async close() {
      await serial.close();
      // A resumed data plane configure never reached (a start that failed early) is not left running.
      await resumed?.plane.close();
      resumed = undefined;
      const plane = dataPlane;
      dataPlane = undefined;
      if (plane === undefined) return;
      // The last table, for the next start.
      snapshots?.flush();
      drops.report(plane.counters());
      await plane.close();
      log.info("udp data plane closed; flannel0 stays for the next start", { device: udpDeviceName });
    },
  };
}
