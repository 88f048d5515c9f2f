// The saved delegate configs: `<dataDir>/<CNI_CONTAINERID>` holds the exact bytes the delegate
// was given on ADD, so that DEL (and CHECK) can hand the delegate the same config without
// subnet.env — which may be gone by then (agent stopped, node being drained). Flannel's layout and
// modes (dir 0700, file 0600, fsync), written atomically here (temporary file + rename) so a
// crash mid-write never leaves a truncated config for DEL to choke on.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { CniError, cniErrorCodes, errnoCode, messageOf } from "./errors.ts";

/** Container IDs are spec identifiers; anything else in dataDir (our temporary files) is not a saved config. */
const containerIdPattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function savedConfPath(dataDir: string, containerId: string): string {
  return join(dataDir, containerId);
}

function ioFailure(action: string, path: string, error: unknown): CniError {
  return new CniError(cniErrorCodes.ioFailure, `failed to ${action} ${path}: ${messageOf(error)}`, { cause: error });
}

/**
 * Writes the delegate config for `containerId`, replacing any earlier one. The directory's
 * entry is not fsynced: after a power cut the worst case is a missing file, which DEL treats as
 * "nothing to undo", as it would for a pod whose ADD never ran.
 */
export function saveDelegateConf(dataDir: string, containerId: string, bytes: string): string {
  const path = savedConfPath(dataDir, containerId);
  // The spec forbids parallel operations on one container, so the PID makes the name unique.
  const temporary = join(dataDir, `.${containerId}.${process.pid}.tmp`);
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const fd = openSync(temporary, "w", 0o600);
    try {
      writeSync(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw ioFailure("save the delegate config as", path, error);
  }
  return path;
}

/** The saved bytes, or undefined when there are none (DEL after DEL, or ADD never ran). */
export function readSavedConf(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    throw ioFailure("read the saved delegate config", path, error);
  }
}

export function removeSavedConf(path: string): void {
  rmSync(path, { force: true });
}

/** Container IDs that have a saved config (none when dataDir does not exist). */
export function listSavedContainerIds(dataDir: string): string[] {
  try {
    return readdirSync(dataDir, { withFileTypes: true })
      .filter((entry) => entry.isFile() && containerIdPattern.test(entry.name))
      .map((entry) => entry.name);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return [];
    throw ioFailure("list", dataDir, error);
  }
}
