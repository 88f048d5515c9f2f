// The udp data plane's error codes (dgram-native). Every one carries `details.syscall` and
// `details.errno` (the errno name, e.g. "EPERM", "EADDRINUSE") when a system call refused.

export type DgramNativeErrorCode =
  | "udp-dataplane-failed" //  opening the data plane failed: TUN, socket, bind, thread start
  | "udp-dataplane-unavailable" //  the addon is not built or does not load (run `npm ci`)
  | "udp-peer-invalid"; //  a peer entry that is no IPv4 subnet / address

declare module "../errors.ts" {
  interface FlannelErrorCodes extends Record<DgramNativeErrorCode, true> {}
}
