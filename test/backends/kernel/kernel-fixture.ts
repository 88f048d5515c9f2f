// A node namespace for kernel-layer tests: one underlay node (eth0 = 198.18.0.1/24, gateway
// 198.18.0.254 on the fabric bridge) and the production kernel layer pointed into it through
// the `ip netns exec` prefix. Everything is removed when the suite ends, also on failure.
import { isAlive } from "../../../deploy/lab/tools/exit-guard.ts";
import { createUnderlay, type Namespace, type Underlay } from "../../support/netns.ts";
import { openKernel, type Kernel } from "../../../backends/kernel/kernel.ts";
import type { CoprocessEvent, KernelBatchOptions } from "../../../backends/kernel/batch-coprocess.ts";

export interface KernelNode {
  readonly underlay: Underlay;
  readonly ns: Namespace;
  /** The node's underlay address and device. */
  readonly address: string;
  readonly device: string;
  readonly gateway: string;
  readonly prefix: readonly string[];
  /** Every coprocess start/exit seen by kernels opened through `open`. */
  readonly events: CoprocessEvent[];
  open(batch?: Omit<KernelBatchOptions, "spawner" | "observer">): Kernel;
  remove(): Promise<void>;
}

export async function createKernelNode(): Promise<KernelNode> {
  const underlay = await createUnderlay(1);
  const node = underlay.nodes[0];
  if (node === undefined) throw new Error("underlay without a node");
  const prefix = ["ip", "netns", "exec", node.ns.name];
  const events: CoprocessEvent[] = [];
  const kernels: Kernel[] = [];
  return {
    underlay,
    ns: node.ns,
    address: node.address,
    device: node.device,
    gateway: underlay.gateway,
    prefix,
    events,
    open: (batch = {}) => {
      const kernel = openKernel({ prefix, batch: { ...batch, observer: (event) => events.push(event) } });
      kernels.push(kernel);
      return kernel;
    },
    remove: async () => {
      for (const kernel of kernels) await kernel[Symbol.asyncDispose]();
      await underlay.remove();
    },
  };
}

/** The PIDs of coprocesses that were started and are still alive. */
export function livingCoprocesses(events: readonly CoprocessEvent[]): number[] {
  const started = events.flatMap((event) => (event.kind === "started" && event.pid !== undefined ? [event.pid] : []));
  return started.filter((pid) => isAlive(pid));
}

export function until(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      if (predicate()) resolve();
      else if (Date.now() > deadline) reject(new Error("condition not met in time"));
      else setTimeout(poll, 2);
    };
    poll();
  });
}
