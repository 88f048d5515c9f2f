// Addresses on one link: vxlan puts `<lease subnet address>/32` (IPv6: /128) on flannel.<VNI>
// and removes any other address of the network. Reading reuses the link query (one parser for
// `ip -json address`); writing is `address replace`, so applying twice changes nothing.
import { formatIp, type IpAddress } from "../net/ip.ts";
import { batchLine, deviceToken, type IpLine } from "./batch-line.ts";
import type { CommandRunner } from "./command-runner.ts";
import { createLinkQuery, type LinkAddress } from "./link-query.ts";

/** The addresses on `device` in the kernel's order; none when the device is absent. */
export async function listAddresses(runner: CommandRunner, device: string, signal?: AbortSignal): Promise<readonly LinkAddress[]> {
  signal?.throwIfAborted();
  const links = await createLinkQuery(runner).listLinks(signal);
  return links.find((link) => link.name === device)?.addresses ?? [];
}

export interface AddressSpec {
  readonly ip: IpAddress;
  readonly prefixLength: number;
  readonly device: string;
}

/** `address replace <ip>/<prefix> dev <dev>` */
export function addressReplaceLine(address: AddressSpec): IpLine {
  return batchLine("ip", ["address", "replace", `${formatIp(address.ip)}/${address.prefixLength}`, "dev", deviceToken(address.device)]);
}

/** `address del <ip>/<prefix> dev <dev>` — absent → reported as already gone. */
export function addressDeleteLine(address: AddressSpec): IpLine {
  return batchLine("ip", ["address", "del", `${formatIp(address.ip)}/${address.prefixLength}`, "dev", deviceToken(address.device)]);
}
