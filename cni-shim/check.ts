// CHECK: ask the delegate to check what it set up, with the saved delegate config and the
// runtime's prevResult (the result of the ADD). Flannel's CHECK is a no-op (a TODO); the spec
// says a plugin "should call CHECK on any delegated plugins and pass any errors on", so we do.
// No saved config: the container is unknown to this network (code 3).
import { isPluginName, type FlannelNetConf } from "./conf.ts";
import { savedDelegateType } from "./delegate-conf.ts";
import { findDelegate } from "./delegate-path.ts";
import { CniError, cniErrorCodes } from "./errors.ts";
import { goField, goJson, isJsonObject, type GoJsonValue, type JsonValue } from "./go-json.ts";
import { checkHandOff, type HandOff } from "./hand-off.ts";
import type { CniEnvironment } from "./request.ts";
import { readSavedConf, savedConfPath } from "./saved-conf.ts";

function unusable(path: string, why: string): CniError {
  return new CniError(cniErrorCodes.invalidNetworkConfig, `the saved delegate config ${path} ${why}`);
}

type ResultObject = { readonly [key: string]: JsonValue };

/** The gateway of the result's first address of each family, which ADD gave every route without a gw. */
function gatewaysByFamily(result: ResultObject): Map<4 | 6, string> {
  const gateways = new Map<4 | 6, string>();
  const ips = Array.isArray(result.ips) ? result.ips : [];
  for (const ip of ips) {
    if (!isJsonObject(ip) || typeof ip.address !== "string" || typeof ip.gateway !== "string") continue;
    const family = ip.address.includes(":") ? 6 : 4;
    if (!gateways.has(family)) gateways.set(family, ip.gateway);
  }
  return gateways;
}

/**
 * The runtime's prevResult as the delegate should check it:
 *  - relabelled with the delegate's cniVersion when the request's differs (1.1.0 → 1.0.0, see
 *    versions.ts; the 1.0.0 result parser refuses a "1.1.0" label);
 *  - each route without "gw" given the gateway ADD actually installed it through (the result's
 *    gateway of that family: bridge → ipam.ConfigureIface does exactly that). The bridge plugin
 *    before 1.3.0 (Debian ships 1.1.1) checks a gw-less route by looking for one with no gateway
 *    and so fails CHECK for every Flannel network route (containernetworking/plugins#886);
 *    with the gateway filled in, old and fixed plugins check the same installed route.
 */
function prevResultFor(prevResult: JsonValue | undefined, delegateVersion: JsonValue | undefined): GoJsonValue | undefined {
  if (!isJsonObject(prevResult)) return prevResult;
  const result: { [key: string]: GoJsonValue } = { ...prevResult };
  if (typeof delegateVersion === "string") result.cniVersion = delegateVersion;
  const gateways = gatewaysByFamily(prevResult);
  if (Array.isArray(prevResult.routes)) {
    result.routes = prevResult.routes.map((route) => {
      if (!isJsonObject(route) || typeof route.dst !== "string" || (route.gw !== undefined && route.gw !== null)) return route;
      const gw = gateways.get(route.dst.includes(":") ? 6 : 4);
      return gw === undefined ? route : { ...route, gw };
    });
  }
  return result;
}

export function prepareCheck(environment: CniEnvironment, conf: FlannelNetConf): HandOff {
  const path = savedConfPath(conf.dataDir, environment.containerId);
  const saved = readSavedConf(path);
  if (saved === undefined) {
    throw new CniError(cniErrorCodes.unknownContainer, `container ${environment.containerId} is unknown to network ${conf.name}`, {
      details: `no saved delegate config ${path}: ADD did not run or DEL already did`,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(saved);
  } catch (error) {
    throw unusable(path, `does not parse: ${(error as Error).message}`);
  }
  if (!isJsonObject(parsed)) throw unusable(path, "is not a JSON object");
  const type = savedDelegateType(parsed);
  if (type === undefined || !isPluginName(type)) throw unusable(path, "names no plugin type");
  const config: { [key: string]: GoJsonValue } = { ...parsed };
  const prevResult = prevResultFor(goField(conf.raw, "prevResult"), goField(parsed, "cniVersion"));
  if (prevResult !== undefined) config.prevResult = prevResult;
  return checkHandOff(findDelegate(type, environment.cniPath), goJson(config));
}
