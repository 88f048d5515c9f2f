// What the agent says about peers coming and going. Like Flannel ("Subnet added: …"), one line per
// peer — while a batch is small. A burst (a node restarting into a 5000-node cluster, a re-list)
// gets one line per batch instead, with the counts and the first few subnets: 5000 log lines cost
// the agent about a tenth of its CPU for the burst and tell the operator nothing the counts don't.
import { formatCidr, formatIp } from "../../backends/net/ip.ts";
import type { LeaseChange } from "../subnet/lease-set.ts";
import type { Log } from "./log.ts";

/** Batches up to this size are logged peer by peer. */
export const perPeerLogLimit = 10;
const namedInSummary = 5;

const subnetOf = (change: LeaseChange): string => (change.lease.subnet === undefined ? "" : formatCidr(change.lease.subnet));

export function logPeerChanges(log: Log, changes: readonly LeaseChange[]): void {
  if (changes.length <= perPeerLogLimit) {
    for (const change of changes) {
      log.info(change.kind === "added" ? "peer added" : "peer removed", { peer: subnetOf(change), publicIP: formatIp(change.lease.attrs.publicIP) });
    }
    return;
  }
  const added = changes.filter((change) => change.kind === "added");
  const removed = changes.filter((change) => change.kind === "removed");
  log.info("peers changed", {
    added: added.length,
    removed: removed.length,
    ...(added.length === 0 ? {} : { firstAdded: added.slice(0, namedInSummary).map(subnetOf) }),
    ...(removed.length === 0 ? {} : { firstRemoved: removed.slice(0, namedInSummary).map(subnetOf) }),
  });
}
