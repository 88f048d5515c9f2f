// What the vxlan backend remembers per VTEP between runs, and the shape of one reconcile run's
// steps: shared by preparation (prepare-vteps.ts), planning (plan-vtep.ts) and the backend.
import type { Peer } from "../backend.ts";
import type { FdbEntry } from "../kernel/fdb.ts";
import type { DumpMemo } from "../kernel/json-output.ts";
import type { MacAddress } from "../kernel/mac.ts";
import type { KernelNeighbour } from "../kernel/neighbour.ts";
import type { KernelRoute } from "../kernel/route.ts";
import type { Cidr, IpFamily } from "../net/ip.ts";
import type { ChangeSteps, ProgrammedPeers } from "../reconcile/programmed.ts";
import type { VxlanDesiredState } from "./desired.ts";
import type { VtepSpec } from "./vtep-device.ts";

/** The kinds of entry a reconcile checks (every run checks all: a drifted entry is back within one resync). */
export const resyncKinds = ["route", "neigh", "fdb"] as const;
export type EntryKindName = (typeof resyncKinds)[number];

/** One address family's VTEP, as prepared. */
export interface Vtep {
  readonly family: IpFamily;
  readonly spec: VtepSpec;
  readonly mac: MacAddress;
  readonly network: Cidr | undefined;
  ownSubnet: Cidr | undefined;
  /** The device's interface index when last seen: another one means a new device. */
  index: number;
  /** What each peer was given (reset by every full reconcile, updated by apply). */
  readonly programmed: ProgrammedPeers;
  /** The desired state `programmed` was last reset from, while no apply() changed it since. */
  programmedFrom?: VxlanDesiredState | undefined;
  /** The last answer of each dump (see DumpMemo). */
  readonly memos: { readonly routes: DumpMemo<KernelRoute>; readonly linkRoutes: DumpMemo<KernelRoute>; readonly neighbours: DumpMemo<KernelNeighbour>; readonly fdb: DumpMemo<FdbEntry> };
  /** Per kind, the inputs of its last plan that found nothing to do, and the keys it saw in place. */
  readonly clean: Map<EntryKindName, { readonly inputs: readonly unknown[]; readonly inPlace: readonly string[] }>;
  /** The last reconcile's desired state and what it was computed from. */
  desired?: { readonly peers: readonly Peer[]; readonly ownSubnet: Cidr | undefined; readonly state: VxlanDesiredState };
}

/** The steps of one reconcile run, in the order they are applied (the backend's runPhases). */
export interface RunSteps extends ChangeSteps {
  /** Per kind checked, the keys of desired entries found in place. */
  readonly inPlace: Map<EntryKindName, string[]>;
}

export function kindOfKey(key: string): EntryKindName {
  return key.slice(0, key.indexOf(":")) as EntryKindName;
}

export function pushAll(into: Map<EntryKindName, string[]>, kind: EntryKindName, keys: readonly string[]): void {
  const list = into.get(kind);
  if (list === undefined) into.set(kind, [...keys]);
  else for (const key of keys) list.push(key);
}
