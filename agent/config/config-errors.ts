// The configuration layer's error codes: flags, net-conf.json, subnet.env, interface selection.

export type ConfigErrorCode =
  | "netconf-invalid" //      net-conf.json / <prefix>/config does not parse or validate
  | "flag-unknown" //         a command-line flag flanneld does not have
  | "flag-invalid" //         a flag or FLANNELD_* value that does not parse or is out of range
  | "subnet-env-invalid" //   subnet.env is missing a variable or holds a bad value
  | "subnet-env-io" //        subnet.env could not be read or written
  | "interface-not-found" //  no interface matches --iface / --iface-regex / --iface-can-reach / default route
  | "interface-invalid" //    the chosen interface cannot be used (no address, MTU 0, bad --public-ip)
  | "runtime-unsupported"; // started on a Node older than the pinned one

declare module "../../backends/errors.ts" {
  interface FlannelErrorCodes extends Record<ConfigErrorCode, true> {}
}
