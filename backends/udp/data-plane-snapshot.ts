// What the udp data plane was running with — how it was opened and its peer table — kept in a
// file beside subnet.env (named after it), so that a restarted agent can forward again before it has heard from
// the datastore (resume.ts). Here the agent process is the data plane: without this, pods lose
// their traffic from the moment the old process stops until the new one has read the network
// config, acquired its lease, set up its rules and listed the peers (about a second on the lab).
//
// The file is written atomically (a temporary file, then a rename), readable by root alone, at
// most once a second while the table changes (a burst of 5000 leases is one write, not 5000) and
// once more when the backend closes. Reading validates its shape; anything else is refused with
// the reason, and the agent then starts the ordinary way.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { BackendLog } from "../backend.ts";
import type { DataPlaneOptions, PeerEntry } from "./dgram-native.ts";

/** The options a data plane is opened with that a snapshot keeps (offloads stay "auto"). */
export type SnapshotOptions = Required<Pick<DataPlaneOptions, "tunName" | "bindAddress" | "port" | "mtu" | "ownSubnet" | "network" | "queues">>;

export interface DataPlaneSnapshot {
  readonly options: SnapshotOptions;
  readonly peers: readonly PeerEntry[];
}

const version = 1;

/**
 * The snapshot's file, named after the agent's subnet file (/run/flannel/subnet.env.udp-data-plane.json
 * by default): several agents on one node, each with its own subnet file, never read each other's.
 */
export function snapshotFileBeside(subnetFile: string): string {
  return `${subnetFile}.udp-data-plane.json`;
}
/** The only device a snapshot may name: resuming never creates or attaches anything else. */
export const snapshotDevice = "flannel0";
const writeEveryMs = 1000;

export function sameSnapshotOptions(a: SnapshotOptions, b: SnapshotOptions): boolean {
  return (
    a.tunName === b.tunName &&
    a.bindAddress === b.bindAddress &&
    a.port === b.port &&
    a.mtu === b.mtu &&
    a.ownSubnet === b.ownSubnet &&
    a.network === b.network &&
    a.queues === b.queues
  );
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** The snapshot in `text`, or the reason it is not one (addresses are checked when the data plane opens). */
export function parseSnapshot(text: string): DataPlaneSnapshot | { readonly invalid: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { invalid: `not JSON (${(error as Error).message})` };
  }
  if (!isRecord(value) || value.version !== version) return { invalid: `not a version ${version} snapshot` };
  const options = value.dataPlane;
  if (!isRecord(options)) return { invalid: "no dataPlane object" };
  for (const field of ["tunName", "bindAddress", "ownSubnet", "network"] as const) {
    if (typeof options[field] !== "string") return { invalid: `dataPlane.${field} is not a string` };
  }
  for (const field of ["port", "mtu", "queues"] as const) {
    if (!Number.isInteger(options[field])) return { invalid: `dataPlane.${field} is not an integer` };
  }
  if (options.tunName !== snapshotDevice) return { invalid: `dataPlane.tunName is ${JSON.stringify(options.tunName)}, not ${snapshotDevice}` };
  if (!Array.isArray(value.peers)) return { invalid: "peers is not an array" };
  const peers: PeerEntry[] = [];
  for (const [index, peer] of value.peers.entries()) {
    if (!isRecord(peer) || typeof peer.subnet !== "string" || typeof peer.publicIP !== "string") return { invalid: `peers[${index}] is not {subnet, publicIP}` };
    peers.push({ subnet: peer.subnet, publicIP: peer.publicIP });
  }
  return {
    options: {
      tunName: options.tunName as string,
      bindAddress: options.bindAddress as string,
      port: options.port as number,
      mtu: options.mtu as number,
      ownSubnet: options.ownSubnet as string,
      network: options.network as string,
      queues: options.queues as number,
    },
    peers,
  };
}

/** The snapshot at `path`; undefined when there is none, the reason when it cannot be used. */
export function readSnapshot(path: string): DataPlaneSnapshot | { readonly invalid: string } | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    return { invalid: `cannot be read (${(error as Error).message})` };
  }
  return parseSnapshot(text);
}

export interface SnapshotKeeper {
  /** Notes what the data plane runs with now; written within a second unless the same objects were noted last. */
  update(options: SnapshotOptions, peers: readonly PeerEntry[]): void;
  /** Writes what was noted and not yet written, now. */
  flush(): void;
}

export function createSnapshotKeeper(path: string, log: BackendLog): SnapshotKeeper {
  let noted: DataPlaneSnapshot | undefined;
  let written: DataPlaneSnapshot | undefined;
  let timer: NodeJS.Timeout | undefined;
  let warned = false;

  function write(): void {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    const snapshot = noted;
    if (snapshot === undefined || snapshot === written) return;
    const text = `${JSON.stringify({ version, savedAt: new Date().toISOString(), dataPlane: snapshot.options, peers: snapshot.peers })}\n`;
    const temporary = `${path}.${process.pid}.tmp`;
    try {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(temporary, text, { mode: 0o600 });
      renameSync(temporary, path);
      written = snapshot;
      warned = false;
    } catch (error) {
      // Not fatal: the next restart then starts the ordinary way. Said once per failing spell.
      if (!warned) log.warn("could not save the udp data plane's table for the next start", { file: path, error: String(error) });
      warned = true;
    }
  }

  return {
    update(options, peers) {
      if (noted !== undefined && noted.options === options && noted.peers === peers) return;
      noted = { options, peers };
      timer ??= setTimeout(write, writeEveryMs).unref();
    },
    flush: write,
  };
}
