// The host-gw backend (F:pkg/backend/hostgw): no device and no backend data, just one route per
// peer through the peer's own address on the external link. MTU is the external link's.
//
// Flannel remembers the routes it added and re-adds missing ones every 10 s; it never removes a
// route it forgot (a restart leaves the old ones behind). Here every reconcile diffs the main
// table against the peers: missing routes are added, a route to a peer subnet with another
// gateway or device is replaced in place (Flannel deletes and re-adds it: "Replacing existing
// route"), and routes on the external link into the cluster network that no peer wants are
// deleted — all in one `ip` batch, deletions first. Only the external link's routes are read
// (`dev <ext>`), with the read runner's device names refreshed when the link's index changed.
// Lease events go through apply(): one replace or delete line per changed peer, no read.
import type { ApplyReport, Backend, BackendLog, LocalNode, OwnSubnets, Peer, PeerChange, PreparedBackend, ReconcileDepth, ReconcileReport } from "../backend.ts";
import { FlannelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { readLink } from "../kernel/link.ts";
import { refreshDeviceNames } from "../kernel/read-runner.ts";
import type { DumpMemo } from "../kernel/json-output.ts";
import { listRoutes, type KernelRoute } from "../kernel/route.ts";
import { formatIp, sameIp, type Cidr, type IpAddress, type IpFamily } from "../net/ip.ts";
import { applyPeerChanges } from "../reconcile/apply-changes.ts";
import { ProgrammedPeers, routeSlot } from "../reconcile/programmed.ts";
import { oneAtATime } from "../reconcile/one-at-a-time.ts";
import { samePeers } from "../reconcile/peers.ts";
import { quietResync } from "../reconcile/quiet-resync.ts";
import { isPeerRouteOn, routeEntryKind } from "../reconcile/routes.ts";
import { applySteps, newTally, planEntries, tallyReport, type Step, type Tally } from "../reconcile/steps.ts";
import { chooseMtu } from "../mtu.ts";
import { hostGwDesiredState, type HostGwDesiredState } from "./desired.ts";

export interface HostGwBackendDeps {
  readonly kernel: Kernel;
  readonly log: BackendLog;
}

interface RoutedFamily {
  readonly family: IpFamily;
  readonly network: Cidr;
  ownSubnet: Cidr | undefined;
  readonly programmed: ProgrammedPeers;
  /** The last route dump (see DumpMemo), and the last reconcile's inputs and outcome (see below). */
  readonly memo: DumpMemo<KernelRoute>;
  last?: { readonly peers: readonly Peer[]; readonly ownSubnet: Cidr | undefined; readonly desired: HostGwDesiredState; routes?: readonly KernelRoute[]; inPlace?: readonly string[] };
  /** The desired state `programmed` was last reset from, while no apply() changed it since. */
  programmedFrom?: HostGwDesiredState | undefined;
}

/** Flannel's refusal, word for word: a peer's route via our PublicIP would lead nowhere behind NAT. */
export const hostGwNatRefusal =
  "your PublicIP differs from interface IP, meaning that probably you're on a NAT, which is not supported by host-gw backend";

function differs(ext: IpAddress | undefined, iface: IpAddress | undefined): boolean {
  return ext !== undefined && iface !== undefined && !sameIp(ext, iface);
}

export function createHostGwBackend(deps: HostGwBackendDeps): Backend {
  const { kernel, log } = deps;
  const serial = oneAtATime("the host-gw backend");
  let families: RoutedFamily[] | undefined;
  let externalLink = "";
  let linkIndex = 0;
  let inPlace = new Set<string>();
  // A resync with nothing changed, in the kernel or the peers, reads nothing (quiet-resync.ts).
  const quiet = quietResync(() => kernel.changes);
  let configuredFor: OwnSubnets | undefined;

  function prepared(call: string): RoutedFamily[] {
    if (families === undefined) throw new Error(`host-gw backend: ${call}() called before prepare()`);
    return families;
  }

  async function prepare(local: LocalNode, signal: AbortSignal): Promise<PreparedBackend> {
    signal.throwIfAborted();
    quiet.forget();
    for (const [family, ext, iface] of [[4, local.extAddr, local.ifaceAddr], [6, local.extV6Addr, local.ifaceV6Addr]] as const) {
      if (differs(ext, iface)) {
        throw new FlannelError("interface-invalid", hostGwNatRefusal, {
          details: { interface: local.link.name, family, publicIP: ext && formatIp(ext), interfaceIP: iface && formatIp(iface) },
        });
      }
    }
    const chosen: RoutedFamily[] = [];
    if (local.network !== undefined) chosen.push({ family: 4, network: local.network, ownSubnet: undefined, programmed: new ProgrammedPeers(), memo: {} });
    if (local.networkV6 !== undefined) chosen.push({ family: 6, network: local.networkV6, ownSubnet: undefined, programmed: new ProgrammedPeers(), memo: {} });
    families = chosen;
    externalLink = local.link.name;
    linkIndex = local.link.index;
    inPlace = new Set();
    // The external link's MTU (host-gw adds no header; Flannel ignores Backend.MTU here too),
    // refused when IPv6 is on and it is under IPv6's minimum.
    const mtu = chooseMtu({ backend: "host-gw", link: local.link, configured: 0, families: chosen.map((routed) => routed.family) }).pod;
    log.info("host-gw backend ready", { interface: externalLink, mtu });
    return { mtu };
  }

  async function reconcile(peers: readonly Peer[], signal: AbortSignal, depth: ReconcileDepth): Promise<ReconcileReport> {
    signal.throwIfAborted();
    const keys = [`LINK ${externalLink}`, ...prepared("reconcile").map((routed) => `${routed.family === 4 ? "ROUTE" : "ROUTE6"} ${externalLink}`)];
    if (await quiet.canSkip(depth, peers, configuredFor, keys)) return tallyReport(newTally());
    const stamp = quiet.stamp();
    const tally = newTally();
    const steps: { removals: Step<"ip">[]; writes: Step<"ip">[]; inPlace: string[] } = { removals: [], writes: [], inPlace: [] };
    // A link recreated under the same name: long-lived readers' name caches point at the old one.
    const index = (await readLink(kernel.runner, externalLink, signal))?.index;
    if (index !== undefined && index !== linkIndex) {
      linkIndex = index;
      await Promise.all([refreshDeviceNames(kernel.runner), kernel.ip.recycle()]);
    }
    for (const routed of prepared("reconcile")) {
      const routes = await listRoutes(kernel.runner, routed.family, { device: externalLink, signal, memo: routed.memo });
      // The same peers (the agent hands the same Peer objects while leases stand) give the same
      // desired state; with the same dump as well, the last plan — if it found nothing to do — holds.
      const last = routed.last;
      const same = last !== undefined && last.ownSubnet === routed.ownSubnet && samePeers(last.peers, peers);
      const desired = same ? last.desired : hostGwDesiredState({ family: routed.family, externalLink, ownSubnet: routed.ownSubnet }, peers);
      tally.errors.push(...desired.errors);
      if (same && last.routes === routes && last.inPlace !== undefined) {
        steps.inPlace.push(...last.inPlace);
      } else {
        const plan = planEntries(routeEntryKind((route) => isPeerRouteOn(route, externalLink, routed.network)), desired.routes, routes, inPlace);
        steps.removals.push(...plan.removals);
        steps.writes.push(...plan.writes);
        steps.inPlace.push(...plan.inPlace);
        const clean = plan.removals.length === 0 && plan.writes.length === 0;
        routed.last = { peers, ownSubnet: routed.ownSubnet, desired, ...(clean ? { routes, inPlace: plan.inPlace } : {}) };
      }
      if (routed.programmedFrom !== desired) {
        routed.programmed.resetFrom(desired.routes, () => ({}));
        routed.programmedFrom = desired;
      }
    }
    await applySteps(kernel.ip, [...steps.removals, ...steps.writes], tally, signal);
    inPlace = new Set([...steps.inPlace, ...tally.inPlace]);
    if (tally.errors.every((error) => error.code === "lease-invalid")) quiet.clean(stamp, peers, configuredFor);
    else quiet.forget();
    return tallyReport(tally);
  }

  async function apply(changes: readonly PeerChange[], signal: AbortSignal): Promise<ApplyReport> {
    signal.throwIfAborted();
    const tally = newTally();
    await quiet.beforeApply(changes.length);
    for (const routed of prepared("apply")) routed.programmedFrom = undefined;
    const targets = prepared("apply").map((routed) => ({
      family: routed.family,
      programmed: routed.programmed,
      recordOf: (change: PeerChange, subnet: Cidr, into: Tally) => {
        const desired = hostGwDesiredState({ family: routed.family, externalLink, ownSubnet: routed.ownSubnet }, [change.peer]);
        into.errors.push(...desired.errors);
        const [route] = desired.routes;
        return route === undefined ? undefined : { subnet, route: routeSlot(route) };
      },
    }));
    // Deletions before writes, as in reconcile.
    const needsReconcile = await applyPeerChanges(targets, changes, tally, (steps) => applySteps(kernel.ip, [...steps.ipFirst, ...steps.ipLast], tally, signal));
    for (const key of tally.inPlace) inPlace.add(key);
    return { ...tallyReport(tally), needsReconcile };
  }

  return {
    type: "host-gw",
    prepare: (local, signal) => serial.run(() => prepare(local, signal)),
    configure: (own: OwnSubnets, signal: AbortSignal) =>
      serial.run(async () => {
        signal.throwIfAborted();
        // No device to address: the own subnet only keeps it out of the peers' routes.
        configuredFor = own;
        quiet.forget();
        for (const routed of prepared("configure")) routed.ownSubnet = routed.family === 4 ? own.subnet : own.subnetV6;
      }),
    reconcile: (peers, signal, depth = "full") => serial.run(() => reconcile(peers, signal, depth)),
    apply: (changes, signal) => serial.run(() => apply(changes, signal)),
    close: () => serial.close(),
  };
}
