// `lab down`: remove what labs left behind, from the records on disk. With a name, that lab —
// if its process still runs, it is asked to stop (SIGTERM to that exact PID, which makes it tear
// itself down) and whatever remains is removed after. Without a name, every lab whose owning
// process is gone; running labs are left alone.
import { setTimeout as sleep } from "node:timers/promises";
import { labStateDir } from "./layout.ts";
import { endProcess } from "./processes.ts";
import { isRunning, listLabNames, loadRecord } from "./state.ts";
import { removeLab } from "./teardown.ts";

export interface DownReport {
  readonly name: string;
  readonly outcome: "removed" | "left running" | "not found" | "incomplete";
  readonly details: readonly string[];
}

async function downOne(name: string, stateRoot: string, stopRunning: boolean): Promise<DownReport> {
  const stateDir = labStateDir(name, stateRoot);
  let record = loadRecord(stateDir);
  if (record === undefined) return { name, outcome: "not found", details: [`no lab record in ${stateDir}`] };
  const details: string[] = [];
  if (isRunning(record.owner)) {
    if (!stopRunning) return { name, outcome: "left running", details: [`its process ${record.owner.pid} is running`] };
    // The owner tears its lab down on SIGTERM; give it the time that takes before stepping in.
    await endProcess(record.owner, "SIGTERM", 60_000);
    details.push(`stopped its process ${record.owner.pid}`);
    await sleep(100);
    record = loadRecord(stateDir);
    if (record === undefined) return { name, outcome: "removed", details };
  }
  const result = await removeLab(record);
  details.push(...result.killed.map((what) => `SIGKILLed ${what} after the grace period`), ...result.warnings, ...result.problems);
  return { name, outcome: result.problems.length === 0 ? "removed" : "incomplete", details };
}

/** Removes the named lab, or every abandoned one; one report per lab looked at. */
export async function downLabs(name: string | undefined, stateRoot: string): Promise<DownReport[]> {
  if (name !== undefined) return [await downOne(name, stateRoot, true)];
  const reports: DownReport[] = [];
  for (const found of listLabNames(stateRoot)) reports.push(await downOne(found, stateRoot, false));
  return reports;
}
