// Forwarding-database entries of a vxlan device, through `bridge`. Flannel programs one per
// peer on flannel.<VNI>: `<peer VtepMAC> dst <peer public IP> self permanent`. `fdb replace`
// rewrites the entry's (first) remote, so applying twice leaves one entry with one destination.
import { formatIp, type IpAddress } from "../net/ip.ts";
import { batchLine, deviceToken, type BridgeLine } from "./batch-line.ts";
import { KernelCommandError, type CommandRunner } from "./command-runner.ts";
import { memoParse, parseRecordArray, recordReader, type DumpMemo } from "./json-output.ts";
import { isNoDeviceMessage } from "./kernel-messages.ts";
import { parseMac, type MacAddress } from "./mac.ts";

export interface FdbEntry {
  readonly mac: MacAddress;
  /** The remote VTEP (vxlan); undefined for entries without one. */
  readonly dst: IpAddress | undefined;
  /** Entry of the device itself (as opposed to one of a bridge it is a port of). */
  readonly self: boolean;
  readonly permanent: boolean;
}

export interface FdbSpec {
  readonly mac: MacAddress;
  readonly device: string;
  readonly dst: IpAddress;
}

/**
 * FDB entries of one device; none when the device is absent. Only that device's entries are
 * dumped (`dev NAME`), for the reason given in neighbour.ts.
 */
export async function listFdb(runner: CommandRunner, device: string, signal?: AbortSignal, memo?: DumpMemo<FdbEntry>): Promise<readonly FdbEntry[]> {
  signal?.throwIfAborted();
  const argv = ["bridge", "-json", "fdb", "show", "dev", deviceToken(device)];
  const result = await runner(argv, { signal });
  if (result.code !== 0) {
    if (isNoDeviceMessage(result.stderr)) return [];
    throw new KernelCommandError(argv, result.code, result.stderr);
  }
  const reader = recordReader(argv);
  return memoParse(memo, result.stdout, () => parseRecordArray(argv, result.stdout).map((record) => {
      const text = reader.string(record, "mac");
      const mac = parseMac(text);
      if (mac === undefined) throw reader.fail(`"mac" is not a MAC address: ${text}`);
      return {
        mac,
        dst: reader.optionalIp(record, "dst"),
        self: reader.stringList(record, "flags").includes("self"),
        permanent: reader.optionalString(record, "state") === "permanent",
      };
    }));
}

/** `fdb replace <mac> dev <dev> dst <ip> self permanent` (for the bridge coprocess). */
export function fdbReplaceLine(entry: FdbSpec): BridgeLine {
  return batchLine("bridge", ["fdb", "replace", entry.mac, "dev", deviceToken(entry.device), "dst", formatIp(entry.dst), "self", "permanent"]);
}

/**
 * `fdb del <mac> dev <dev> [dst <ip>] self`. With `dst`, only that remote goes (as Flannel's
 * NeighDel does); without, the whole entry. Absent → reported as already gone.
 */
export function fdbDeleteLine(entry: { readonly mac: MacAddress; readonly device: string; readonly dst?: IpAddress | undefined }): BridgeLine {
  const dst = entry.dst === undefined ? [] : ["dst", formatIp(entry.dst)];
  return batchLine("bridge", ["fdb", "del", entry.mac, "dev", deviceToken(entry.device), ...dst, "self"]);
}
