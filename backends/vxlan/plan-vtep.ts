// One reconcile run's reading and planning for one VTEP: restore the device if it went, read
// what flannel owns on it (routes, neighbours, FDB entries, addresses), compute the desired
// state and plan the difference into the run's steps. Nothing is written here: the backend
// applies the steps of all families together (vxlan-backend.ts, runPhases).
import type { BackendLog, Peer } from "../backend.ts";
import { FlannelError, isFlannelError } from "../errors.ts";
import { addressDeleteLine, addressReplaceLine, listAddresses } from "../kernel/address.ts";
import { listFdb } from "../kernel/fdb.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { listNeighbours } from "../kernel/neighbour.ts";
import { refreshDeviceNames } from "../kernel/read-runner.ts";
import { listRoutes, type KernelRoute } from "../kernel/route.ts";
import { addressBits, cidrIp } from "../net/ip.ts";
import { fdbSlot, neighbourSlot } from "../reconcile/programmed.ts";
import { samePeers } from "../reconcile/peers.ts";
import { routeEntryKind } from "../reconcile/routes.ts";
import { planEntries, type EntryPlan, type Step, type Tally } from "../reconcile/steps.ts";
import { vxlanDesiredState, type DirectLinkOf } from "./desired.ts";
import { directLinkFromRoutes } from "./direct-routing.ts";
import { fdbEntryKind, isVxlanRoute, neighbourEntryKind, type DeviceFdbEntry, type DeviceNeighbour } from "./entries.ts";
import { restoreVtep, vtepAddressPlan } from "./vtep-device.ts";
import { pushAll, resyncKinds, type EntryKindName, type RunSteps, type Vtep } from "./vtep-state.ts";

export interface PlanContext {
  readonly kernel: Kernel;
  readonly log: BackendLog;
  readonly externalLink: string;
  readonly directRouting: boolean;
  /** DirectRouting's reachability test; by default answered from the routes just read. */
  readonly directLinkOf: DirectLinkOf | undefined;
  /** Keys of desired entries seen in place after the last run, per kind: a missing one is "repaired". */
  readonly inPlaceOf: (kind: EntryKindName) => ReadonlySet<string>;
}

function asFlannelError(error: unknown, device: string): FlannelError {
  if (isFlannelError(error)) return error;
  return new FlannelError("kernel-command-failed", `vxlan device ${device}: ${String(error)}`, { cause: error, details: { device } });
}

/** The VTEP's address lines: its own /32 (/128) added when missing, any other address removed. */
export async function addressSteps(kernel: Kernel, vtep: Vtep, signal: AbortSignal): Promise<Step<"ip">[]> {
  if (vtep.ownSubnet === undefined) return [];
  const own = cidrIp(vtep.ownSubnet);
  const plan = vtepAddressPlan(await listAddresses(kernel.runner, vtep.spec.name, signal), own);
  const prefixLength = addressBits[vtep.family];
  return [
    ...plan.remove.map((address): Step<"ip"> => ({ line: addressDeleteLine({ ...address, device: vtep.spec.name }), effect: "removed" })),
    ...(plan.addOwn ? [{ line: addressReplaceLine({ ip: own, prefixLength, device: vtep.spec.name }), effect: "repaired" as const }] : []),
  ];
}

/** Routes flannel may own: on the VTEP and on the external link (all of the table for DirectRouting), as the dumps read. */
async function ownRoutes(context: PlanContext, vtep: Vtep, signal: AbortSignal): Promise<(readonly KernelRoute[])[]> {
  const { kernel } = context;
  const memos = vtep.memos;
  if (context.directRouting) return [await listRoutes(kernel.runner, vtep.family, { signal, memo: memos.routes })];
  return Promise.all([
    listRoutes(kernel.runner, vtep.family, { device: vtep.spec.name, signal, memo: memos.routes }),
    listRoutes(kernel.runner, vtep.family, { device: context.externalLink, signal, memo: memos.linkRoutes }),
  ]);
}

/**
 * Plans one kind of entry unless its inputs (the dumps as parsed and the desired state) are the
 * very objects of the last plan of that kind, which found nothing to do: same dump text, same
 * peers, so the same empty plan. This is what keeps an idle resync cheap.
 */
function planKind<T extends "ip" | "bridge">(vtep: Vtep, kind: EntryKindName, inputs: readonly unknown[], plan: () => EntryPlan<T>, run: RunSteps): EntryPlan<T> | undefined {
  const last = vtep.clean.get(kind);
  if (last !== undefined && last.inputs.length === inputs.length && last.inputs.every((input, i) => input === inputs[i])) {
    pushAll(run.inPlace, kind, last.inPlace);
    return undefined;
  }
  const planned = plan();
  if (planned.removals.length === 0 && planned.writes.length === 0) vtep.clean.set(kind, { inputs, inPlace: planned.inPlace });
  else vtep.clean.delete(kind);
  pushAll(run.inPlace, kind, planned.inPlace);
  return planned;
}

