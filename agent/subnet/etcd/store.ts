// The etcd v3 store behind the etcd subnet manager: the one file that imports the etcd3 library
// (unmaintained since 2023, so it is kept replaceable behind store-contract.ts). etcd3 is used
// for its connection pool (gRPC channels, TLS, auth tokens) and its generated RPC clients only.
//
// What this module changes in etcd3's behaviour, and why:
// - Bounded calls: etcd3's default cockatiel policies (3 immediate retries, then a per-host
//   circuit breaker that refuses every call for 5 s after three failures — measured: 4 s of
//   BrokenCircuitError after etcd was back) are replaced by pass-through policies and
//   store-call.ts, which retries a dead endpoint until `requestTimeoutMs` and so succeeds within
//   a few hundred milliseconds of etcd coming back.
// - Watches speak etcd's Watch protocol on a raw stream of their own (store-watch.ts says why
//   etcd3's Watcher is not used); a lost connection ends them with etcd-unavailable and the
//   caller resumes from the last revision it saw, losing and repeating nothing.
// - Lease IDs as bigint, FlannelErrors, AbortSignals, TLS files read and checked up front.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { getCACertificates } from "node:tls";
import {
  ClientClosedError,
  CompareResult,
  CompareTarget,
  Etcd3,
  EtcdLeaseInvalidError,
  Range,
  castGrpcError,
  isRecoverableError,
  type IOptions,
  type IResponseHeader,
} from "etcd3";
import { FlannelError } from "../../../backends/errors.ts";
import { callWithinDeadline, type AttemptFailure } from "./store-call.ts";
import type { EtcdStore, EtcdStoreOptions, EtcdTlsFiles, WatchTarget } from "./store-contract.ts";
import { describeTlsFailure, etcdRequestFailed, etcdTlsInvalid, etcdUnavailable, type EtcdOperation } from "./store-errors.ts";
import { watchUpdates, type WatchStream } from "./store-watch.ts";
import { toEntry, type WireWatchCreateRequest } from "./store-wire.ts";

export const defaultRequestTimeoutMs = 5000;

type FaultHandling = NonNullable<IOptions["faultHandling"]>;
type Policy = NonNullable<FaultHandling["global"]>;
type Credentials = NonNullable<IOptions["credentials"]>;
type CallOptions = NonNullable<Parameters<Etcd3["kv"]["range"]>[1]>;

const neverAborted = new AbortController().signal;
const noSubscription = (): { dispose(): void } => ({ dispose: () => {} });

/** etcd3 only calls execute(); the other members exist to satisfy cockatiel's IPolicy type. */
const passThrough: Policy = {
  get _altReturn(): never {
    throw new Error("IPolicy._altReturn is a type-only member");
  },
  onSuccess: noSubscription,
  onFailure: noSubscription,
  execute: async (fn) => fn({ signal: neverAborted }),
};

const closedError = (): Error => new Error("the etcd store is closed");

async function* failing(error: unknown): AsyncGenerator<never, void, undefined> {
  throw error;
}

async function readTlsFile(file: string, role: "certificate" | "key" | "CA"): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw etcdTlsInvalid(file, role, error);
  }
  // Parse now so a bad file is reported by name, not as an opaque handshake failure later.
  try {
    if (role === "key") createPrivateKey(bytes);
    else new X509Certificate(bytes);
  } catch (error) {
    throw etcdTlsInvalid(file, role, error);
  }
  return bytes;
}

/** Flannel without --etcd-cafile trusts the system's roots (Go's system pool); so does this. */
function systemRoots(): Buffer {
  const pems = new Set([...getCACertificates("system"), ...getCACertificates("default")]);
  return Buffer.from([...pems].join("\n"));
}

async function credentialsFor(tls: EtcdTlsFiles | undefined, secure: boolean): Promise<Credentials | undefined> {
  if (tls === undefined) return secure ? { rootCertificate: systemRoots() } : undefined;
  const [certChain, privateKey, rootCertificate] = await Promise.all([
    readTlsFile(tls.certFile, "certificate"),
    readTlsFile(tls.keyFile, "key"),
    tls.caFile === undefined ? systemRoots() : readTlsFile(tls.caFile, "CA"),
  ]);
  return { certChain, privateKey, rootCertificate };
}

function schemeOf(endpoints: readonly string[]): boolean {
  const secure = endpoints.filter((endpoint) => endpoint.startsWith("https://")).length;
  if (secure !== 0 && secure !== endpoints.length) {
    throw new FlannelError("flag-invalid", `--etcd-endpoints mixes http:// and https:// endpoints: ${endpoints.join(",")}`, {
      details: { flag: "etcd-endpoints", value: endpoints.join(",") },
    });
  }
  return secure !== 0;
}

