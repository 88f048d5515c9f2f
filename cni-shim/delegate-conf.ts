// The delegate config, built exactly as Flannel builds it (C:flannel_linux.go doCmdAdd,
// getDelegateIPAM, getIPAMRoutes) so that the bytes saved in dataDir — and what bridge and
// host-local receive — are Flannel's:
//   name = conf name; type default "bridge"; ipMasq default = NOT FLANNEL_IPMASQ; mtu default =
//   FLANNEL_MTU; isGateway default true for bridge; cniVersion = conf's when non-empty;
//   runtimeConfig = conf's when present; ipam = conf ipam (or {}) with type default
//   "host-local", ranges replaced by the subnet.env subnets, routes = conf routes then one per
//   subnet.env network. Every other key of `delegate` and `ipam` passes through.
// Routes go through Go's types.Route on the way (parsed, then written in struct field order with
// zero values left out), so they are normalised here the same way.
import { formatCidr, formatIp, parseCidr, parseIp } from "../backends/net/ip.ts";
import type { SubnetEnv } from "../agent/config/subnet-env.ts";
import type { FlannelNetConf } from "./conf.ts";
import { CniError, cniErrorCodes } from "./errors.ts";
import { goField, goJson, hasKey, isJsonObject, type GoJsonValue, type GoStruct, type JsonValue } from "./go-json.ts";

export type DelegateConf = { readonly [key: string]: GoJsonValue };

function routeError(why: string): CniError {
  return new CniError(
    cniErrorCodes.invalidNetworkConfig,
    `failed to assemble Delegate IPAM: failed to read IPAM routes: failed to parse ipam.routes: ${why}`,
  );
}

/** CNI's types.IPNet keeps the address as written (10.2.3.1/24 stays so); Go prints it canonically. */
function routeDestination(text: JsonValue | undefined): string {
  if (typeof text !== "string") throw routeError(`"dst" must be a CIDR string, got ${JSON.stringify(text ?? null)}`);
  const slash = text.indexOf("/");
  const cidr = parseCidr(text);
  const address = slash < 0 ? undefined : parseIp(text.slice(0, slash));
  if (cidr === undefined || address === undefined) throw routeError(`invalid CIDR address: ${text}`);
  return `${formatIp(address)}/${cidr.prefix}`;
}

function routeInteger(route: { readonly [key: string]: JsonValue }, field: string): number | undefined {
  const value = goField(route, field);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value)) throw routeError(`"${field}" must be an integer, got ${JSON.stringify(value)}`);
  return value;
}

/** One route as Go's types.Route writes it: dst, gw, mtu, advmss, priority, table, scope. */
function normaliseRoute(value: JsonValue): GoStruct {
  if (!isJsonObject(value)) throw routeError(`a route must be an object, got ${JSON.stringify(value)}`);
  const route = new Map<string, GoJsonValue>([["dst", routeDestination(goField(value, "dst"))]]);
  const gw = goField(value, "gw");
  if (gw !== undefined && gw !== null && gw !== "") {
    const address = typeof gw === "string" ? parseIp(gw) : undefined;
    if (address === undefined) throw routeError(`invalid IP address: ${JSON.stringify(gw)}`);
    route.set("gw", formatIp(address));
  }
  // int fields are omitted when zero (omitempty); *int fields when absent or null.
  for (const field of ["mtu", "advmss", "priority"]) {
    const number = routeInteger(value, field);
    if (number !== undefined && number !== 0) route.set(field, number);
  }
  for (const field of ["table", "scope"]) {
    const number = routeInteger(value, field);
    if (number !== undefined) route.set(field, number);
  }
  return route;
}

function confRoutes(ipam: FlannelNetConf["ipam"]): GoStruct[] {
  if (ipam === undefined || !hasKey(ipam, "routes")) return [];
  const routes = ipam.routes;
  if (routes === null || routes === undefined) return [];
  if (!Array.isArray(routes)) throw routeError(`"routes" must be a list, got ${JSON.stringify(routes)}`);
  return routes.map(normaliseRoute);
}

function delegateIpam(conf: FlannelNetConf, env: SubnetEnv): DelegateConf {
  const ipam: Record<string, GoJsonValue> = { ...conf.ipam };
  if (!hasKey(ipam, "type")) ipam.type = "host-local";
  ipam.ranges = [env.subnet, env.ipv6Subnet].filter((subnet) => subnet !== undefined).map((subnet) => [{ subnet: formatCidr(subnet.cidr) }]);
  ipam.routes = [...confRoutes(conf.ipam), ...[...env.networks, ...env.ipv6Networks].map((network) => new Map([["dst", formatCidr(network)]]))];
  return ipam;
}

/**
 * The delegate config for an ADD. `cniVersion` is what the delegate is given (see
 * versions.ts delegateCniVersion); pass the conf's own to get Flannel's bytes exactly.
 * The `delegate` dictionary must have passed checkDelegateDictionary.
 */
export function buildDelegateConf(conf: FlannelNetConf, env: SubnetEnv, cniVersion: string = conf.cniVersion): DelegateConf {
  const delegate: Record<string, GoJsonValue> = { ...conf.delegate };
  delegate.name = conf.name;
  if (!hasKey(delegate, "type")) delegate.type = "bridge";
  // If flanneld masquerades pod traffic, the bridge must not do it a second time.
  if (!hasKey(delegate, "ipMasq")) delegate.ipMasq = !env.ipMasq;
  if (!hasKey(delegate, "mtu")) delegate.mtu = env.mtu;
  if (delegate.type === "bridge" && !hasKey(delegate, "isGateway")) delegate.isGateway = true;
  if (cniVersion !== "") delegate.cniVersion = cniVersion;
  if (conf.runtimeConfig !== undefined) delegate.runtimeConfig = conf.runtimeConfig;
  delegate.ipam = delegateIpam(conf, env);
  return delegate;
}

/** The saved file's bytes: Go's json.Marshal of the delegate map. */
export function serialiseDelegateConf(delegate: DelegateConf): string {
  return goJson(delegate);
}

/** The delegate's plugin type (checked to be a string by checkDelegateDictionary or defaulted). */
export function delegateType(delegate: DelegateConf): string {
  return String(delegate.type);
}

/** The type of a saved delegate config, if it names a plugin (DEL and CHECK read it back). */
export function savedDelegateType(saved: { readonly [key: string]: JsonValue }): string | undefined {
  const type = goField(saved, "type");
  return typeof type === "string" ? type : undefined;
}
