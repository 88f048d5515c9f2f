// The etcd subnet manager: Flannel's keys and lease JSON in an etcd v3 cluster, so that Flannel
// nodes and flannel-ts nodes can share one etcd (F:pkg/subnet/etcd/). The network config lives
// at <prefix>/config, one lease per node at <prefix>/subnets/<subnet key>.
import { setTimeout as sleep } from "node:timers/promises";
import { FlannelError, isFlannelError } from "../../../backends/errors.ts";
import { checkNetConf } from "../../config/net-conf-check.ts";
import { parseNetConf, type CheckedNetConf } from "../../config/net-conf.ts";
import type { PreviousSubnetEnv } from "../../config/subnet-env.ts";
import type { Log } from "../../ops/log.ts";
import type { DatastoreObserver } from "../datastore-observer.ts";
import { configKey, subnetKey } from "../keys.ts";
import type { Lease, LeaseAttrs, LeaseEvent, NodeHints, SubnetManager } from "../manager.ts";
import { acquireLease, rewriteLease, type AcquireContext } from "./etcd-acquire.ts";
import { watchLeases, watchOwnLease } from "./etcd-watch.ts";
import { keepLease, type OwnLeaseEvent, type OwnLeaseSource } from "./lease-keeper.ts";
import { observeStore } from "./observed-store.ts";
import type { EtcdStore } from "./store-contract.ts";

/** Flannel's subnetTTL: every lease is an etcd lease of 24 h. */
export const defaultLeaseTtlSeconds = 24 * 60 * 60;

export interface EtcdSubnetManagerOptions {
  readonly store: EtcdStore;
  /** --etcd-prefix, default /coreos.com/network */
  readonly prefix: string;
  readonly log: Log;
  /** The subnets of the previous subnet.env: the second choice after a lease for our PublicIP. */
  readonly previous?: PreviousSubnetEnv;
  /** Tests shorten this; Flannel's is 24 h. */
  readonly leaseTtlSeconds?: number;
  /** How often a missing config is looked for again (Flannel: every second). */
  readonly configRetryMs?: number;
  readonly random?: () => number;
  /** --subnet-lease-renew-margin in ms: renew this long before the lease runs out (Flannel: 60 min). */
  readonly renewMarginMs?: number;
  /** Flannel retries a failed renewal after one minute. */
  readonly retryAfterFailureMs?: number;
  /** Called with the own lease after every renewal or outside change. */
  readonly onLeaseChanged?: (lease: Lease) => void;
  /** Hears of failed requests, watch state and lease changes (metrics, readiness). */
  readonly observer?: DatastoreObserver;
}

/**
 * The etcd manager also exposes how it renews and follows its own lease (its keeper uses them;
 * tests drive them directly). The daemon sees only SubnetManager.
 */
export interface EtcdSubnetManager extends SubnetManager, OwnLeaseSource {}

/**
 * Reads and checks <prefix>/config once: undefined when the key is absent; a netconf-invalid
 * error naming the key when it does not parse or check.
 */
async function readConfig(store: EtcdStore, prefix: string, signal: AbortSignal): Promise<CheckedNetConf | undefined> {
  const key = configKey(prefix);
  const { entry } = await store.get(key, signal);
  if (entry === undefined) return undefined;
  try {
    return checkNetConf(parseNetConf(entry.value));
  } catch (error) {
    if (!isFlannelError(error, "netconf-invalid")) throw error;
    throw new FlannelError("netconf-invalid", `etcd key ${key}: ${error.message}`, { cause: error, details: { ...error.details, key } });
  }
}

export function createEtcdSubnetManager(options: EtcdSubnetManagerOptions): EtcdSubnetManager {
  const { prefix, observer } = options;
  const store = observer === undefined ? options.store : observeStore(options.store, observer);
  const log = options.log.child({ component: "subnet", store: "etcd" });
  const context: AcquireContext = {
    store,
    prefix,
    leaseTtlSeconds: options.leaseTtlSeconds ?? defaultLeaseTtlSeconds,
    previous: options.previous ?? {},
    random: options.random ?? Math.random,
    log,
  };
  let closed = false;
  // The keeper runs from a successful acquire until close().
  const keeperStop = new AbortController();
  let keeping: Promise<unknown> | undefined;
  let reportLost: (outcome: "revoked") => void = () => {};
  const lost = new Promise<"revoked">((resolve) => (reportLost = resolve));

  /** The config, waiting while the key is missing or etcd cannot be reached (as Flannel does). */
  async function networkConfig(signal: AbortSignal): Promise<CheckedNetConf> {
    let lastProblem = "";
    for (;;) {
      signal.throwIfAborted();
      let problem: string;
      try {
        const conf = await readConfig(store, prefix, signal);
        if (conf !== undefined) return conf;
        problem = `flannel config not found in etcd store at ${configKey(prefix)}. Did you create your config using etcdv3 API?`;
      } catch (error) {
        if (!isFlannelError(error, "etcd-unavailable")) throw error;
        problem = error.message;
      }
      // One line per change of problem, not one per second.
      if (problem !== lastProblem) log.warn(`waiting for the network config: ${problem}`, { key: configKey(prefix) });
      lastProblem = problem;
      await sleep(options.configRetryMs ?? 1000, undefined, { signal });
    }
  }

  async function renew(lease: Lease, signal: AbortSignal): Promise<Lease> {
    // Flannel's RenewLease: a brand-new 24 h etcd lease and an unconditional put of the value.
    const renewed = await rewriteLease(context, lease, lease.attrs, lease.reservation === true, signal);
    log.info(renewed.reservation ? "reservation confirmed" : "lease renewed", {
      key: subnetKey(prefix, lease),
      ...(renewed.expiresAt === undefined ? {} : { expiresAt: renewed.expiresAt.toISOString() }),
    });
    return renewed;
  }

  function watchOwn(lease: Lease, signal: AbortSignal): AsyncIterable<OwnLeaseEvent> {
    return watchOwnLease({ store, prefix, log, observer }, subnetKey(prefix, lease), lease, signal);
  }

  return {
    networkConfig,

    async nodeHints(): Promise<NodeHints> {
      // etcd keeps nothing about a node besides its lease: the interface and a fresh MAC decide.
      return {};
    },

    async acquire(attrs: LeaseAttrs, signal: AbortSignal): Promise<Lease> {
      // Flannel reads (and checks) the config again for every acquire.
      const conf = await networkConfig(signal);
      const lease = await acquireLease(context, conf, attrs, signal);
      if (keeping === undefined && !closed) {
        keeping = keepLease(
          {
            source: { renew, watchOwnLease: watchOwn },
            lease,
            renewMarginMs: options.renewMarginMs ?? 60 * 60_000,
            ...(options.retryAfterFailureMs === undefined ? {} : { retryAfterFailureMs: options.retryAfterFailureMs }),
            onLeaseChanged: (changed) => {
              options.onLeaseChanged?.(changed);
              observer?.leaseChanged(changed);
            },
            log,
          },
          keeperStop.signal,
        ).then(
          (outcome) => outcome === "revoked" && reportLost("revoked"),
          (error: unknown) => log.error("the lease keeper stopped", { error: String(error) }),
        );
      }
      return lease;
    },

    renew,
    watchOwnLease: watchOwn,

    watchLeases(signal: AbortSignal): AsyncIterable<readonly LeaseEvent[]> {
      return watchLeases({ store, prefix, log, observer }, signal);
    },

    async markNetworkReady(): Promise<void> {
      // Nothing to mark in etcd: the lease itself says the node is there.
    },

    lost,

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      keeperStop.abort();
      await keeping;
      await store.close();
    },
  };
}
