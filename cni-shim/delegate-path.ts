// Finding the delegate plugin the way libcni's invoke.FindInPath does: the first regular file
// (after following links) named like the plugin type in the CNI_PATH directories, in order.
import { statSync } from "node:fs";
import { join } from "node:path";
import { CniError, cniErrorCodes } from "./errors.ts";

function isRegularFile(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isFile() === true;
  } catch {
    return false; // ENOTDIR, EACCES, a loop of links: not a plugin there
  }
}

export function findDelegate(type: string, cniPath: readonly string[]): string {
  for (const dir of cniPath) {
    const candidate = join(dir, type);
    if (isRegularFile(candidate)) return candidate;
  }
  // Code 4: the spec's "invalid necessary environment variables", naming the variable — the
  // runtime's CNI_PATH does not lead to the plugin the config asks for.
  throw new CniError(cniErrorCodes.invalidEnvironment, `failed to find plugin ${JSON.stringify(type)} in CNI_PATH [${cniPath.join(" ")}]`, {
    details: `the delegate plugin ${JSON.stringify(type)} must be installed in one of the CNI_PATH directories`,
  });
}
