// The manager contract this folder implements, as agent/subnet/manager.ts declares it: one
// import point, so the kube files do not each reach up a level.
export type { Lease, LeaseAttrs, LeaseEvent, NodeHints, SubnetManager } from "../manager.ts";
