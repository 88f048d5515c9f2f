// The Kubernetes subnet manager's error codes.

export type KubeErrorCode =
  | "kube-config-invalid" //  kubeconfig / in-cluster files / annotation prefix / env variables unusable
  | "kube-unavailable" //     the API server could not be reached, or answered 5xx/429 for too long
  | "kube-request-failed" //  the API server refused a request (401, 403, 404, 422…)
  | "kube-node-invalid"; //   this node cannot hold a lease: no podCIDR, outside Network, bad annotations

declare module "../../../backends/errors.ts" {
  interface FlannelErrorCodes extends Record<KubeErrorCode, true> {}
}
