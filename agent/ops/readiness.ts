// What /readyz reports: ready only once subnet.env is written (pods can be wired) and the first
// reconcile of the data plane succeeded (they can reach other nodes).
import type { Readiness } from "./health.ts";

export interface ReadinessTracker extends Readiness {
  subnetEnvWritten(): void;
  dataPlaneReconciled(): void;
  isReady(): boolean;
}

export function createReadinessTracker(): ReadinessTracker {
  let subnetEnv = false;
  let reconciled = false;
  const notReadyReason = (): string | undefined =>
    !subnetEnv ? "subnet.env not written yet (no lease)" : !reconciled ? "the data plane has not been reconciled yet" : undefined;
  return {
    subnetEnvWritten: () => void (subnetEnv = true),
    dataPlaneReconciled: () => void (reconciled = true),
    notReadyReason,
    isReady: () => notReadyReason() === undefined,
  };
}
