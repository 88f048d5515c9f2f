// DEL: undo an ADD from the saved delegate config alone — never from subnet.env, which may be
// gone (C:flannel_linux.go doCmdDel). No saved config means nothing to undo: success, so DEL is
// idempotent. A saved config that does not parse is reported on stderr and DEL succeeds with the
// file kept for an operator to look at, as Flannel does (the pod must be able to go away).
// Unlike Flannel, the file is removed only once the delegate's DEL succeeded (hand-off.ts): a
// failed DEL is retried by the runtime and must still find the config to finish the job.
import { isPluginName, type FlannelNetConf } from "./conf.ts";
import { savedDelegateType } from "./delegate-conf.ts";
import { findDelegate } from "./delegate-path.ts";
import { isJsonObject } from "./go-json.ts";
import { delHandOff, type HandOff } from "./hand-off.ts";
import type { CniEnvironment } from "./request.ts";
import { readSavedConf, savedConfPath } from "./saved-conf.ts";

export type DelPlan = { readonly kind: "done"; readonly stderr?: string } | { readonly kind: "hand-off"; readonly handOff: HandOff };

function unusable(path: string, why: string): DelPlan {
  return { kind: "done", stderr: `flannel: DEL: the saved delegate config ${path} ${why}; nothing was undone and the file is kept for inspection\n` };
}

export function prepareDel(environment: CniEnvironment, conf: FlannelNetConf): DelPlan {
  const path = savedConfPath(conf.dataDir, environment.containerId);
  const saved = readSavedConf(path);
  if (saved === undefined) return { kind: "done" };
  let parsed: unknown;
  try {
    parsed = JSON.parse(saved);
  } catch (error) {
    return unusable(path, `does not parse (${(error as Error).message})`);
  }
  const type = isJsonObject(parsed) ? savedDelegateType(parsed) : undefined;
  if (type === undefined || !isPluginName(type)) return unusable(path, "names no plugin type");
  return { kind: "hand-off", handOff: delHandOff(findDelegate(type, environment.cniPath), path) };
}
