// Reading subnet.env for ADD and STATUS. The agent writes it atomically once it holds a lease, so
// a missing file means "the agent has not started yet" — the one transient case. ADD waits for it
// (bounded by subnetFileWaitSeconds) instead of failing the pod at once as Flannel does while a
// node boots; a file that exists but cannot be read or does not parse is not transient and fails
// at once. Everything is synchronous: the plugin has nothing else to do meanwhile, and a
// synchronous program needs no event loop to start or to drain before the exec hand-off.
import { readFileSync } from "node:fs";
import { parseSubnetEnv, type SubnetEnv } from "../agent/config/subnet-env.ts";
import { isFlannelError } from "../backends/errors.ts";
import { CniError, cniErrorCodes, errnoCode, messageOf } from "./errors.ts";

export const subnetFilePollMs = 50;

const checkPodLog = "Check the flannel pod log for this node.";

/** subnet.env parsed, or undefined when the file does not exist. Throws CniError 5 or 7. */
export function loadSubnetEnv(file: string): SubnetEnv | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    throw new CniError(cniErrorCodes.ioFailure, `failed to load flannel 'subnet.env' file: ${messageOf(error)}. ${checkPodLog}`, { cause: error });
  }
  try {
    return parseSubnetEnv(text, file);
  } catch (error) {
    if (!isFlannelError(error, "subnet-env-invalid")) throw error;
    // Code 7, not 11: the agent replaces the file atomically, so a reader never sees it half
    // written — a file without FLANNEL_SUBNET (or with a bad value) will not fix itself by
    // retrying. It is the node's half of this network's configuration, and it is invalid.
    throw new CniError(cniErrorCodes.invalidNetworkConfig, `failed to load flannel 'subnet.env' file: ${error.message}. ${checkPodLog}`, {
      cause: error,
    });
  }
}

export function agentNotReady(file: string, waitedSeconds: number): CniError {
  const waited = waitedSeconds > 0 ? `waited ${waitedSeconds} s for it (subnetFileWaitSeconds); ` : "";
  return new CniError(cniErrorCodes.tryAgainLater, `the flannel agent is not ready on this node: ${file} does not exist`, {
    details: `${waited}the agent writes it once it holds this node's subnet lease. ${checkPodLog}`,
  });
}

export interface WaitClock {
  now(): number;
  sleep(ms: number): void;
}

/** Blocks the thread without spinning (Atomics.wait on a private cell that nobody notifies). */
export const realClock: WaitClock = {
  now: () => performance.now(),
  sleep: (ms) => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  },
};

/** subnet.env, polling every 50 ms for up to `waitSeconds` while it does not exist; then code 11. */
export function waitForSubnetEnv(file: string, waitSeconds: number, clock: WaitClock = realClock): SubnetEnv {
  const deadline = clock.now() + waitSeconds * 1000;
  for (;;) {
    const env = loadSubnetEnv(file);
    if (env !== undefined) return env;
    const left = deadline - clock.now();
    if (left <= 0) throw agentNotReady(file, waitSeconds);
    clock.sleep(Math.min(subnetFilePollMs, left));
  }
}
