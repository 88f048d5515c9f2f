// Removing a lab, from its record alone — the same path for a lab ending normally, a lab whose
// start-up failed half-way, and `lab down` after the lab's process was killed. In the order a
// real cluster would go away: pods (CNI DEL through the plugin), agents, etcd, namespaces, state.
// Every step is idempotent and runs even when an earlier one failed; the state directory is kept
// when anything could not be removed, so `lab down` can try again.
import { rmSync } from "node:fs";
import { basename } from "node:path";
import { deleteNamespaceIfPresent, namespacePids } from "./namespace.ts";
import { removePod } from "./pods.ts";
import { endProcess } from "./processes.ts";
import type { LabRecord, ProcessRecord } from "./state.ts";

export interface TeardownResult {
  /** What could not be removed (empty: everything is gone, including the state directory). */
  readonly problems: readonly string[];
  /** Processes that had to be SIGKILLed after the grace period. */
  readonly killed: readonly string[];
  /** Worth knowing, but nothing left behind by name (e.g. a process someone else started in a lab namespace). */
  readonly warnings: readonly string[];
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function endAll(entries: readonly ProcessRecord[], graceMs: number, problems: string[], killed: string[]): Promise<void> {
  await Promise.all(
    entries.map(async (entry) => {
      try {
        if ((await endProcess(entry, "SIGTERM", graceMs)) === "killed") killed.push(`${entry.role} (pid ${entry.pid})`);
      } catch (error) {
        problems.push(`ending ${entry.role} (pid ${entry.pid}): ${describe(error)}`);
      }
    }),
  );
}

export async function removeLab(record: LabRecord): Promise<TeardownResult> {
  const problems: string[] = [];
  const killed: string[] = [];
  const warnings: string[] = [];

  // Pods first, through the plugin as a runtime would (it still finds its saved delegate configs).
  await Promise.all(
    record.pods.map((pod) =>
      removePod(pod).catch(async (error: unknown) => {
        problems.push(`removing pod ${pod.containerId}: ${describe(error)}`);
        await deleteNamespaceIfPresent(pod.podNs).catch(() => {});
      }),
    ),
  );

  // Agents before their datastore (etcd or the API server): a stopping flanneld may still talk
  // to it. SIGTERM, SIGKILL after a grace.
  const isDatastore = (entry: { role: string }): boolean => entry.role === "etcd" || entry.role === "kube-apiserver";
  await endAll(record.processes.filter((entry) => !isDatastore(entry)), 10_000, problems, killed);
  await endAll(record.processes.filter(isDatastore), 10_000, problems, killed);

  // Namespaces in reverse order of creation (pods, nodes, fabric); only names of this lab.
  for (const ns of record.namespaces.toReversed()) {
    if (!ns.startsWith(`${record.name}-`)) {
      problems.push(`refusing to delete namespace ${ns}: not named ${record.name}-…`);
      continue;
    }
    try {
      const holders = await namespacePids(ns);
      if (holders.length > 0) warnings.push(`namespace ${ns} was still entered by processes the lab did not start (left alone): ${holders.join(" ")}`);
      await deleteNamespaceIfPresent(ns);
    } catch (error) {
      problems.push(`deleting namespace ${ns}: ${describe(error)}`);
    }
  }

  if (problems.length === 0 && basename(record.stateDir) === record.name) {
    rmSync(record.stateDir, { recursive: true, force: true });
  }
  return { problems, killed, warnings };
}
