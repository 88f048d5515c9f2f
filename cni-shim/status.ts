// STATUS (spec 1.1.0): "can this plugin serve an ADD now?". Not while subnet.env is missing,
// unreadable or invalid — the agent has not (or not properly) taken this node's subnet lease —
// and then the answer is code 50, "plugin not available", so the runtime holds pods back instead
// of failing their ADDs. Otherwise success, with no output.
import type { FlannelNetConf } from "./conf.ts";
import { CniError, cniErrorCodes } from "./errors.ts";
import { loadSubnetEnv } from "./subnet-file.ts";

export function checkStatus(conf: FlannelNetConf): void {
  let problem: string | undefined;
  try {
    if (loadSubnetEnv(conf.subnetFile) === undefined) problem = `${conf.subnetFile} does not exist`;
  } catch (error) {
    if (!(error instanceof CniError)) throw error;
    problem = error.message;
  }
  if (problem !== undefined) {
    throw new CniError(cniErrorCodes.pluginNotAvailable, `the flannel agent is not ready on this node: ${problem}`, {
      details: "the agent writes subnet.env once it holds this node's subnet lease; check the flannel pod log for this node",
    });
  }
}
