// A batch request's answer from what happened to each of its lines: the failures, each with how
// sure we are about it (batch-error.ts), and the deletes whose object was already gone.
import { KernelBatchError, type KernelBatchResult } from "./batch-error.ts";
import { isDeleteLine, type BatchTool } from "./batch-line.ts";
import type { LineOutcome } from "./batch-process.ts";
import { isAbsentMessage, isExistsMessage } from "./kernel-messages.ts";

/** `outcomes[i]` belongs to `lines[i]`; a line without one was never sent. */
export function batchResult(tool: BatchTool, lines: readonly string[], outcomes: readonly (LineOutcome | undefined)[]): KernelBatchResult {
  const errors: KernelBatchError[] = [];
  const alreadyGone: number[] = [];
  lines.forEach((line, index) => {
    const outcome = outcomes[index] ?? { kind: "not-run", message: "not sent" };
    if (outcome.kind === "ran") {
      const message = outcome.message;
      if (message === undefined) return;
      if (isDeleteLine(line) && isAbsentMessage(message)) alreadyGone.push(index);
      else errors.push(new KernelBatchError(tool, line, index, message, isExistsMessage(message) ? "already-exists" : "rejected"));
    } else {
      errors.push(new KernelBatchError(tool, line, index, outcome.message, outcome.kind === "unknown" ? "outcome-unknown" : "not-run"));
    }
  });
  return { errors, alreadyGone };
}
