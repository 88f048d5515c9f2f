// The vxlan backend (F:pkg/backend/vxlan): one VTEP device per address family, and per peer a
// neighbour, an FDB entry and an onlink route on it (or a direct route with DirectRouting).
//
// Unlike Flannel, which applies lease events one by one and never looks back, reconcile is
// level-triggered: each run reads what the kernel holds (main-table routes, the VTEP's
// neighbours, FDB entries and addresses), computes what it should hold, and applies only the
// difference — so entries deleted by hand come back, stale entries of removed peers or of a
// previous run go, and a deleted VTEP is recreated with its MAC and every peer replayed.
//
// Order of a run, as Flannel orders its own writes: one `ip` batch with the deletions (routes
// first, then neighbours) and the neighbour writes; one `bridge` batch with the FDB deletions
// and writes; a last `ip` batch with the route writes, so that the kernel never routes to a
// gateway it cannot resolve. A peer whose neighbour or FDB entry failed keeps its route back.
import type { Backend, BackendLog, LocalNode, OwnSubnets, Peer, PreparedBackend, ReconcileReport } from "../backend.ts";
import { FlannelError, isFlannelError } from "../errors.ts";
import { addressDeleteLine, addressReplaceLine, listAddresses } from "../kernel/address.ts";
import { listFdb } from "../kernel/fdb.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { linkUpLine, readLink } from "../kernel/link.ts";
import type { MacAddress } from "../kernel/mac.ts";
import { listNeighbours } from "../kernel/neighbour.ts";
import { listRoutes } from "../kernel/route.ts";
import { addressBits, cidrIp, formatIp, type Cidr, type IpAddress, type IpFamily } from "../net/ip.ts";
import { oneAtATime } from "../reconcile/one-at-a-time.ts";
import { routeEntryKind } from "../reconcile/routes.ts";
import { applySteps, newTally, planEntries, tallyReport, type Step, type Tally } from "../reconcile/steps.ts";
import { vxlanDesiredState, type DirectLinkOf } from "./desired.ts";
import { directLinkFromRoutes } from "./direct-routing.ts";
import { fdbEntryKind, isVxlanRoute, neighbourEntryKind } from "./entries.ts";
import { vxlanLeaseData } from "./lease-data.ts";
import { decodeVxlanOptions, type VxlanOptions } from "./options.ts";
import { ensureVtep, restoreVtep, vtepAddressPlan, vtepDeviceName, vxlanOverhead, type VtepSpec } from "./vtep-device.ts";

export interface VxlanBackendDeps {
  readonly kernel: Kernel;
  readonly log: BackendLog;
  /**
   * DirectRouting's reachability test. By default it is answered from the main routing table
   * read during each reconcile (see direct-routing.ts).
   */
  readonly directLinkOf?: DirectLinkOf;
}

/** One address family's VTEP, as prepared. */
interface Vtep {
  readonly family: IpFamily;
  readonly spec: VtepSpec;
  readonly mac: MacAddress;
  readonly network: Cidr | undefined;
  ownSubnet: Cidr | undefined;
}

/** The steps of one reconcile run, in the order they are applied. */
interface RunSteps {
  readonly ipFirst: Step<"ip">[];
  readonly bridge: Step<"bridge">[];
  readonly ipLast: Step<"ip">[];
  readonly inPlace: string[];
}

function asFlannelError(error: unknown, device: string): FlannelError {
  if (isFlannelError(error)) return error;
  return new FlannelError("kernel-command-failed", `vxlan device ${device}: ${String(error)}`, { cause: error, details: { device } });
}