function classifyFailure(error: unknown): AttemptFailure {
  if (error instanceof ClientClosedError) return "unavailable";
  // Stream errors reach us as gRPC-js's plain errors; etcd3 types them by status code.
  const typed = error instanceof Error ? castGrpcError(error) : error;
  if (typed instanceof Error && isRecoverableError(typed)) {
    // A refused certificate will be refused again: say so now instead of at the deadline.
    return describeTlsFailure(typed) === undefined ? "retry" : "unavailable";
  }
  return "failed";
}

const revisionOf = (header: IResponseHeader): bigint => BigInt(header.revision);

function watchRequest(target: WatchTarget, afterRevision: bigint): WireWatchCreateRequest {
  const start_revision = (afterRevision + 1n).toString();
  if ("key" in target) return { key: Buffer.from(target.key), start_revision, progress_notify: true };
  const range = Range.prefix(target.prefix);
  return { key: range.start, range_end: range.end, start_revision, progress_notify: true };
}

/**
 * Builds the client; it connects lazily, so this fails only on bad options or unusable TLS files
 * (etcd-tls-invalid), never because etcd is down. Async because it reads the TLS files.
 */
export async function connectEtcdStore(options: EtcdStoreOptions): Promise<EtcdStore & AsyncDisposable> {
  const endpoints = [...options.endpoints];
  if (endpoints.length === 0) {
    throw new FlannelError("flag-invalid", "no etcd endpoints given", { details: { flag: "etcd-endpoints" } });
  }
  const timeoutMs = options.requestTimeoutMs ?? defaultRequestTimeoutMs;
  // One silent endpoint must leave time to try the others within one call.
  const attemptTimeoutMs = endpoints.length > 1 ? Math.max(1000, Math.ceil(timeoutMs / endpoints.length)) : timeoutMs;
  const credentials = await credentialsFor(options.tls, schemeOf(endpoints));

  // One etcd3 client per endpoint, so that this module, not etcd3's random shuffle, chooses
  // where a request goes: it stays with the endpoint that last answered and moves on to the
  // next at once when that one fails.
  const newClient = (endpoint: string): Etcd3 =>
    new Etcd3({
      hosts: endpoint.replace(/\/+$/, ""), // etcd3 passes what follows the scheme to gRPC as host:port
      ...(credentials === undefined ? {} : { credentials }),
      ...(options.username === undefined ? {} : { auth: { username: options.username, password: options.password ?? "" } }),
      grpcOptions: {
        // Detect a silently dead connection under a watch (etcd3 issue #153); etcd accepts pings
        // every 5 s or slower while a stream is open, and none without one.
        "grpc.keepalive_time_ms": 10_000,
        "grpc.keepalive_timeout_ms": 5_000,
        // Reconnect promptly after an etcd restart instead of after gRPC's 1 s → 120 s backoff.
        "grpc.initial_reconnect_backoff_ms": 200,
        "grpc.max_reconnect_backoff_ms": 1_000,
        // Like Go's clientv3 (math.MaxInt32): a large lease list must not fail at 4 MB.
        "grpc.max_receive_message_length": -1,
      },
      // The per-call deadline below overrides this; it bounds etcd3's own authenticate call.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeoutMs }),
      faultHandling: { host: () => passThrough, global: passThrough },
    });
  let clients: Etcd3[];
  try {
    clients = endpoints.map(newClient);
  } catch (error) {
    // gRPC rejects a key that does not match its certificate when building the credentials.
    const file = options.tls === undefined ? endpoints.join(",") : `${options.tls.certFile} / ${options.tls.keyFile}`;
    throw etcdTlsInvalid(file, "certificate", error);
  }
  /** Index of the endpoint that answered last: each call tries it first, then the others in turn. */
  let preferred = 0;
  const nthClient = (start: number, attemptNumber: number): { client: Etcd3; index: number } => {
    const index = (start + attemptNumber - 1) % clients.length;
    return { client: clients[index]!, index };
  };

  let closed = false;
  const stopWatches = new Set<() => void>();
  // etcd3's IDuplexStream<IWatchRequest, IWatchResponse> is checked against WatchStream here.
  const openWatchStream = (attemptNumber: number): Promise<WatchStream> => nthClient(preferred, attemptNumber).client.watchClient.watch();

  async function call<T>(
    operation: EtcdOperation,
    signal: AbortSignal,
    attempt: (client: Etcd3, callOptions: CallOptions, attemptNumber: number) => Promise<T>,
  ): Promise<T> {
    signal.throwIfAborted();
    if (closed) throw etcdUnavailable(endpoints, operation, closedError());
    const first = preferred;
    const tryOnce = async (deadline: Date, attemptNumber: number): Promise<T> => {
      const { client, index } = nthClient(first, attemptNumber);
      const result = await attempt(client, { deadline }, attemptNumber);
      preferred = index;
      return result;
    };
    return callWithinDeadline(tryOnce, {
      endpoints,
      operation,
      signal,
      timeoutMs,
      attemptTimeoutMs,
      classify: classifyFailure,
    });
  }

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    for (const stop of stopWatches) stop();
    stopWatches.clear();
    for (const client of clients) client.close();
  };

  return {
    async get(key, signal) {
      const response = await call({ name: "get", subject: key }, signal, (client, callOptions) =>
        client.kv.range({ key: Buffer.from(key) }, callOptions),
      );
      const kv = response.kvs[0];
      const revision = revisionOf(response.header);
      return kv === undefined ? { revision } : { entry: toEntry(kv), revision };
    },

    async list(prefix, signal) {
      const range = Range.prefix(prefix);
      const response = await call({ name: "list", subject: prefix }, signal, (client, callOptions) =>
        client.kv.range({ key: range.start, range_end: range.end }, callOptions),
      );
      return { entries: response.kvs.map(toEntry), revision: revisionOf(response.header) };
    },

    async grantLease(ttlSeconds, signal) {
      const operation = { name: "grant lease", subject: `ttl ${ttlSeconds}s` };
      const response = await call(operation, signal, (client, callOptions) => client.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: 0 }, callOptions));
      if (response.error !== "") throw etcdRequestFailed(endpoints, operation, new Error(response.error));
      return BigInt(response.ID);
    },

    async revokeLease(leaseId, signal) {
      signal.throwIfAborted();
      if (leaseId === 0n) return;
      await call({ name: "revoke lease", subject: leaseId.toString() }, signal, (client, callOptions) =>
        client.leaseClient.leaseRevoke({ ID: leaseId.toString() }, callOptions).then(
          () => undefined,
          (error: unknown) => {
            if (error instanceof EtcdLeaseInvalidError) return undefined; // already gone: fine
            throw error;
          },
        ),
      );
    },

    async leaseTimeToLive(leaseId, signal) {
      signal.throwIfAborted();
      if (leaseId === 0n) return undefined; // a key without a lease (a Flannel reservation)
      return call({ name: "lease TTL", subject: leaseId.toString() }, signal, async (client, callOptions) => {
        try {
          const response = await client.leaseClient.leaseTimeToLive({ ID: leaseId.toString() }, callOptions);
          // etcd answers TTL -1, not an error, for a lease that expired or was revoked.
          const ttl = Number(response.TTL);
          return ttl < 0 ? undefined : ttl;
        } catch (error) {
          if (error instanceof EtcdLeaseInvalidError) return undefined;
          throw error;
        }
      });
    },

    async createIfAbsent(key, value, leaseId, signal) {
      const keyBytes = Buffer.from(key);
      const valueBytes = Buffer.from(value);
      const lease = leaseId === 0n ? {} : { lease: leaseId.toString() };
      return call({ name: "create", subject: key }, signal, async (client, callOptions, attemptNumber) => {
        const response = await client.kv.txn(
          {
            compare: [{ key: keyBytes, target: CompareTarget.Version, result: CompareResult.Equal, version: 0 }],
            success: [{ request_put: { key: keyBytes, value: valueBytes, ...lease } }],
            failure: [{ request_range: { key: keyBytes } }],
          },
          callOptions,
        );
        if (response.succeeded) return true;
        if (attemptNumber === 1) return false;
        // A retry after an answer lost in transit: the key may be there because our own first
        // attempt created it. Our value under our (unique) lease means it did.
        const existing = response.responses[0]?.response_range.kvs[0];
        return existing !== undefined && existing.value.equals(valueBytes) && BigInt(existing.lease || 0) === leaseId;
      });
    },

    async put(key, value, leaseId, signal) {
      const lease = leaseId === 0n ? {} : { lease: leaseId.toString() };
      await call({ name: "put", subject: key }, signal, (client, callOptions) =>
        client.kv.put({ key: Buffer.from(key), value: Buffer.from(value), ...lease }, callOptions),
      );
    },

    async delete(key, signal) {
      const response = await call({ name: "delete", subject: key }, signal, (client, callOptions) =>
        client.kv.deleteRange({ key: Buffer.from(key) }, callOptions),
      );
      return BigInt(response.deleted) > 0n;
    },

    watch(target, afterRevision, signal, onEstablished) {
      const operation: EtcdOperation = "key" in target ? { name: "watch", subject: target.key } : { name: "watch prefix", subject: target.prefix };
      if (closed && !signal.aborted) return failing(etcdUnavailable(endpoints, operation, closedError()));
      return watchUpdates(
        {
          openStream: openWatchStream,
          request: watchRequest(target, afterRevision),
          endpoints,
          operation,
          timeoutMs,
          classify: classifyFailure,
          onEstablished,
          onStoreClose: (stop) => {
            stopWatches.add(stop);
            return () => stopWatches.delete(stop);
          },
        },
        signal,
      );
    },

    close,
    [Symbol.asyncDispose]: close,
  };
}