/**
 * Reads one family's kernel state (the kinds in `kinds`) and plans its steps into `run`; true
 * when the device was replaced, so that every kind was checked.
 */
export async function planVtep(
  context: PlanContext,
  vtep: Vtep,
  peers: readonly Peer[],
  kinds: ReadonlySet<EntryKindName>,
  tally: Tally,
  run: RunSteps,
  signal: AbortSignal,
): Promise<boolean> {
  const { kernel, log, externalLink, directRouting, inPlaceOf } = context;
  const device = vtep.spec.name;
  let replaced: boolean;
  try {
    const restored = await restoreVtep(kernel, vtep.spec, vtep.mac, log, signal);
    if (restored.repaired) tally.repaired += 1;
    // A recreated device, or one set up again (its routes went when it went down): check everything.
    replaced = restored.repaired || restored.index !== vtep.index;
    // A new device under the same name: the long-lived readers' and writers' name caches
    // still point at the old one (createVtep recycles the writers itself, not so a device
    // someone else recreated).
    if (restored.index !== vtep.index) await Promise.all([refreshDeviceNames(kernel.runner), kernel.recycleWriters()]);
    else if (replaced) await refreshDeviceNames(kernel.runner);
    vtep.index = restored.index;
  } catch (error) {
    // Without its device a family has nothing to program; the next run tries again.
    tally.errors.push(asFlannelError(error, device));
    return false;
  }
  if (replaced) {
    kinds = new Set(resyncKinds);
    vtep.clean.clear();
  }
  const [routeDumps, neighbours, fdb, addresses] = await Promise.all([
    kinds.has("route") ? ownRoutes(context, vtep, signal) : [],
    kinds.has("neigh") ? listNeighbours(kernel.runner, device, { family: vtep.family, signal, memo: vtep.memos.neighbours }) : [],
    kinds.has("fdb") ? listFdb(kernel.runner, device, signal, vtep.memos.fdb) : [],
    addressSteps(kernel, vtep, signal),
  ]);
  const routes = routeDumps.length === 1 ? routeDumps[0]! : routeDumps.flat();
  // The same peers as last time (the agent hands the same Peer objects while leases stand):
  // the desired state is the same too, unless DirectRouting makes it depend on the routes.
  const cached = vtep.desired;
  const desired =
    !directRouting && cached !== undefined && cached.ownSubnet === vtep.ownSubnet && samePeers(cached.peers, peers)
      ? cached.state
      : vxlanDesiredState({ family: vtep.family, device, ownSubnet: vtep.ownSubnet, directRouting }, peers, context.directLinkOf ?? directLinkFromRoutes(routes));
  vtep.desired = { peers, ownSubnet: vtep.ownSubnet, state: desired };
  tally.errors.push(...desired.errors);
  run.ipFirst.push(...addresses);
  if (kinds.has("route")) {
    const owned = (route: KernelRoute): boolean => isVxlanRoute(route, device, externalLink, vtep.network);
    const plan = planKind(vtep, "route", [...routeDumps, desired], () => planEntries(routeEntryKind(owned), desired.routes, routes, inPlaceOf("route")), run);
    run.ipFirst.push(...(plan?.removals ?? []));
    run.ipLast.push(...(plan?.writes ?? []));
  }
  if (kinds.has("neigh")) {
    const actual = (): DeviceNeighbour[] => neighbours.map((entry) => ({ ...entry, device }));
    const plan = planKind(vtep, "neigh", [neighbours, desired], () => planEntries(neighbourEntryKind(vtep.network), desired.neighbours, actual(), inPlaceOf("neigh")), run);
    run.ipFirst.push(...(plan?.removals ?? []), ...(plan?.writes ?? []));
  }
  if (kinds.has("fdb")) {
    const actual = (): DeviceFdbEntry[] => fdb.map((entry) => ({ ...entry, device }));
    const plan = planKind(vtep, "fdb", [fdb, desired], () => planEntries(fdbEntryKind, desired.fdb, actual(), inPlaceOf("fdb")), run);
    run.bridge.push(...(plan?.removals ?? []), ...(plan?.writes ?? []));
  }
  if (kinds.size === resyncKinds.length && vtep.programmedFrom !== desired) {
    // What apply() starts from: the desired state of the whole peer set.
    vtep.programmedFrom = desired;
    const neighbourOf = new Map(desired.neighbours.map((entry) => [entry.peer, entry]));
    const fdbOf = new Map(desired.fdb.map((entry) => [entry.peer, entry]));
    vtep.programmed.resetFrom(desired.routes, (label) => {
      const neighbour = neighbourOf.get(label);
      const fdbEntry = fdbOf.get(label);
      return { ...(neighbour === undefined ? {} : { neighbour: neighbourSlot(neighbour) }), ...(fdbEntry === undefined ? {} : { fdb: fdbSlot(fdbEntry) }) };
    });
  }
  return replaced;
}
