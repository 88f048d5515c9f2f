// The lab's record on disk (`<state>/lab.json`): every namespace, process and pod it made, written
// right after each side effect (namespaces just before: a crash between the two leaves a name
// that does not exist, which is harmless). Teardown and `down` work from this record alone, so a
// lab whose process was killed can still be removed — processes by PID *and* start time, so a
// PID the kernel has since reused is never signalled.
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { processStartTime } from "./tools/exit-guard.ts";
import type { LabOptions } from "./options.ts";

/** One process, named by PID and start time (clock ticks since boot, /proc/PID/stat field 22). */
export interface ProcessIdentity {
  readonly pid: number;
  readonly startTime: string;
}

export interface ProcessRecord extends ProcessIdentity {
  /** "etcd", "flanneld node1", … */
  readonly role: string;
}

export interface PodRecord {
  /** The node namespace the CNI plugin runs in. */
  readonly nodeNs: string;
  readonly podNs: string;
  readonly containerId: string;
  /** The exact config given to ADD, so that DEL (also from `down`) sends the same. */
  readonly cniConfig: Record<string, unknown>;
}

export interface LabRecord {
  readonly version: 1;
  readonly name: string;
  readonly stateDir: string;
  /** The process that runs the lab; `down` without --name only removes labs whose owner is gone. */
  readonly owner: ProcessIdentity;
  readonly options: LabOptions;
  readonly createdAt: string;
  namespaces: string[];
  processes: ProcessRecord[];
  pods: PodRecord[];
}

/** The identity of a running process, or undefined when it is gone. */
export function identify(pid: number): ProcessIdentity | undefined {
  const startTime = processStartTime(pid);
  return startTime === undefined ? undefined : { pid, startTime };
}

/** True while exactly that process (same PID, same start time, not a zombie) runs. */
export function isRunning(identity: ProcessIdentity): boolean {
  try {
    const stat = readFileSync(`/proc/${identity.pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19] === identity.startTime && fields[0] !== "Z";
  } catch {
    return false;
  }
}

/** Writes the record atomically (rename), so `down` never reads half a file. */
export function saveRecord(record: LabRecord): void {
  mkdirSync(record.stateDir, { recursive: true });
  const file = join(record.stateDir, "lab.json");
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(temporary, file);
}

export function loadRecord(stateDir: string): LabRecord | undefined {
  try {
    const record = JSON.parse(readFileSync(join(stateDir, "lab.json"), "utf8")) as LabRecord;
    return record.version === 1 ? record : undefined;
  } catch {
    return undefined;
  }
}

/** Names of every lab with a state directory under `stateRoot`. */
export function listLabNames(stateRoot: string): string[] {
  try {
    return readdirSync(stateRoot, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
  } catch {
    return [];
  }
}

/**
 * The running lab's view of its record: each change is saved at once, so the file on disk always
 * lists at least everything that exists.
 */
export interface Ledger {
  readonly record: LabRecord;
  namespace(name: string): void;
  process(entry: ProcessRecord): void;
  processGone(entry: ProcessIdentity): void;
  pod(entry: PodRecord): void;
  /** From now on changes are no longer saved (teardown has taken over the record). */
  close(): void;
}

/** `onProcess` hears of every process started (e.g. a test run recording PIDs for its own sweep). */
export function openLedger(record: LabRecord, onProcess: (entry: ProcessRecord) => void = () => {}): Ledger {
  let open = true;
  // A late event (an agent's exit noticed after teardown) must not bring the state directory back.
  const save = (): void => {
    if (open) saveRecord(record);
  };
  save();
  return {
    record,
    namespace(name) {
      if (!record.namespaces.includes(name)) record.namespaces.push(name);
      save();
    },
    process(entry) {
      record.processes.push(entry);
      save();
      onProcess(entry);
    },
    processGone(entry) {
      record.processes = record.processes.filter((known) => known.pid !== entry.pid || known.startTime !== entry.startTime);
      save();
    },
    pod(entry) {
      record.pods.push(entry);
      save();
    },
    close() {
      open = false;
    },
  };
}
