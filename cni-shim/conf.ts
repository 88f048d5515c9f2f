// The flannel plugin's own configuration (C:flannel.go NetConf): where subnet.env and the saved
// delegate configs live, the `delegate` dictionary, the `ipam` map merged into it, and the
// runtime's `runtimeConfig` — with Flannel's defaults, and our one extension,
// `subnetFileWaitSeconds` (how long ADD waits for subnet.env while the agent starts).
//
// Every command decodes these fields (Go's Unmarshal rejects a field of the wrong type whatever
// the command); the rules on the *content* of `delegate` are ADD's, as in Flannel.
import { defaultSubnetFile } from "../agent/config/subnet-env.ts";
import { CniError, cniErrorCodes } from "./errors.ts";
import { goField, hasKey, isJsonObject, type JsonObject, type JsonValue } from "./go-json.ts";

export { defaultSubnetFile };
export const defaultDataDir = "/var/lib/cni/flannel";
/** Long enough for the agent to start on a booting node, short enough for the runtime's timeout. */
export const defaultSubnetFileWaitSeconds = 10;

export interface FlannelNetConf {
  /** As written; "" when absent (Flannel copies it into the delegate only when non-empty). */
  readonly cniVersion: string;
  readonly name: string;
  readonly subnetFile: string;
  readonly dataDir: string;
  /** 0: do not wait — a missing subnet.env fails at once (still with code 11). */
  readonly subnetFileWaitSeconds: number;
  readonly delegate: JsonObject | undefined;
  readonly ipam: JsonObject | undefined;
  readonly runtimeConfig: JsonObject | undefined;
  readonly raw: JsonObject;
}

function invalidConfig(message: string): CniError {
  return new CniError(cniErrorCodes.invalidNetworkConfig, message);
}

function optionalString(raw: JsonObject, field: string, fallback: string): string {
  const value = goField(raw, field);
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "string") throw invalidConfig(`'${field}' must be a string`);
  // Go would take "" as given and then fail on open("") or, for dataDir, save into the
  // runtime's working directory; neither is what anyone meant.
  if (value === "") throw invalidConfig(`'${field}' must not be empty`);
  return value;
}

function optionalObject(raw: JsonObject, field: string, what: string): JsonObject | undefined {
  const value = goField(raw, field);
  if (value === undefined || value === null) return undefined;
  if (!isJsonObject(value)) throw invalidConfig(`'${field}' must be a ${what}`);
  return value;
}

export function parseFlannelNetConf(raw: JsonObject, name: string): FlannelNetConf {
  const cniVersion = goField(raw, "cniVersion");
  const wait = goField(raw, "subnetFileWaitSeconds");
  if (wait !== undefined && wait !== null && (typeof wait !== "number" || !Number.isFinite(wait) || wait < 0)) {
    throw invalidConfig("'subnetFileWaitSeconds' must be a number of seconds, 0 or more");
  }
  return {
    cniVersion: typeof cniVersion === "string" ? cniVersion : "",
    name,
    subnetFile: optionalString(raw, "subnetFile", defaultSubnetFile),
    dataDir: optionalString(raw, "dataDir", defaultDataDir),
    subnetFileWaitSeconds: typeof wait === "number" ? wait : defaultSubnetFileWaitSeconds,
    delegate: optionalObject(raw, "delegate", "dictionary"),
    ipam: optionalObject(raw, "ipam", "dictionary"),
    runtimeConfig: optionalObject(raw, "runtimeConfig", "dictionary"),
    raw,
  };
}

/** A plugin type names a file in CNI_PATH (spec: no characters disallowed in file paths). */
export function isPluginName(type: string): boolean {
  return type !== "" && type !== "." && type !== ".." && !type.includes("/") && !type.includes("\0");
}

/**
 * Flannel's checks on the `delegate` dictionary (C:flannel.go cmdAdd), with its messages: the
 * plugin sets `name` and `ipam` itself, and a `type` must be a string. We also refuse a type
 * that is not a plain file name, since it is looked up in CNI_PATH.
 */
export function checkDelegateDictionary(delegate: JsonObject | undefined): void {
  if (delegate === undefined) return;
  const type: JsonValue | undefined = delegate.type;
  if (hasKey(delegate, "type") && typeof type !== "string") {
    throw invalidConfig("'delegate' dictionary, if present, must have (string) 'type' field");
  }
  if (hasKey(delegate, "name")) throw invalidConfig("'delegate' dictionary must not have 'name' field, it'll be set by flannel");
  if (hasKey(delegate, "ipam")) throw invalidConfig("'delegate' dictionary must not have 'ipam' field, it'll be set by flannel");
  if (typeof type === "string" && !isPluginName(type)) {
    throw invalidConfig(`'delegate' type ${JSON.stringify(type)} is not a plugin name (a file name in CNI_PATH)`);
  }
}
