// One CNI invocation as the runtime makes it: the CNI_* variables and the network config on
// stdin, checked the way the Go skel (containernetworking/cni pkg/skel, which Flannel's plugin
// runs under) checks them, with the same error codes: a missing variable or a bad container ID
// or interface name is 4, stdin that is not a JSON object is 6, an unknown cniVersion is 1, a
// missing or bad network name is 7.
import { CniError, cniErrorCodes } from "./errors.ts";
import { goField, isJsonObject, type JsonObject } from "./go-json.ts";
import { isSupportedCniVersion, supportedCniVersions, type CniVersion } from "./versions.ts";

export const cniCommands = ["ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS"] as const;
export type CniCommand = (typeof cniCommands)[number];

export interface CniEnvironment {
  readonly command: CniCommand;
  readonly containerId: string;
  readonly netns: string;
  readonly ifname: string;
  /** CNI_PATH split at ':' (empty entries dropped). */
  readonly cniPath: readonly string[];
}

// What each command needs (spec 1.1 "Required environment parameters"; the skel enforces
// CNI_PATH for every command but VERSION as well, and so do we: the delegate is found there).
const requiredVariables: Readonly<Record<Exclude<CniCommand, "VERSION">, readonly string[]>> = {
  ADD: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
  CHECK: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
  DEL: ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"],
  GC: ["CNI_PATH"],
  STATUS: ["CNI_PATH"],
};

// Spec: "Must start with an alphanumeric character, optionally followed by any combination of
// one or more alphanumeric characters, underscore, dot or hyphen" — for container IDs and
// network names. It also keeps `dataDir/<containerID>` inside dataDir.
const identifier = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function invalidEnvironment(message: string, details?: string): CniError {
  return new CniError(cniErrorCodes.invalidEnvironment, message, details === undefined ? {} : { details });
}

/** The interface-name rules of the skel (utils.ValidateInterfaceName): Linux's IFNAMSIZ and path safety. */
function checkInterfaceName(name: string): void {
  if (name.length > 15) throw invalidEnvironment("interface name is too long", "CNI_IFNAME should be less than 16 characters");
  if (name === "." || name === "..") throw invalidEnvironment("interface name is . or ..", "CNI_IFNAME");
  if (/[/:\s]/.test(name)) throw invalidEnvironment("interface name contains / or : or whitespace characters", "CNI_IFNAME");
}

export function readCniEnvironment(env: NodeJS.ProcessEnv): CniEnvironment {
  const command = env.CNI_COMMAND ?? "";
  if (command === "") throw invalidEnvironment("required env variables [CNI_COMMAND] missing");
  if (!(cniCommands as readonly string[]).includes(command)) throw invalidEnvironment(`unknown CNI_COMMAND: ${command}`);
  const cniCommand = command as CniCommand;
  if (cniCommand !== "VERSION") {
    const missing = requiredVariables[cniCommand].filter((name) => (env[name] ?? "") === "");
    if (missing.length > 0) throw invalidEnvironment(`required env variables [${missing.join(" ")}] missing`);
  }
  const containerId = env.CNI_CONTAINERID ?? "";
  if (containerId !== "" && !identifier.test(containerId)) {
    throw invalidEnvironment("invalid characters in containerID", `CNI_CONTAINERID=${containerId}`);
  }
  const ifname = env.CNI_IFNAME ?? "";
  if (ifname !== "") checkInterfaceName(ifname);
  return {
    command: cniCommand,
    containerId,
    netns: env.CNI_NETNS ?? "",
    ifname,
    cniPath: (env.CNI_PATH ?? "").split(":").filter((dir) => dir !== ""),
  };
}

export interface NetworkConfig {
  readonly raw: JsonObject;
  /** The effective version: an absent or empty cniVersion means 0.1.0 (the skel's rule). */
  readonly cniVersion: CniVersion;
  readonly name: string;
}

export function parseJsonObject(text: string, what: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CniError(cniErrorCodes.decodingFailure, `error parsing ${what}: ${(error as Error).message}`, { cause: error });
  }
  if (!isJsonObject(value)) throw new CniError(cniErrorCodes.decodingFailure, `error parsing ${what}: not a JSON object`);
  return value;
}

/** The cniVersion as written, if it is a non-empty string (for the error result's cniVersion). */
export function writtenCniVersion(raw: JsonObject): string | undefined {
  const version = goField(raw, "cniVersion");
  return typeof version === "string" && version !== "" ? version : undefined;
}

/** The network config's version and name, checked as the skel checks them; `raw` from parseJsonObject. */
export function decodeNetworkConfig(raw: JsonObject): NetworkConfig {
  const version = goField(raw, "cniVersion") ?? "";
  if (version !== null && typeof version !== "string") {
    throw new CniError(cniErrorCodes.decodingFailure, "error parsing network config: cniVersion must be a string");
  }
  const cniVersion = version === null || version === "" ? "0.1.0" : version;
  if (!isSupportedCniVersion(cniVersion)) {
    throw new CniError(cniErrorCodes.incompatibleVersion, "incompatible CNI versions", {
      details: `config is ${JSON.stringify(cniVersion)}, plugin supports [${supportedCniVersions.map((v) => JSON.stringify(v)).join(" ")}]`,
    });
  }
  const name = goField(raw, "name") ?? "";
  if (typeof name !== "string") throw new CniError(cniErrorCodes.invalidNetworkConfig, "network name must be a string");
  if (name === "") throw new CniError(cniErrorCodes.invalidNetworkConfig, "missing network name");
  if (!identifier.test(name)) throw new CniError(cniErrorCodes.invalidNetworkConfig, "invalid characters found in network name", { details: name });
  return { raw, cniVersion, name };
}
