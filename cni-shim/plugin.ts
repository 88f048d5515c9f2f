// One run of the plugin: read the invocation, dispatch CNI_COMMAND, and either answer (VERSION,
// GC, STATUS, an error, a DEL with nothing to undo) or hand over to the delegate. Returns the
// exit status; with the execve hand-off it does not return at all. Checks run in the skel's
// order — environment, stdin, JSON, cniVersion, name — so each bad input gets its spec code,
// and every refusal happens before anything is written.
import { prepareAdd } from "./add.ts";
import { prepareCheck } from "./check.ts";
import { parseFlannelNetConf } from "./conf.ts";
import { prepareDel } from "./del.ts";
import { asCniError, CniError, cniErrorCodes, formatCniError } from "./errors.ts";
import { collectGarbage } from "./gc.ts";
import type { HandOff } from "./hand-off.ts";
import { decodeNetworkConfig, parseJsonObject, readCniEnvironment, writtenCniVersion, type CniCommand } from "./request.ts";
import { checkStatus } from "./status.ts";
import { cniVersionAtLeast, formatVersionResult, latestCniVersion, type CniVersion } from "./versions.ts";

export interface PluginIo {
  readonly env: NodeJS.ProcessEnv;
  readStdin(): string;
  writeStdout(text: string): void;
  writeStderr(text: string): void;
  /** Runs the delegate; returns its exit status only when it could not replace the process. */
  handOff(handOff: HandOff): number;
}

// The spec version that introduced each operation (the skel refuses older configs with code 1).
const introducedIn: Partial<Record<CniCommand, CniVersion>> = { CHECK: "0.4.0", GC: "1.1.0", STATUS: "1.1.0" };

function requestedVersion(io: PluginIo): string | undefined {
  try {
    const version = JSON.parse(io.readStdin()) as { cniVersion?: unknown };
    return typeof version.cniVersion === "string" ? version.cniVersion : undefined;
  } catch {
    return undefined; // VERSION must answer even without a (readable) config
  }
}

function readConfigText(io: PluginIo): string {
  try {
    return io.readStdin();
  } catch (error) {
    throw new CniError(cniErrorCodes.ioFailure, `failed to read the network config from stdin: ${(error as Error).message}`, { cause: error });
  }
}

export function runPlugin(io: PluginIo): number {
  let reportVersion: string = latestCniVersion;
  try {
    const environment = readCniEnvironment(io.env);
    if (environment.command === "VERSION") {
      io.writeStdout(formatVersionResult(requestedVersion(io)));
      return 0;
    }
    const raw = parseJsonObject(readConfigText(io), "network config");
    reportVersion = writtenCniVersion(raw) ?? latestCniVersion;
    const config = decodeNetworkConfig(raw);
    const minimum = introducedIn[environment.command];
    if (minimum !== undefined && !cniVersionAtLeast(config.cniVersion, minimum)) {
      throw new CniError(cniErrorCodes.incompatibleVersion, `config version does not allow ${environment.command}`, {
        details: `${environment.command} needs cniVersion ${minimum} or later, the config has ${config.cniVersion}`,
      });
    }
    const conf = parseFlannelNetConf(raw, config.name);
    switch (environment.command) {
      case "ADD":
        return io.handOff(prepareAdd(environment, conf, config.cniVersion));
      case "DEL": {
        const plan = prepareDel(environment, conf);
        if (plan.kind === "hand-off") return io.handOff(plan.handOff);
        if (plan.stderr !== undefined) io.writeStderr(plan.stderr);
        return 0;
      }
      case "CHECK":
        return io.handOff(prepareCheck(environment, conf));
      case "GC":
        collectGarbage(conf);
        return 0;
      case "STATUS":
        checkStatus(conf);
        return 0;
    }
  } catch (error) {
    try {
      io.writeStdout(formatCniError(asCniError(error), reportVersion));
    } catch {
      // stdout is gone: the exit status is all the runtime can get
    }
    return 1;
  }
}
