// The peer probes' error codes.

export type ProbeErrorCode = "probe-socket-failed"; // a raw ICMP socket could not be opened (no CAP_NET_RAW, no IPv6)

declare module "../../../backends/errors.ts" {
  interface FlannelErrorCodes extends Record<ProbeErrorCode, true> {}
}
