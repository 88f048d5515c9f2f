// From a diff to batch lines, and from batch results to a ReconcileReport. Shared by every
// backend: a backend describes one kind of entry (how to key, compare, write and delete it) and
// gets back ordered steps; applying them counts what was added, removed and repaired.
//
// "Added" versus "repaired": a desired entry that is missing is *added* the first time and
// *repaired* when this backend had already seen it in place (someone deleted it, or its device
// went away). The keys seen in place are the only memory kept between runs; the kernel remains
// the source of truth, so a restarted agent simply counts leftovers as in place.
import type { ReconcileReport } from "../backend.ts";
import type { FlannelError } from "../errors.ts";
import type { KernelBatch } from "../kernel/batch-coprocess.ts";
import type { BatchLine, BatchTool } from "../kernel/batch-line.ts";
import { diffEntries, type DiffSpec } from "./diff.ts";

export type StepEffect = "added" | "repaired" | "removed";

export interface Step<T extends BatchTool> {
  readonly line: BatchLine<T>;
  readonly effect: StepEffect;
  /** The desired entry's key, remembered as in place once the step succeeded. */
  readonly key?: string;
  /** The peer this entry serves: when its neighbour or FDB entry fails, its route must wait. */
  readonly peer?: string;
}

/** One kind of kernel entry, as the diff and the batch see it. */
export interface EntryKind<D, A, T extends BatchTool> extends Omit<DiffSpec<D, A>, "desired" | "actual"> {
  /** Namespaces the keys ("route", "neigh", "fdb"), so kinds never collide in the memory. */
  readonly name: string;
  writeLine(entry: D): BatchLine<T>;
  deleteLine(entry: A): BatchLine<T>;
  peerOf(entry: D): string;
}

export interface EntryPlan<T extends BatchTool> {
  /** Deletions of stale and surplus entries. */
  readonly removals: readonly Step<T>[];
  /** Creations and replacements (`replace` lines: idempotent). */
  readonly writes: readonly Step<T>[];
  /** Keys of desired entries that are already right. */
  readonly inPlace: readonly string[];
}

/** Pure: what to run for one kind of entry, given what was in place after the previous run. */
export function planEntries<D, A, T extends BatchTool>(
  kind: EntryKind<D, A, T>,
  desired: readonly D[],
  actual: readonly A[],
  previouslyInPlace: ReadonlySet<string>,
): EntryPlan<T> {
  const diff = diffEntries({ ...kind, desired, actual });
  const keyOf = (entry: D): string => `${kind.name}:${kind.desiredKey(entry)}`;
  const write = (entry: D, effect: StepEffect): Step<T> => ({ line: kind.writeLine(entry), effect, key: keyOf(entry), peer: kind.peerOf(entry) });
  return {
    removals: diff.remove.map((entry) => ({ line: kind.deleteLine(entry), effect: "removed" })),
    writes: [
      ...diff.create.map((entry) => write(entry, previouslyInPlace.has(keyOf(entry)) ? "repaired" : "added")),
      ...diff.replace.map(({ desired: entry }) => write(entry, "repaired")),
    ],
    inPlace: diff.unchanged.map(keyOf),
  };
}

/** Outcomes of one reconcile run, accumulated over its batches. */
export interface Tally {
  added: number;
  removed: number;
  repaired: number;
  readonly errors: FlannelError[];
  /** Peers with a failed neighbour or FDB step (their routes are held back). */
  readonly failedPeers: Set<string>;
  /** Keys of desired entries known to be in the kernel now. */
  readonly inPlace: Set<string>;
}

export function newTally(): Tally {
  return { added: 0, removed: 0, repaired: 0, errors: [], failedPeers: new Set(), inPlace: new Set() };
}

export function tallyReport(tally: Tally): ReconcileReport {
  return { added: tally.added, removed: tally.removed, repaired: tally.repaired, errors: [...tally.errors] };
}

/**
 * Runs the steps as one batch request and books each line's outcome. A delete whose object was
 * already gone is neither an error nor a removal (someone else got there first).
 */
export async function applySteps<T extends BatchTool>(
  batch: KernelBatch<T>,
  steps: readonly Step<T>[],
  tally: Tally,
  signal?: AbortSignal,
): Promise<void> {
  if (steps.length === 0) return;
  const result = await batch.apply(steps.map((step) => step.line), signal);
  const failed = new Set<number>();
  for (const error of result.errors) {
    failed.add(error.index);
    tally.errors.push(error);
    const peer = steps[error.index]?.peer;
    if (peer !== undefined) tally.failedPeers.add(peer);
  }
  const gone = new Set(result.alreadyGone);
  steps.forEach((step, index) => {
    if (failed.has(index) || gone.has(index)) return;
    tally[step.effect] += 1;
    if (step.key !== undefined) tally.inPlace.add(step.key);
  });
}
