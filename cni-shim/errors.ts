// The CNI error result: what the plugin prints on stdout, with a non-zero exit, when an
// operation fails. Its codes are the numbers the CNI spec reserves (1–99), so this is not a
// FlannelError (whose codes are our own strings): a CniError is the protocol's answer, and
// whatever fails inside (a FlannelError from subnet.env parsing, an fs error) is its `cause`.

export const cniErrorCodes = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3, //       the runtime need not clean anything up
  invalidEnvironment: 4, //     the message must name the variables
  ioFailure: 5,
  decodingFailure: 6,
  invalidNetworkConfig: 7,
  tryAgainLater: 11, //         a transient condition: the runtime should retry
  pluginNotAvailable: 50, //    STATUS: ADD would fail now
  internal: 999, //             a bug; the number libcni uses for "internal error"
} as const;

export type CniErrorCode = (typeof cniErrorCodes)[keyof typeof cniErrorCodes];

export interface CniErrorOptions {
  readonly details?: string;
  readonly cause?: unknown;
}

export class CniError extends Error {
  readonly code: CniErrorCode;
  /** The spec's optional longer description; empty when the message says it all. */
  readonly details: string;

  constructor(code: CniErrorCode, message: string, options: CniErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "CniError";
    this.code = code;
    this.details = options.details ?? "";
  }
}

/** The spec's error object; `cniVersion` is the configuration's (the spec says so). */
export function formatCniError(error: CniError, cniVersion: string): string {
  const body: Record<string, string | number> = { cniVersion, code: error.code, msg: error.message };
  if (error.details !== "") body.details = error.details;
  return `${JSON.stringify(body)}\n`;
}

/** Any thrown value as a CniError: ours pass through, anything else is a bug (code 999). */
export function asCniError(error: unknown): CniError {
  if (error instanceof CniError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new CniError(cniErrorCodes.internal, `internal error: ${message}`, { cause: error });
}

/** The message of whatever was thrown (an fs error says what it did, e.g. "EISDIR: …, read"). */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The errno name of a system error ("ENOENT"), if it is one. */
export function errnoCode(error: unknown): string | undefined {
  return typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : undefined;
}
