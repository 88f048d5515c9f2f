// Error codes every subnet manager shares: leases that do not parse, an exhausted network.

export type SubnetErrorCode =
  | "lease-invalid" //   a lease key or lease JSON that does not parse
  | "out-of-subnets" //  no free subnet left between SubnetMin and SubnetMax
  | "lease-conflict"; // lost the create race too many times in a row

declare module "../../backends/errors.ts" {
  interface FlannelErrorCodes extends Record<SubnetErrorCode, true> {}
}
