// Turning what etcd holds under <prefix>/subnets/ into Leases. A key or value that does not
// parse is skipped with a warning naming the key: one bad entry (a hand-written key, a value
// from a newer Flannel) must never stop the agent from seeing every other node.
import { isFlannelError } from "../../../backends/errors.ts";
import type { Log } from "../../ops/log.ts";
import { decodeLeaseAttrs } from "../lease-json.ts";
import { decodeSubnetKey } from "../keys.ts";
import type { Lease, LeaseAttrs } from "../manager.ts";
import { parseIp } from "../../../backends/net/ip.ts";
import type { StoredEntry } from "./store-contract.ts";

/** Attributes of a removed lease before the lease set fills in the cached ones. */
export const unknownAttrs: LeaseAttrs = { publicIP: parseIp("0.0.0.0")!, backendType: "" };

/** A lease from a stored key and value; undefined (and a warning) when either does not parse. */
export function leaseFromEntry(entry: StoredEntry, log: Log): Lease | undefined {
  const subnets = decodeSubnetKey(entry.key);
  if (subnets === undefined) {
    log.warn("skipping a key under the subnets prefix that is not a subnet", { key: entry.key });
    return undefined;
  }
  try {
    const attrs = decodeLeaseAttrs(entry.value, entry.key);
    return { ...subnets, attrs, ...(entry.leaseId === 0n ? { reservation: true } : {}) };
  } catch (error) {
    if (!isFlannelError(error, "lease-invalid")) throw error;
    log.warn("skipping a lease whose value does not parse", { key: entry.key, error: error.message });
    return undefined;
  }
}

/** The lease a delete event names: subnets from the key, attributes unknown. */
export function removedLeaseFromKey(key: string, log: Log): Lease | undefined {
  const subnets = decodeSubnetKey(key);
  if (subnets === undefined) {
    log.warn("skipping the removal of a key that is not a subnet", { key });
    return undefined;
  }
  return { ...subnets, attrs: unknownAttrs };
}

export function leasesFromEntries(entries: readonly StoredEntry[], log: Log): Lease[] {
  return entries.flatMap((entry) => leaseFromEntry(entry, log) ?? []);
}
