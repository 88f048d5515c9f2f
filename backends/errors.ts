// The one error root of flannel-ts. It lives at the bottom of the house (backends/) because
// imports run one way only (cni-shim → agent → backends): every layer can throw and catch it.
//
// Callers branch on `code`, never on message text. `details` carries what an operator needs to
// fix the problem (the field, the flag, the value, the command line) in machine-readable form.

/**
 * The registry of error codes. Each layer declares its own codes in its own room by augmenting
 * this interface (`declare module ".../backends/errors.ts" { interface FlannelErrorCodes … }`):
 * agent/config/config-errors.ts, agent/subnet/subnet-errors.ts, agent/subnet/etcd/etcd-errors.ts,
 * agent/subnet/kube/kube-errors.ts. The data plane's own codes are declared here.
 */
export interface FlannelErrorCodes {
  "kernel-command-failed": true; //  ip / bridge / iptables / nft exited non-zero
  "kernel-output-invalid": true; //  a kernel tool printed something we could not parse
  "host-unsuitable": true; //        the host lacks something flanneld requires (e.g. br_netfilter)
  "unsupported": true; //            a valid Flannel setting this version of flannel-ts does not implement
}

export type FlannelErrorCode = keyof FlannelErrorCodes;

export interface FlannelErrorOptions {
  readonly cause?: unknown;
  readonly details?: Readonly<Record<string, unknown>>;
}

export class FlannelError extends Error {
  readonly code: FlannelErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: FlannelErrorCode, message: string, options: FlannelErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "FlannelError";
    this.code = code;
    this.details = options.details ?? {};
  }
}

export function isFlannelError(error: unknown, code?: FlannelErrorCode): error is FlannelError {
  return error instanceof FlannelError && (code === undefined || error.code === code);
}
