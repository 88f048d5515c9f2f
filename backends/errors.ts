// The one error root of flannel-ts. It lives at the bottom of the house (backends/) because
// imports run one way only (cni-shim → agent → backends): every layer can throw and catch it.
//
// Callers branch on `code`, never on message text. `details` carries what an operator needs to
// fix the problem (the field, the flag, the value, the command line) in machine-readable form.

export type FlannelErrorCode =
  | "netconf-invalid" //        net-conf.json / <prefix>/config does not parse or validate
  | "flag-unknown" //           a command-line flag flanneld does not have
  | "flag-invalid" //           a flag or FLANNELD_* value that does not parse or is out of range
  | "subnet-env-invalid" //     subnet.env is missing a variable or holds a bad value
  | "subnet-env-io" //          subnet.env could not be read or written
  | "interface-not-found" //    no interface matches --iface / --iface-regex / --iface-can-reach / default route
  | "interface-invalid" //      the chosen interface cannot be used (no address, MTU 0, bad --public-ip)
  | "kernel-command-failed" //  ip / bridge / iptables / nft exited non-zero
  | "kernel-output-invalid" //  a kernel tool printed something we could not parse
  | "runtime-unsupported" //    started on a Node older than the pinned one
  | "lease-invalid" //          a lease key or lease JSON that does not parse
  | "out-of-subnets" //         no free subnet left between SubnetMin and SubnetMax
  | "lease-conflict" //         lost the create race too many times in a row
  | "etcd-unavailable" //       no etcd endpoint answered (down, unreachable, TLS refused)
  | "etcd-request-failed" //    etcd answered with an error (auth, permission, bad request)
  | "etcd-tls-invalid" //       certificate/key/CA files missing or unreadable
  | "unsupported" //            a valid Flannel setting this version of flannel-ts does not implement yet
  | "host-unsuitable"; //       the host lacks something flanneld requires (e.g. br_netfilter)

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
