// The error a line of a batch request ends with. Each carries the exact line and the tool's own
// message, and says how sure we are about what happened to the line, so that a caller can tell
// "the kernel said no" from "the coprocess died, look again on the next reconcile".
import { FlannelError } from "../errors.ts";
import type { BatchTool } from "./batch-line.ts";

export type KernelBatchFailure =
  /** The tool ran the line and it failed (the kernel or the tool said no). */
  | "rejected"
  /** The tool ran the line and the object was already there (EEXIST, e.g. a lost create race). */
  | "already-exists"
  /** The coprocess died while this line may have been running: applied or not, nobody knows. */
  | "outcome-unknown"
  /** The line never ran: the coprocess could not be (re)started to run it. */
  | "not-run";

export class KernelBatchError extends FlannelError {
  readonly tool: BatchTool;
  /** The request line, exactly as sent. */
  readonly command: string;
  /** The line's position in the request. */
  readonly index: number;
  /** What the tool printed for this line (or what is known about the coprocess's death). */
  readonly kernelMessage: string;
  readonly failure: KernelBatchFailure;

  constructor(tool: BatchTool, command: string, index: number, kernelMessage: string, failure: KernelBatchFailure) {
    const text = kernelMessage === "" ? "failed" : kernelMessage;
    super("kernel-command-failed", `${tool} ${command}: ${text}`, {
      details: { tool, command, message: kernelMessage, index, failure },
    });
    this.name = "KernelBatchError";
    this.tool = tool;
    this.command = command;
    this.index = index;
    this.kernelMessage = kernelMessage;
    this.failure = failure;
  }
}

export interface KernelBatchResult {
  /** One per failed line, in request order. Empty means every line applied. */
  readonly errors: readonly KernelBatchError[];
  /**
   * Request indices of delete lines whose object was already absent. Not errors: the state the
   * caller asked for holds (house style: "already gone" is a normal outcome).
   */
  readonly alreadyGone: readonly number[];
}
