// Neighbour (ARP/NDP) entries of a device. vxlan programs one permanent entry per peer on
// flannel.<VNI>: `<peer subnet address> lladdr <peer VtepMAC> nud permanent`, as Flannel does.
// Note: a failing `ip neigh` command ends the whole `ip -batch` process (iproute2 exits(2));
// the batch coprocess isolates `neigh del` lines so an absent entry is just "already gone".
import { formatIp, type IpAddress, type IpFamily } from "../net/ip.ts";
import { batchLine, deviceToken, type IpLine } from "./batch-line.ts";
import { KernelCommandError, type CommandRunner } from "./command-runner.ts";
import { memoParse, parseRecordArray, recordReader, type DumpMemo } from "./json-output.ts";
import { isNoDeviceMessage } from "./kernel-messages.ts";
import { parseMac, type MacAddress } from "./mac.ts";

export interface KernelNeighbour {
  readonly ip: IpAddress;
  /** Undefined for entries without a link-layer address (INCOMPLETE, FAILED). */
  readonly lladdr: MacAddress | undefined;
  /** NUD states as `ip` prints them: "PERMANENT", "REACHABLE", "STALE", … */
  readonly state: readonly string[];
}

export interface NeighbourSpec {
  readonly ip: IpAddress;
  readonly lladdr: MacAddress;
  readonly device: string;
}

/**
 * Neighbours on a device (both families unless one is given); none when the device is absent.
 * Only that device's entries are dumped (`dev NAME`, filtered by the kernel): a caller reading
 * through a read runner refreshes its device names when the device was recreated (read-runner.ts).
 */
export async function listNeighbours(
  runner: CommandRunner,
  device: string,
  options: { readonly family?: IpFamily; readonly signal?: AbortSignal; readonly memo?: DumpMemo<KernelNeighbour> } = {},
): Promise<readonly KernelNeighbour[]> {
  options.signal?.throwIfAborted();
  const family = options.family === undefined ? [] : [`-${options.family}`];
  const argv = ["ip", "-json", ...family, "neigh", "show", "dev", deviceToken(device)];
  const result = await runner(argv, { signal: options.signal });
  if (result.code !== 0) {
    if (isNoDeviceMessage(result.stderr)) return [];
    throw new KernelCommandError(argv, result.code, result.stderr);
  }
  const reader = recordReader(argv);
  return memoParse(options.memo, result.stdout, () => parseRecordArray(argv, result.stdout).map((record) => {
      const ip = reader.optionalIp(record, "dst");
      if (ip === undefined) throw reader.fail(`a neighbour has no "dst"`);
      const text = reader.optionalString(record, "lladdr");
      const lladdr = text === undefined ? undefined : parseMac(text);
      if (text !== undefined && lladdr === undefined) throw reader.fail(`"lladdr" is not a MAC address: ${text}`);
      return { ip, lladdr, state: reader.stringList(record, "state") };
    }));
}

export function isPermanent(neighbour: KernelNeighbour): boolean {
  return neighbour.state.includes("PERMANENT");
}

/** `neigh replace <ip> lladdr <mac> dev <dev> nud permanent` */
export function neighbourReplaceLine(entry: NeighbourSpec): IpLine {
  return batchLine("ip", ["neigh", "replace", formatIp(entry.ip), "lladdr", entry.lladdr, "dev", deviceToken(entry.device), "nud", "permanent"]);
}

/** `neigh del <ip> dev <dev>` — absent → reported as already gone. */
export function neighbourDeleteLine(entry: { readonly ip: IpAddress; readonly device: string }): IpLine {
  return batchLine("ip", ["neigh", "del", formatIp(entry.ip), "dev", deviceToken(entry.device)]);
}
