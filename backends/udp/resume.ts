// A restarted agent's udp data plane, forwarding again from the previous run's snapshot
// (data-plane-snapshot.ts) before the agent has read its config or heard from the datastore. The
// device the previous run left (flannel0 is persistent, with its address and route) is attached
// again and given the table it had; the udp backend then adopts this data plane when its own
// options turn out the same, or closes it and opens its own (udp-backend.ts). A node whose
// backend is no longer udp closes it unused.
//
// Nothing is created here: without the previous run's flannel0 there is nothing to resume, and
// the snapshot may only name flannel0. Every failure (no snapshot, a malformed one, a bind
// address gone, a device busy) leaves the ordinary start to do its work, with one log line.
import { existsSync } from "node:fs";
import type { BackendLog } from "../backend.ts";
import { openDataPlane, type DataPlane } from "./dgram-native.ts";
import { readSnapshot, type DataPlaneSnapshot } from "./data-plane-snapshot.ts";

const reason = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export interface ResumedDataPlane {
  readonly snapshot: DataPlaneSnapshot;
  readonly plane: DataPlane;
}

export function resumeDataPlane(snapshotFile: string, log: BackendLog): ResumedDataPlane | undefined {
  const snapshot = readSnapshot(snapshotFile);
  if (snapshot === undefined) return undefined;
  if ("invalid" in snapshot) {
    log.warn(`the udp data plane's saved table is not used: ${snapshot.invalid}`, { file: snapshotFile });
    return undefined;
  }
  const device = snapshot.options.tunName;
  if (!existsSync(`/sys/class/net/${device}`)) {
    log.info(`the udp data plane's saved table is not used: ${device} is gone`, { file: snapshotFile, device });
    return undefined;
  }
  let plane: DataPlane;
  try {
    plane = openDataPlane({ ...snapshot.options, persist: true });
  } catch (error) {
    log.warn(`the udp data plane's saved table is not used: ${reason(error)}`, { file: snapshotFile, device });
    return undefined;
  }
  try {
    plane.setPeers(snapshot.peers);
  } catch (error) {
    void plane.close();
    log.warn(`the udp data plane's saved table is not used: ${reason(error)}`, { file: snapshotFile, device });
    return undefined;
  }
  log.info("udp data plane resumed with the previous run's table until the datastore answers", { device, peers: snapshot.peers.length, ...plane.features });
  return { snapshot, plane };
}
