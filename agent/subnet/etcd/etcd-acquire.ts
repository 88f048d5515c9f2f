// Acquiring this node's lease in etcd, as Flannel does (F:pkg/subnet/etcd/local_manager.go
// tryAcquireLease), with two deliberate improvements:
//   - a lost create race is retried with a new candidate (Flannel means to, but treats the
//     "subnet already exists" outcome as fatal and exits);
//   - a reservation (a key with no etcd lease) is reused as it is and never given a TTL, which
//     Flannel documents but does not do (flannel-io/flannel#1329).
//
// Order of preference: the lease already advertising our PublicIP, then the subnet of the
// previous subnet.env, then a free subnet chosen at random among the first 100 free.
import { FlannelError } from "../../../backends/errors.ts";
import { cidrContainsIp, cidrIp, formatCidr, sameIp, type Cidr } from "../../../backends/net/ip.ts";
import type { CheckedFamilyNetConf, CheckedNetConf } from "../../config/net-conf.ts";
import type { PreviousSubnetEnv } from "../../config/subnet-env.ts";
import type { Log } from "../../ops/log.ts";
import { chooseFreeSubnet, isSubnetCompatible, outOfSubnetsError } from "../allocate.ts";
import { subnetKey, subnetsPrefix } from "../keys.ts";
import { encodeLeaseAttrs } from "../lease-json.ts";
import type { Lease, LeaseAttrs } from "../manager.ts";
import { leaseFromEntry } from "./etcd-leases.ts";
import type { EtcdStore } from "./store-contract.ts";

/** Flannel's raceRetries. */
export const maxAcquireAttempts = 10;

export interface AcquireContext {
  readonly store: EtcdStore;
  readonly prefix: string;
  readonly leaseTtlSeconds: number;
  readonly previous: PreviousSubnetEnv;
  readonly random: () => number;
  readonly log: Log;
}

type Subnets = Pick<Lease, "subnet" | "subnetV6">;

function familyFits(range: CheckedFamilyNetConf, subnet: Cidr | undefined): boolean {
  if (!range.enabled) return subnet === undefined;
  return subnet !== undefined && isSubnetCompatible(subnet, range);
}

/** Flannel's isSubnetConfigCompat: every enabled family fits its range, a disabled one is absent. */
export function fitsConfig(conf: CheckedNetConf, lease: Subnets): boolean {
  return familyFits(conf.ipv4, lease.subnet) && familyFits(conf.ipv6, lease.subnetV6);
}

function overlaps(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && (cidrContainsIp(a, cidrIp(b)) || cidrContainsIp(b, cidrIp(a)));
}

function taken(leases: readonly Lease[], subnet: Cidr | undefined, family: "subnet" | "subnetV6"): boolean {
  return subnet !== undefined && leases.some((lease) => lease[family] !== undefined && overlaps(lease[family], subnet));
}

function describe(subnets: Subnets): string {
  return [subnets.subnet, subnets.subnetV6].flatMap((cidr) => (cidr === undefined ? [] : [formatCidr(cidr)])).join(" & ");
}

/** A lease value for a subnet this node holds: now + the etcd lease's TTL, or none for a reservation. */
function heldLease(subnets: Subnets, attrs: LeaseAttrs, ttlSeconds: number | undefined): Lease {
  return ttlSeconds === undefined
    ? { ...subnets, attrs, reservation: true }
    : { ...subnets, attrs, expiresAt: new Date(Date.now() + ttlSeconds * 1000) };
}

function newSubnets(context: AcquireContext, conf: CheckedNetConf, leases: readonly Lease[]): Subnets {
  const hint: Subnets = {
    ...(context.previous.subnet === undefined ? {} : { subnet: context.previous.subnet }),
    ...(context.previous.ipv6Subnet === undefined ? {} : { subnetV6: context.previous.ipv6Subnet }),
  };
  if (hint.subnet !== undefined && fitsConfig(conf, hint) && !taken(leases, hint.subnet, "subnet") && !taken(leases, hint.subnetV6, "subnetV6")) {
    context.log.info("reusing the subnet of the previous subnet.env", { subnet: describe(hint) });
    return hint;
  }
  if (hint.subnet !== undefined) context.log.info("previous subnet is taken or does not fit the config; allocating", { subnet: describe(hint) });
  const pick = (range: CheckedFamilyNetConf, family: "subnet" | "subnetV6"): Cidr | undefined => {
    if (!range.enabled) return undefined;
    const used = leases.flatMap((lease) => (lease[family] === undefined ? [] : [lease[family]]));
    const chosen = chooseFreeSubnet(range, used, context.random);
    if (chosen === undefined) throw outOfSubnetsError(range);
    return chosen;
  };
  const subnet = pick(conf.ipv4, "subnet");
  const subnetV6 = pick(conf.ipv6, "subnetV6");
  return { ...(subnet === undefined ? {} : { subnet }), ...(subnetV6 === undefined ? {} : { subnetV6 }) };
}

