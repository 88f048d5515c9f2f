// Text rendering of the lab's status table and ping matrix. Pure: strings in, lines out.
import type { LabPod } from "./pods.ts";
import { unreachablePairs, type NodeStatus, type PingMatrix } from "./status.ts";

export const reachableMark = "✓";
export const unreachableMark = "✗";

/** Columns padded to the widest cell (string length: every cell here is narrow ASCII or one mark). */
export function formatColumns(rows: readonly (readonly string[])[], gap = "  "): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join(gap).trimEnd());
}

export function formatStatusTable(nodes: readonly NodeStatus[]): string[] {
  return formatColumns([
    ["NODE", "PUBLIC IP", "SUBNET", "BACKEND", "PEERS PROGRAMMED", "READY"],
    ...nodes.map((node) => [
      node.node,
      node.publicIP,
      node.subnet ?? "-",
      node.backend,
      `${node.peersProgrammed}/${node.peersExpected}`,
      node.agent === "ready" ? "yes" : node.agent === "stopped" ? "no (flanneld stopped)" : "no",
    ]),
  ]);
}

/** node1-pod2 → n1p2: column headers stay narrow however many nodes there are. */
export function shortPodName(pod: LabPod): string {
  return pod.name.replace(/^node(\d+)-pod(\d+)$/, "n$1p$2");
}

export function formatPingMatrix(matrix: PingMatrix): string[] {
  const { pods, reachable } = matrix;
  const header = ["from \\ to", "", ...pods.map(shortPodName)];
  const rows = pods.map((from, i) => [
    shortPodName(from),
    from.ip,
    ...pods.map((_, j) => (i === j ? "·" : reachable[i]?.[j] === true ? reachableMark : unreachableMark)),
  ]);
  const pairs = pods.length * (pods.length - 1);
  const failed = unreachablePairs(matrix);
  return [
    ...formatColumns([header, ...rows]),
    `${pairs - failed.length}/${pairs} pod pairs reachable (ping, 1 packet, 1 s timeout)`,
  ];
}

export function formatFailedPairs(matrix: PingMatrix): string[] {
  return unreachablePairs(matrix).map(({ from, to }) => `  ${from.name} (${from.ip}, ${from.node}) ${unreachableMark} ${to.name} (${to.ip}, ${to.node})`);
}
