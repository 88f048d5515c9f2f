// Node watch events → lease events, with Flannel's filters (F:pkg/subnet/kube/kube.go
// handleAddLeaseEvent / handleUpdateLeaseEvent): nodes without kube-subnet-manager "true" are
// ignored, an update counts only when the node's published lease attributes change (kubelet
// heartbeats change nothing flannel reads), a delete removes. Keeps one small entry per
// flannel node — its lease and the annotation values the update rule compares — never whole
// Node objects. Pure: no I/O.
import { isFlannelError } from "../../../backends/errors.ts";
import type { Log } from "../../ops/log.ts";
import type { KubeAnnotations } from "./annotations.ts";
import type { Lease, LeaseEvent } from "./manager-contract.ts";
import { isManaged, nodeToLease, type EnabledFamilies, type NodeFacts } from "./node-lease.ts";

export type NodeChange = "ADDED" | "MODIFIED" | "DELETED";

export interface NodeTracker {
  /** A fresh list: the whole set, as a snapshot event. */
  reset(nodes: readonly NodeFacts[]): LeaseEvent;
  /** One watch event; undefined when it changes no lease. */
  apply(change: NodeChange, node: NodeFacts): LeaseEvent | undefined;
  /** Flannel nodes known now. */
  readonly size: number;
}

interface Entry {
  readonly lease: Lease;
  /** backend-type, backend-data and public-ip per enabled family, joined: what the update rule compares. */
  readonly published: string;
}

export function createNodeTracker(names: KubeAnnotations, families: EnabledFamilies, log: Log): NodeTracker {
  let known = new Map<string, Entry>();
  // Nodes whose lease did not read, by what they published: a broken node is reported once, not
  // on each of its kubelet's heartbeats (every 10 s).
  let broken = new Map<string, string>();

  /**
   * Flannel compares the trio per family and, in dual-stack, reports nothing when either trio is
   * unchanged (so a v4-only change is lost). We report when any enabled family's trio changed.
   */
  const published = (node: NodeFacts): string => {
    const a = node.annotations;
    const parts = [a[names.backendType] ?? ""];
    for (const family of [4, 6] as const) {
      if (!(family === 4 ? families.ipv4 : families.ipv6)) continue;
      parts.push(a[names.backendData[family]] ?? "", a[names.publicIP[family]] ?? "");
    }
    return JSON.stringify(parts);
  };

  const entryOf = (node: NodeFacts): Entry | undefined => {
    const signature = published(node);
    try {
      const entry = { lease: nodeToLease(names, node, families), published: signature };
      broken.delete(node.name);
      return entry;
    } catch (error) {
      if (!isFlannelError(error, "kube-node-invalid")) throw error;
      const again = broken.get(node.name) === signature;
      (again ? log.debug : log.warn)("skipping a node whose lease cannot be read", { node: node.name, error: error.message });
      broken.set(node.name, signature);
      return undefined;
    }
  };

  return {
    reset(nodes) {
      const next = new Map<string, Entry>();
      const stillThere = new Set(nodes.map((node) => node.name));
      broken = new Map([...broken].filter(([name]) => stillThere.has(name)));
      for (const node of nodes) {
        if (!isManaged(names, node)) continue;
        const entry = entryOf(node);
        if (entry !== undefined) next.set(node.name, entry);
      }
      known = next;
      return { kind: "snapshot", leases: [...next.values()].map((entry) => entry.lease) };
    },

    apply(change, node) {
      if (!isManaged(names, node)) return undefined; // Flannel: not ours, whatever happened
      const before = known.get(node.name);
      if (change === "DELETED") {
        known.delete(node.name);
        broken.delete(node.name);
        const lease = before?.lease ?? entryOf(node)?.lease;
        return lease === undefined ? undefined : { kind: "removed", lease };
      }
      if (change === "MODIFIED" && before !== undefined && before.published === published(node)) return undefined;
      // A node whose new state does not parse keeps its last good lease, so its deletion still removes it.
      const entry = entryOf(node);
      if (entry === undefined) return undefined;
      known.set(node.name, entry);
      return { kind: "added", lease: entry.lease };
    },

    get size() {
      return known.size;
    },
  };
}
