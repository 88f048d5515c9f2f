// Lines for the `ip -batch` / `bridge -batch` coprocesses, typed by the tool that reads them so a
// `bridge fdb` line can never be sent to `ip`. Every token is checked before it becomes part of
// a line: the batch reader splits on whitespace, treats `#` as a comment and quotes specially,
// and a malformed argument makes `ip` exit — taking the whole coprocess down with it.
import { FlannelError } from "../errors.ts";

export type BatchTool = "ip" | "bridge";

declare const batchToolBrand: unique symbol;
/** One command line for the given tool's batch mode, without the tool's name. */
export type BatchLine<T extends BatchTool> = string & { readonly [batchToolBrand]: T };
export type IpLine = BatchLine<"ip">;
export type BridgeLine = BatchLine<"bridge">;

function unsafe(tool: BatchTool, text: string, reason: string): FlannelError {
  return new FlannelError("kernel-command-failed", `cannot pass ${JSON.stringify(text)} to ${tool} -batch: ${reason}`, {
    details: { tool, command: text, message: reason },
  });
}

const safeToken = /^[^\s"'\\#]+$/;

/** Joins tokens into a line, refusing any token the batch reader would split or reinterpret. */
export function batchLine<T extends BatchTool>(tool: T, tokens: readonly (string | number)[]): BatchLine<T> {
  if (tokens.length === 0) throw unsafe(tool, "", "empty line");
  for (const token of tokens) {
    const text = String(token);
    if (!safeToken.test(text)) throw unsafe(tool, text, "not a plain token (whitespace, quote, backslash or #)");
  }
  return tokens.join(" ") as BatchLine<T>;
}

/** Accepts a line written by hand (tests, one-off commands) after the same checks. */
export function parseBatchLine<T extends BatchTool>(tool: T, text: string): BatchLine<T> {
  return batchLine(tool, text.trim().split(/ +/));
}

/**
 * A device name as the kernel accepts it (1–15 bytes, no `/`, `:` or whitespace). `ip` exits on
 * an invalid `dev` argument instead of failing the one command, so it is refused here.
 */
export function deviceToken(name: string): string {
  if (Buffer.byteLength(name) > 15 || name === "" || name === "." || name === ".." || /[\s/:]/.test(name)) {
    throw new FlannelError("kernel-command-failed", `invalid device name ${JSON.stringify(name)}`, {
      details: { command: name, message: "invalid device name" },
    });
  }
  return name;
}

/** The object (`route`, `neigh`, `fdb`, …) and verb (`replace`, `del`, …) a line starts with. */
export function lineObjectAndVerb(line: string): { readonly object: string; readonly verb: string } {
  const [object = "", verb = ""] = line.split(" ", 2);
  return { object, verb };
}

export function isDeleteLine(line: string): boolean {
  const { verb } = lineObjectAndVerb(line);
  return verb === "del" || verb === "delete";
}