/** Puts an existing lease again with fresh attributes: a new TTL, or none for a reservation. */
export async function rewriteLease(context: AcquireContext, lease: Subnets, attrs: LeaseAttrs, reservation: boolean, signal: AbortSignal): Promise<Lease> {
  const key = subnetKey(context.prefix, lease);
  if (reservation) {
    await context.store.put(key, encodeLeaseAttrs(attrs), 0n, signal);
    return heldLease(lease, attrs, undefined);
  }
  const previous = await context.store.get(key, signal);
  const leaseId = await context.store.grantLease(context.leaseTtlSeconds, signal);
  try {
    await context.store.put(key, encodeLeaseAttrs(attrs), leaseId, signal);
  } catch (error) {
    await context.store.revokeLease(leaseId, signal).catch(() => undefined);
    throw error;
  }
  // The old etcd lease now holds no key; revoke it rather than leave it to expire.
  const oldLeaseId = previous.entry?.leaseId ?? 0n;
  if (oldLeaseId !== 0n && oldLeaseId !== leaseId) await context.store.revokeLease(oldLeaseId, signal).catch(() => undefined);
  const ttl = await context.store.leaseTimeToLive(leaseId, signal);
  return heldLease(lease, attrs, ttl ?? context.leaseTtlSeconds);
}

export async function acquireLease(context: AcquireContext, conf: CheckedNetConf, attrs: LeaseAttrs, signal: AbortSignal): Promise<Lease> {
  if (!conf.ipv4.enabled) {
    throw new FlannelError("netconf-invalid", "etcd mode needs EnableIPv4: Flannel's etcd lease keys always start with an IPv4 subnet", {
      details: { field: "EnableIPv4", value: false },
    });
  }
  for (let attempt = 1; attempt <= maxAcquireAttempts; attempt++) {
    const { entries } = await context.store.list(subnetsPrefix(context.prefix), signal);
    const stored = entries.flatMap((entry) => {
      const lease = leaseFromEntry(entry, context.log);
      return lease === undefined ? [] : [{ lease, entry }];
    });
    let leases = stored.map(({ lease }) => lease);

    const mine = stored.find(({ lease }) => sameIp(lease.attrs.publicIP, attrs.publicIP));
    if (mine !== undefined) {
      if (fitsConfig(conf, mine.lease)) {
        const reservation = mine.entry.leaseId === 0n;
        const lease = await rewriteLease(context, mine.lease, attrs, reservation, signal);
        context.log.info(reservation ? "reusing the reservation for this node's public IP" : "reusing the lease of this node's public IP", {
          subnet: describe(lease),
        });
        return lease;
      }
      context.log.info("deleting this node's old lease: it does not fit the current config", { subnet: describe(mine.lease), key: mine.entry.key });
      await context.store.delete(mine.entry.key, signal);
      leases = leases.filter((lease) => lease !== mine.lease);
    }

    const subnets = newSubnets(context, conf, leases);
    const key = subnetKey(context.prefix, subnets);
    const leaseId = await context.store.grantLease(context.leaseTtlSeconds, signal);
    let created = false;
    try {
      created = await context.store.createIfAbsent(key, encodeLeaseAttrs(attrs), leaseId, signal);
    } finally {
      if (!created) await context.store.revokeLease(leaseId, signal).catch(() => undefined);
    }
    if (created) {
      const ttl = await context.store.leaseTimeToLive(leaseId, signal);
      context.log.info("acquired a new lease", { subnet: describe(subnets), attempt });
      return heldLease(subnets, attrs, ttl ?? context.leaseTtlSeconds);
    }
    context.log.info("another node took the subnet first; choosing again", { subnet: describe(subnets), attempt });
  }
  throw new FlannelError("lease-conflict", `failed to acquire a lease: lost the create race ${maxAcquireAttempts} times in a row`, {
    details: { attempts: maxAcquireAttempts },
  });
}
