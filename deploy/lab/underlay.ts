// The lab's underlay: a fabric namespace holding bridge br0 (198.18.0.254/24, the "switch" and
// every node's default gateway) and one namespace per node whose eth0 (198.18.0.i/24) is a veth
// plugged into br0. The veth is created inside the fabric with its peer placed straight into the
// node namespace, so no link ever exists in the root namespace, not even for a moment.
import type { LabLayout } from "./layout.ts";
import { nodeUplink, underlayGateway } from "./layout.ts";
import { addNamespace, execIn, ipBatchIn } from "./namespace.ts";
import type { Ledger } from "./state.ts";

/** Creates the fabric and every node namespace; each name is recorded before it is created. */
export async function createUnderlay(layout: LabLayout, ledger: Ledger, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  ledger.namespace(layout.fabricNs);
  await addNamespace(layout.fabricNs);
  for (const node of layout.nodes) {
    signal.throwIfAborted();
    ledger.namespace(node.ns);
    await addNamespace(node.ns);
  }
  await ipBatchIn(layout.fabricNs, [
    "link add br0 type bridge",
    `addr add ${underlayGateway}/24 dev br0`,
    "link set br0 up",
    ...layout.nodes.flatMap((node) => [
      `link add port${node.index} type veth peer name ${nodeUplink} netns ${node.ns}`,
      `link set port${node.index} master br0 up`,
    ]),
  ]);
  await Promise.all(
    layout.nodes.map(async (node) => {
      await ipBatchIn(node.ns, [
        `addr add ${node.publicIP}/24 dev ${nodeUplink}`,
        `link set ${nodeUplink} up`,
        `route add default via ${underlayGateway}`,
      ]);
      // A node routes for its pods (the bridge plugin's isGateway would also turn this on).
      await execIn(node.ns, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
    }),
  );
}
