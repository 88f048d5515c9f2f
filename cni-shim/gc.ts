// GC (spec 1.1.0): the runtime lists this network's attachments that are still valid in
// `cni.dev/valid-attachments`; every saved delegate config of this network whose container is not
// in that list belongs to an attachment the runtime has forgotten, and is removed. Saved configs
// are keyed by container ID alone (Flannel's layout), so any valid attachment of a container
// keeps its file, whatever its ifname. Flannel has no GC (the skel answers success and does
// nothing).
//
// Only our own state is collected: the delegate's resources (host-local's address reservation)
// would need the delegate's own GC, which the bridge plugin distributions ship (1.1.1) does not
// implement — it stops at spec 1.0.0.
import type { FlannelNetConf } from "./conf.ts";
import { CniError, cniErrorCodes, messageOf } from "./errors.ts";
import { goField, isJsonObject } from "./go-json.ts";
import { listSavedContainerIds, readSavedConf, removeSavedConf, savedConfPath } from "./saved-conf.ts";

const attachmentsKey = "cni.dev/valid-attachments";

function validContainerIds(conf: FlannelNetConf): Set<string> {
  const attachments = goField(conf.raw, attachmentsKey);
  // Refuse rather than read "no list" as "nothing is valid": that would delete every saved
  // config on the node, and with them every later DEL's ability to release an address.
  if (!Array.isArray(attachments)) {
    throw new CniError(cniErrorCodes.invalidNetworkConfig, `GC needs '${attachmentsKey}' as a list of {containerID, ifname}`);
  }
  const ids = new Set<string>();
  for (const attachment of attachments) {
    const id = isJsonObject(attachment) ? goField(attachment, "containerID") : undefined;
    if (typeof id !== "string") throw new CniError(cniErrorCodes.invalidNetworkConfig, `'${attachmentsKey}' entry without a string containerID: ${JSON.stringify(attachment)}`);
    ids.add(id);
  }
  return ids;
}

/**
 * Whether a saved config belongs to this network. dataDir defaults to one directory for every
 * flannel network on the node, and the runtime lists only this network's attachments: another
 * network's configs must survive this network's GC. The delegate config carries the network name.
 */
function isThisNetwork(path: string, name: string): boolean {
  let saved: unknown;
  try {
    saved = JSON.parse(readSavedConf(path) ?? "null");
  } catch {
    return false; // unparsable: left for an operator, as DEL leaves it
  }
  return isJsonObject(saved) && goField(saved, "name") === name;
}

/** Removes the stale saved configs; tries them all and reports every failure at the end. */
export function collectGarbage(conf: FlannelNetConf): void {
  const valid = validContainerIds(conf);
  const failures: string[] = [];
  for (const id of listSavedContainerIds(conf.dataDir)) {
    if (valid.has(id)) continue;
    const path = savedConfPath(conf.dataDir, id);
    try {
      if (isThisNetwork(path, conf.name)) removeSavedConf(path);
    } catch (error) {
      failures.push(messageOf(error));
    }
  }
  if (failures.length > 0) throw new CniError(cniErrorCodes.ioFailure, `GC could not remove every stale saved delegate config`, { details: failures.join("; ") });
}
