// The host-gw backend (F:pkg/backend/hostgw): no device and no backend data, just one route per
// peer through the peer's own address on the external link. MTU is the external link's.
//
// Flannel remembers the routes it added and re-adds missing ones every 10 s; it never removes a
// route it forgot (a restart leaves the old ones behind). Here every reconcile diffs the main
// table against the peers: missing routes are added, a route to a peer subnet with another
// gateway or device is replaced in place (Flannel deletes and re-adds it: "Replacing existing
// route"), and routes on the external link into the cluster network that no peer wants are
// deleted — all in one `ip` batch, deletions first.
import type { Backend, BackendLog, LocalNode, OwnSubnets, Peer, PreparedBackend, ReconcileReport } from "../backend.ts";
import { FlannelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { listRoutes } from "../kernel/route.ts";
import { formatIp, sameIp, type Cidr, type IpAddress, type IpFamily } from "../net/ip.ts";
import { oneAtATime } from "../reconcile/one-at-a-time.ts";
import { isPeerRouteOn, routeEntryKind } from "../reconcile/routes.ts";
import { applySteps, newTally, planEntries, tallyReport, type Step } from "../reconcile/steps.ts";
import { hostGwDesiredState } from "./desired.ts";

export interface HostGwBackendDeps {
  readonly kernel: Kernel;
  readonly log: BackendLog;
}

interface RoutedFamily {
  readonly family: IpFamily;
  readonly network: Cidr;
  ownSubnet: Cidr | undefined;
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
  let inPlace: ReadonlySet<string> = new Set();

  function prepared(call: string): RoutedFamily[] {
    if (families === undefined) throw new Error(`host-gw backend: ${call}() called before prepare()`);
    return families;
  }

  async function prepare(local: LocalNode, signal: AbortSignal): Promise<PreparedBackend> {
    signal.throwIfAborted();
    for (const [family, ext, iface] of [[4, local.extAddr, local.ifaceAddr], [6, local.extV6Addr, local.ifaceV6Addr]] as const) {
      if (differs(ext, iface)) {
        throw new FlannelError("interface-invalid", hostGwNatRefusal, {
          details: { interface: local.link.name, family, publicIP: ext && formatIp(ext), interfaceIP: iface && formatIp(iface) },
        });
      }
    }
    const chosen: RoutedFamily[] = [];
    if (local.network !== undefined) chosen.push({ family: 4, network: local.network, ownSubnet: undefined });
    if (local.networkV6 !== undefined) chosen.push({ family: 6, network: local.networkV6, ownSubnet: undefined });
    families = chosen;
    externalLink = local.link.name;
    inPlace = new Set();
    log.info("host-gw backend ready", { interface: externalLink, mtu: local.link.mtu });
    return { mtu: local.link.mtu };
  }

  async function reconcile(peers: readonly Peer[], signal: AbortSignal): Promise<ReconcileReport> {
    signal.throwIfAborted();
    const tally = newTally();
    const steps: { removals: Step<"ip">[]; writes: Step<"ip">[]; inPlace: string[] } = { removals: [], writes: [], inPlace: [] };
    for (const routed of prepared("reconcile")) {
      const routes = await listRoutes(kernel.runner, routed.family, { signal });
      const desired = hostGwDesiredState({ family: routed.family, externalLink, ownSubnet: routed.ownSubnet }, peers);
      tally.errors.push(...desired.errors);
      const plan = planEntries(routeEntryKind((route) => isPeerRouteOn(route, externalLink, routed.network)), desired.routes, routes, inPlace);
      steps.removals.push(...plan.removals);
      steps.writes.push(...plan.writes);
      steps.inPlace.push(...plan.inPlace);
    }
    await applySteps(kernel.ip, [...steps.removals, ...steps.writes], tally, signal);
    inPlace = new Set([...steps.inPlace, ...tally.inPlace]);
    return tallyReport(tally);
  }

  return {
    type: "host-gw",
    prepare: (local, signal) => serial.run(() => prepare(local, signal)),
    configure: (own: OwnSubnets, signal: AbortSignal) =>
      serial.run(async () => {
        signal.throwIfAborted();
        // No device to address: the own subnet only keeps it out of the peers' routes.
        for (const routed of prepared("configure")) routed.ownSubnet = routed.family === 4 ? own.subnet : own.subnetV6;
      }),
    reconcile: (peers, signal) => serial.run(() => reconcile(peers, signal)),
    close: () => serial.close(),
  };
}
