// The behaviour every SubnetManager owes the daemon, written once and run against each
// implementation (etcd, kube): acquire gives a lease inside the network, the watch starts with a
// snapshot that holds the peers already there, and peers coming and going show as events.
// Each implementation's test file supplies a factory that builds a manager for one node plus a
// way to make peers appear and disappear in its datastore.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatCidr, parseIp, type Cidr } from "../../../backends/net/ip.ts";
import type { Lease, LeaseAttrs, LeaseEvent, SubnetManager } from "../../../agent/subnet/manager.ts";

export interface ManagerFixture {
  /** The manager of the node under test. */
  readonly manager: SubnetManager;
  /** The IPv4 Network of net-conf.json. */
  readonly network: Cidr;
  /** Makes peer number `index` (1…) hold a lease, written as Flannel would; returns its subnet. */
  addPeer(index: number, signal: AbortSignal): Promise<Cidr>;
  /** Removes peer `index`'s lease (etcd: delete the key; kube: delete the node). */
  removePeer(index: number, signal: AbortSignal): Promise<void>;
  /** Closes the manager and removes everything the fixture made. */
  close(): Promise<void>;
}

export type ManagerFactory = () => Promise<ManagerFixture>;

export const behaviourAttrs: LeaseAttrs = {
  publicIP: parseIp("192.0.2.200")!,
  backendType: "vxlan",
  backendData: { VNI: 1, VtepMAC: "02:00:00:00:00:c8" },
};

function contains(network: Cidr, subnet: Cidr): boolean {
  const hostBits = BigInt((network.family === 4 ? 32 : 128) - network.prefix);
  return network.family === subnet.family && network.prefix <= subnet.prefix && subnet.address >> hostBits === network.address >> hostBits;
}

const sameCidr = (a: Cidr | undefined, b: Cidr): boolean => a !== undefined && formatCidr(a) === formatCidr(b);

/**
 * Reads batches until `done` holds for the events seen so far, or fails after `timeoutMs`.
 * The iterator is left open for further reads.
 */
export async function readEventsUntil(
  iterator: AsyncIterator<readonly LeaseEvent[]>,
  done: (events: readonly LeaseEvent[]) => boolean,
  timeoutMs = 10_000,
): Promise<LeaseEvent[]> {
  const seen: LeaseEvent[] = [];
  const deadline = Date.now() + timeoutMs;
  while (!done(seen)) {
    const left = deadline - Date.now();
    if (left <= 0) assert.fail(`the expected lease events did not come within ${timeoutMs} ms; saw ${JSON.stringify(seen.map(describeLeaseEvent))}`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), left)));
    const next = await Promise.race([iterator.next(), timeout]).finally(() => clearTimeout(timer));
    if (next === "timeout") continue;
    if (next.done === true) assert.fail("the lease watch ended");
    seen.push(...next.value);
  }
  return seen;
}

export function describeLeaseEvent(event: LeaseEvent): string {
  const subnets = (lease: Lease) => [lease.subnet, lease.subnetV6].flatMap((c) => (c === undefined ? [] : [formatCidr(c)])).join("&");
  return event.kind === "snapshot" ? `snapshot[${event.leases.map(subnets).join(",")}]` : `${event.kind} ${subnets(event.lease)}`;
}

export async function acquireGivesALeaseInTheNetwork(factory: ManagerFactory): Promise<void> {
  const fixture = await factory();
  try {
    const signal = AbortSignal.timeout(30_000);
    const lease = await fixture.manager.acquire(behaviourAttrs, signal);
    assert.ok(lease.subnet !== undefined, "the lease has an IPv4 subnet");
    assert.ok(contains(fixture.network, lease.subnet), `${formatCidr(lease.subnet)} lies inside ${formatCidr(fixture.network)}`);
    assert.ok(lease.expiresAt === undefined || lease.expiresAt.getTime() > Date.now(), "the lease has not expired");
  } finally {
    await fixture.close();
  }
}

/**
 * The first batch starts with a snapshot, and the snapshot with the events that follow it holds
 * the peers already there. (The kube manager's first snapshot is the node list made when it
 * started — Flannel's cache sync — and the changes since come right after it.)
 */
export async function watchStartsWithASnapshotOfThePeers(factory: ManagerFactory): Promise<void> {
  const fixture = await factory();
  const controller = new AbortController();
  try {
    const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(30_000)]);
    await fixture.manager.acquire(behaviourAttrs, signal);
    const peers = [await fixture.addPeer(1, signal), await fixture.addPeer(2, signal)];
    const iterator = fixture.manager.watchLeases(controller.signal)[Symbol.asyncIterator]();
    const first = await iterator.next();
    assert.equal(first.done, false);
    const batch = first.value as readonly LeaseEvent[];
    assert.equal(batch[0]?.kind, "snapshot", "the first event is a snapshot");
    const known = new Map<string, Lease>();
    const apply = (events: readonly LeaseEvent[]) => {
      for (const event of events) {
        if (event.kind === "snapshot") {
          known.clear();
          for (const lease of event.leases) if (lease.subnet !== undefined) known.set(formatCidr(lease.subnet), lease);
        } else if (event.lease.subnet !== undefined) {
          if (event.kind === "added") known.set(formatCidr(event.lease.subnet), event.lease);
          else known.delete(formatCidr(event.lease.subnet));
        }
      }
    };
    apply(batch);
    const holdsPeers = () => peers.every((peer) => known.has(formatCidr(peer)));
    let applied = 0;
    await readEventsUntil(iterator, (events) => {
      apply(events.slice(applied));
      applied = events.length;
      return holdsPeers();
    });
    for (const peer of peers) assert.ok(known.has(formatCidr(peer)), `the watch holds ${formatCidr(peer)}`);
  } finally {
    controller.abort();
    await fixture.close();
  }
}

export async function peersComingAndGoingAreEvents(factory: ManagerFactory): Promise<void> {
  const fixture = await factory();
  const controller = new AbortController();
  try {
    const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(30_000)]);
    await fixture.manager.acquire(behaviourAttrs, signal);
    const iterator = fixture.manager.watchLeases(controller.signal)[Symbol.asyncIterator]();
    await readEventsUntil(iterator, (events) => events.some((e) => e.kind === "snapshot"));
    const peer = await fixture.addPeer(3, signal);
    await readEventsUntil(iterator, (events) => events.some((e) => e.kind === "added" && sameCidr(e.lease.subnet, peer)));
    await fixture.removePeer(3, signal);
    await readEventsUntil(iterator, (events) => events.some((e) => e.kind === "removed" && sameCidr(e.lease.subnet, peer)));
  } finally {
    controller.abort();
    await fixture.close();
  }
}

/** Registers the whole suite under the current describe() for one implementation. */
export function defineManagerBehaviour(name: string, factory: ManagerFactory): void {
  test(`${name}: acquire gives a lease inside the network`, () => acquireGivesALeaseInTheNetwork(factory));
  test(`${name}: the watch starts with a snapshot holding the peers already there`, () => watchStartsWithASnapshotOfThePeers(factory));
  test(`${name}: a peer added and then removed shows as an added and a removed event`, () => peersComingAndGoingAreEvents(factory));
}