export function createVxlanBackend(deps: VxlanBackendDeps): Backend {
  const { kernel, log } = deps;
  const serial = oneAtATime("the vxlan backend");
  let options: VxlanOptions | undefined;
  let vteps: Vtep[] = [];
  let externalLink = "";
  // Keys of desired entries seen in place after the last run: a missing one is then "repaired".
  let inPlace: ReadonlySet<string> = new Set();

  function requirePrepared(call: string): VxlanOptions {
    if (options === undefined) throw new Error(`vxlan backend: ${call}() called before prepare()`);
    return options;
  }

  async function prepare(local: LocalNode, signal: AbortSignal): Promise<PreparedBackend> {
    signal.throwIfAborted();
    const decoded = decodeVxlanOptions(local.backendConfig);
    // Flannel: MTU = (option MTU, else the external interface's) − 50, for IPv6 too.
    const mtu = (decoded.mtu > 0 ? decoded.mtu : local.link.mtu) - vxlanOverhead;
    const families: { family: IpFamily; network: Cidr | undefined; local: IpAddress | undefined }[] = [];
    if (local.network !== undefined) families.push({ family: 4, network: local.network, local: local.extAddr });
    if (local.networkV6 !== undefined) families.push({ family: 6, network: local.networkV6, local: local.extV6Addr });
    if (families.length === 0) {
      throw new FlannelError("netconf-invalid", "vxlan: neither Network nor IPv6Network is configured", { details: { field: "Network" } });
    }
    const prepared: Vtep[] = [];
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
        mtu,
      };
      const ensured = await ensureVtep(kernel, spec, log, signal, family === 4 ? local.vtepMAC : local.vtepMACv6);
      log.info(`vxlan device ${spec.name} ${ensured.outcome}`, { device: spec.name, mac: ensured.mac, mtu: ensured.link.mtu, vni: spec.vni });
      // Restores use what the device has now: an adopted device keeps its MTU, as in Flannel.
      prepared.push({ family, spec: { ...spec, mtu: ensured.link.mtu }, mac: ensured.mac, network, ownSubnet: undefined });
    }
    options = decoded;
    vteps = prepared;
    externalLink = local.link.name;
    inPlace = new Set();
    const v4 = prepared.find((vtep) => vtep.family === 4);
    const v6 = prepared.find((vtep) => vtep.family === 6);
    return {
      ...(v4 === undefined ? {} : { backendData: vxlanLeaseData(decoded.vni, v4.mac) }),
      ...(v6 === undefined ? {} : { backendV6Data: vxlanLeaseData(decoded.vni, v6.mac) }),
      mtu: Math.min(...prepared.map((vtep) => vtep.spec.mtu)),
    };
  }

  /** The VTEP's address lines: its own /32 (/128) added when missing, any other address removed. */
  async function addressSteps(vtep: Vtep, signal: AbortSignal): Promise<Step<"ip">[]> {
    if (vtep.ownSubnet === undefined) return [];
    const own = cidrIp(vtep.ownSubnet);
    const plan = vtepAddressPlan(await listAddresses(kernel.runner, vtep.spec.name, signal), own);
    const prefixLength = addressBits[vtep.family];
    return [
      ...plan.remove.map((address): Step<"ip"> => ({ line: addressDeleteLine({ ...address, device: vtep.spec.name }), effect: "removed" })),
      ...(plan.addOwn ? [{ line: addressReplaceLine({ ip: own, prefixLength, device: vtep.spec.name }), effect: "repaired" as const }] : []),
    ];
  }

  async function configure(own: OwnSubnets, signal: AbortSignal): Promise<void> {
    await serial.run(async () => {
      signal.throwIfAborted();
      requirePrepared("configure");
      for (const vtep of vteps) {
        vtep.ownSubnet = vtep.family === 4 ? own.subnet : own.subnetV6;
        if (vtep.ownSubnet === undefined) continue;
        const steps = await addressSteps(vtep, signal);
        const result = await kernel.ip.apply([...steps.map((step) => step.line), linkUpLine(vtep.spec.name)], signal);
        const [first] = result.errors;
        if (first !== undefined) throw first;
        // Flannel checks the MAC once the device is up: the lease already advertises it.
        const link = await readLink(kernel.runner, vtep.spec.name, signal);
        if (link?.mac !== vtep.mac) {
          throw new FlannelError("interface-invalid", `${vtep.spec.name}'s mac address wanted: ${vtep.mac}, but got: ${link?.mac ?? "no device"}`, {
            details: { device: vtep.spec.name, wanted: vtep.mac, got: link?.mac },
          });
        }
        log.info(`configured ${vtep.spec.name}`, { device: vtep.spec.name, address: `${formatIp(cidrIp(vtep.ownSubnet))}/${addressBits[vtep.family]}` });
      }
    });
  }

  /** Reads one family's kernel state and plans its steps into `run`. */
  async function planVtep(vtep: Vtep, peers: readonly Peer[], tally: Tally, run: RunSteps, signal: AbortSignal): Promise<void> {
    const device = vtep.spec.name;
    try {
      if (await restoreVtep(kernel, vtep.spec, vtep.mac, log, signal)) tally.repaired += 1;
    } catch (error) {
      // Without its device a family has nothing to program; the next run tries again.
      tally.errors.push(asFlannelError(error, device));
      return;
    }
    const [routes, neighbours, fdb, addresses] = await Promise.all([
      listRoutes(kernel.runner, vtep.family, { signal }),
      listNeighbours(kernel.runner, device, { family: vtep.family, signal }),
      listFdb(kernel.runner, device, signal),
      addressSteps(vtep, signal),
    ]);
    const directRouting = requirePrepared("reconcile").directRouting;
    const desired = vxlanDesiredState(
      { family: vtep.family, device, ownSubnet: vtep.ownSubnet, directRouting },
      peers,
      deps.directLinkOf ?? directLinkFromRoutes(routes),
    );
    tally.errors.push(...desired.errors);
    const routePlan = planEntries(routeEntryKind((route) => isVxlanRoute(route, device, externalLink, vtep.network)), desired.routes, routes, inPlace);
    const neighbourPlan = planEntries(
      neighbourEntryKind(vtep.network),
      desired.neighbours,
      neighbours.map((entry) => ({ ...entry, device })),
      inPlace,
    );
    const fdbPlan = planEntries(fdbEntryKind, desired.fdb, fdb.map((entry) => ({ ...entry, device })), inPlace);
    run.ipFirst.push(...addresses, ...routePlan.removals, ...neighbourPlan.removals, ...neighbourPlan.writes);
    run.bridge.push(...fdbPlan.removals, ...fdbPlan.writes);
    run.ipLast.push(...routePlan.writes);
    run.inPlace.push(...routePlan.inPlace, ...neighbourPlan.inPlace, ...fdbPlan.inPlace);
  }

  async function reconcile(peers: readonly Peer[], signal: AbortSignal): Promise<ReconcileReport> {
    return serial.run(async () => {
      signal.throwIfAborted();
      requirePrepared("reconcile");
      const tally = newTally();
      const run: RunSteps = { ipFirst: [], bridge: [], ipLast: [], inPlace: [] };
      for (const vtep of vteps) await planVtep(vtep, peers, tally, run, signal);
      await applySteps(kernel.ip, run.ipFirst, tally, signal);
      await applySteps(kernel.bridge, run.bridge, tally, signal);
      const routes = run.ipLast.filter((step) => step.peer === undefined || !tally.failedPeers.has(step.peer));
      await applySteps(kernel.ip, routes, tally, signal);
      inPlace = new Set([...run.inPlace, ...tally.inPlace]);
      return tallyReport(tally);
    });
  }

  return {
    type: "vxlan",
    prepare: (local, signal) => serial.run(() => prepare(local, signal)),
    configure,
    reconcile,
    close: () => serial.close(),
  };
}
