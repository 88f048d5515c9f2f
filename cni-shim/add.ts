// ADD: build Flannel's delegate config from the plugin config and subnet.env, save it under
// dataDir, and hand over to the delegate. Everything that can be refused is refused before the
// file is written (config, subnet.env, the delegate binary), so a refused ADD leaves nothing
// behind; from the hand-off on, the script in hand-off.ts keeps that promise.
import { checkDelegateDictionary, type FlannelNetConf } from "./conf.ts";
import { buildDelegateConf, delegateType, serialiseDelegateConf } from "./delegate-conf.ts";
import { findDelegate } from "./delegate-path.ts";
import { addHandOff, type HandOff } from "./hand-off.ts";
import type { CniEnvironment } from "./request.ts";
import { saveDelegateConf } from "./saved-conf.ts";
import { waitForSubnetEnv, type WaitClock } from "./subnet-file.ts";
import { delegateCniVersion, type CniVersion } from "./versions.ts";

export function prepareAdd(environment: CniEnvironment, conf: FlannelNetConf, cniVersion: CniVersion, clock?: WaitClock): HandOff {
  // The delegate dictionary first (Flannel reads subnet.env first): a config error must not
  // hide behind a wait for the agent, nor be reported as "try again later".
  checkDelegateDictionary(conf.delegate);
  const subnetEnv = waitForSubnetEnv(conf.subnetFile, conf.subnetFileWaitSeconds, clock);
  const version = delegateCniVersion(conf.cniVersion);
  const delegate = buildDelegateConf(conf, subnetEnv, version);
  const delegatePath = findDelegate(delegateType(delegate), environment.cniPath);
  const savedFile = saveDelegateConf(conf.dataDir, environment.containerId, serialiseDelegateConf(delegate));
  return addHandOff(delegatePath, savedFile, delegateCniVersion(cniVersion), cniVersion);
}
