// What the lab shows of its cluster in kube mode, through the real kubectl (1.35) against the
// lab's API server: the nodes as `kubectl get nodes -o wide` prints them, and the flannel
// annotations each agent wrote on its Node.
import type { LabKubeApi } from "./apiserver.ts";

const annotation = (name: string): string => `.metadata.annotations.flannel\\.alpha\\.coreos\\.com/${name}`;

export const flannelAnnotationColumns = [
  "NAME:.metadata.name",
  "POD-CIDR:.spec.podCIDR",
  `PUBLIC-IP:${annotation("public-ip")}`,
  `BACKEND:${annotation("backend-type")}`,
  `BACKEND-DATA:${annotation("backend-data")}`,
  `MANAGED:${annotation("kube-subnet-manager")}`,
].join(",");

/** Lines to print: each command as a shell would show it, then its output. */
export async function kubectlView(api: LabKubeApi): Promise<string[]> {
  const lines: string[] = [];
  for (const args of [
    ["get", "nodes", "-o", "wide"],
    ["get", "nodes", "-o", `custom-columns=${flannelAnnotationColumns}`],
  ]) {
    const result = await api.kubectl(args, { allowFailure: true });
    lines.push(`$ kubectl ${args.map((arg) => (arg.includes(",") ? `'${arg}'` : arg)).join(" ")}`);
    lines.push(...(result.code === 0 ? result.stdout : `(exit ${result.code}) ${result.stderr}`).trimEnd().split("\n"));
    lines.push("");
  }
  return lines;
}
