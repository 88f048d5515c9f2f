// The node's own lease in kube mode (F:pkg/subnet/kube/kube.go AcquireLease, CompleteLease):
// the subnet is the node's podCIDR (Flannel never allocates here); acquiring means publishing
// the node's backend type, backend data and public IP as annotations, through a strategic merge
// patch of nodes/NAME/status (the stock RBAC allows nothing else), and later setting the
// NetworkUnavailable condition to False.
import { setTimeout as sleep } from "node:timers/promises";
import "./kube-errors.ts";
import { FlannelError, isFlannelError } from "../../../backends/errors.ts";
import { formatCidr } from "../../../backends/net/ip.ts";
import type { NetConf } from "../../config/net-conf.ts";
import type { Log } from "../../ops/log.ts";
import { annotationPatch, wantedAnnotations, type KubeAnnotations } from "./annotations.ts";
import { httpStatusOf, type KubeClient } from "./kube-client.ts";
import type { KubeTiming } from "./kube-options.ts";
import type { Lease, LeaseAttrs } from "./manager-contract.ts";
import { nodeFacts, ownLeaseSubnets, type NodeFacts } from "./node-lease.ts";

/** Flannel's lease expiry in kube mode: now + 24 h, never renewed (nothing expires it). */
export const kubeLeaseLifetimeMs = 24 * 60 * 60 * 1000;

export interface OwnNodeContext {
  readonly client: KubeClient;
  readonly names: KubeAnnotations;
  readonly nodeName: string;
  readonly log: Log;
  readonly timing: KubeTiming;
}

/**
 * Runs `operation` every retryIntervalMs (Flannel: 3 s). A refusal (404 while the node is not
 * registered yet, 403, 422…) fails after retryLimitMs (Flannel: 30 s) with Flannel's message.
 * Beyond Flannel: while the API server cannot be reached or answers 5xx/429 we keep waiting (with
 * one log line), because exiting only puts the pod into CrashLoopBackOff, which delays recovery
 * by up to five minutes after the API server is back. The daemon's signal bounds the wait.
 */
export async function persistently<T>(context: Pick<OwnNodeContext, "log" | "timing" | "nodeName">, what: string, operation: () => Promise<T>, signal: AbortSignal): Promise<T> {
  const deadline = Date.now() + context.timing.retryLimitMs;
  let lastProblem: string | undefined;
  for (;;) {
    signal.throwIfAborted();
    try {
      return await operation();
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (!isFlannelError(error, "kube-unavailable") && !isFlannelError(error, "kube-request-failed")) throw error;
      if (error.code === "kube-request-failed" && Date.now() >= deadline) {
        throw new FlannelError(error.code, `timeout contacting kube-api, failed to ${what}. Error: ${error.message}`, { cause: error, details: error.details });
      }
      if (error.message !== lastProblem) context.log.warn(`${what} failed; retrying`, { node: context.nodeName, error: error.message });
      lastProblem = error.message;
      await sleep(context.timing.retryIntervalMs, undefined, { signal });
    }
  }
}

/** The own node as flannel reads it (GET; Flannel reads its informer cache, filled the same way). */
export async function readOwnNode(context: OwnNodeContext, signal: AbortSignal): Promise<NodeFacts> {
  const node = await persistently(context, `get node ${JSON.stringify(context.nodeName)}`, () => context.client.getNode(context.nodeName, signal), signal);
  return nodeFacts(context.names, node);
}

/**
 * Publishes this node's lease attributes and returns its lease. The pod CIDR is checked against
 * net-conf.json before anything is written (Flannel checks after patching, so a misconfigured
 * node is advertised to its peers and then exits; we advertise nothing).
 */
export async function acquireKubeLease(context: OwnNodeContext, conf: NetConf, attrs: LeaseAttrs, signal: AbortSignal): Promise<Lease> {
  const node = await readOwnNode(context, signal);
  const subnets = ownLeaseSubnets(node, conf);
  const patch = annotationPatch(node.annotations, wantedAnnotations(context.names, node.annotations, attrs));
  if (patch === undefined) {
    context.log.info("node annotations already up to date", { node: context.nodeName });
  } else {
    const overwrite = context.names.publicIPOverwrite[4];
    if (patch.metadata.annotations[context.names.publicIP[4]] !== undefined && (node.annotations[overwrite] ?? "") !== "") {
      context.log.info(`overriding public ip with '${node.annotations[overwrite]}' from node annotation '${overwrite}'`, { node: context.nodeName });
    }
    await persistently(
      context,
      `patch node ${JSON.stringify(context.nodeName)}`,
      () => context.client.patchNodeStatus(context.nodeName, patch, signal),
      signal,
    );
    context.log.info("node annotations published", { node: context.nodeName, annotations: Object.keys(patch.metadata.annotations).join(",") });
  }
  context.log.info("lease acquired from the node's podCIDR", {
    node: context.nodeName,
    ...(subnets.subnet === undefined ? {} : { subnet: formatCidr(subnets.subnet) }),
    ...(subnets.subnetV6 === undefined ? {} : { subnetV6: formatCidr(subnets.subnetV6) }),
  });
  return { ...subnets, attrs, expiresAt: new Date(Date.now() + kubeLeaseLifetimeMs) };
}

/** RFC 3339 at second precision, as Go's metav1.Time marshals. */
function kubeTime(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/** Flannel's setNodeNetworkUnavailableFalse body (NodeCondition fields in Go's order). */
export function networkReadyPatch(now: Date): { status: { conditions: Record<string, string>[] } } {
  const time = kubeTime(now);
  return {
    status: {
      conditions: [
        {
          type: "NetworkUnavailable",
          status: "False",
          lastHeartbeatTime: time,
          lastTransitionTime: time,
          reason: "FlannelIsUp",
          message: "Flannel is running on this node",
        },
      ],
    },
  };
}

/** Sets NetworkUnavailable=False once (Flannel's CompleteLease); a failure is only logged. */
export async function markNodeNetworkReady(context: OwnNodeContext, signal: AbortSignal): Promise<void> {
  context.log.info("setting NodeNetworkUnavailable", { node: context.nodeName });
  try {
    await context.client.patchNodeStatus(context.nodeName, networkReadyPatch(new Date()), signal);
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    context.log.error(`unable to set NetworkUnavailable to False for ${JSON.stringify(context.nodeName)}`, {
      node: context.nodeName,
      error: error instanceof Error ? error.message : String(error),
      ...(httpStatusOf(error) === undefined ? {} : { status: httpStatusOf(error) }),
    });
  }
}
