// The etcd subnet manager's error codes.

export type EtcdErrorCode =
  | "etcd-unavailable" //     no etcd endpoint answered (down, unreachable, TLS refused)
  | "etcd-request-failed" //  etcd answered with an error (auth, permission, bad request)
  | "etcd-tls-invalid"; //    certificate/key/CA files missing or unreadable

declare module "../../../backends/errors.ts" {
  interface FlannelErrorCodes extends Record<EtcdErrorCode, true> {}
}
