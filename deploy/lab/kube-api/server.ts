// The lab's Kubernetes API server: HTTPS with a CA made at start, bearer tokens and RBAC, an
// in-memory store with one global resourceVersion, and the wire behaviour flanneld (client-node),
// kubectl 1.20 and kubectl 1.35 rely on (kube-api.md). Its public surface, for the lab and tests:
//   const api = await startKubeApiServer({ stateDir });
//   api.store.create({ kind: "Node", apiVersion: "v1", metadata: { name: "n1" }, spec: { podCIDR: "10.244.1.0/24" } });
//   api.store.patch("Node", "n1", { metadata: { annotations: { a: "b" } } }, { subresource: "status" });
//   api.faults.set({ watchHttp410: 1 }); api.faults.expireWatches(); await api.stop(); await api.start();
// Store calls bypass HTTP and auth but follow the same rules (strategies, validation, RV, events)
// and throw KubeStatusError (with .code and .body, the Status the HTTP API would answer).
import { createServer, type Server } from "node:https";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { TokenAuthenticator } from "./auth.ts";
import { makeFaultControls, makeFixtureStore, resourceOf, type FixtureStore, type KubeApiFaults } from "./controls.ts";
import { defaultFaultSettings } from "./faults.ts";
import { objectKey } from "./object.ts";
import { Registry } from "./registry.ts";
import { createRequestListener } from "./router.ts";
import { ObjectStore } from "./store.ts";
import { makeServingCertificates } from "./tls.ts";
import { WatchHub } from "./watch.ts";

export { KubeStatusError } from "./errors.ts";
export type { KubeObject } from "./object.ts";
export type { FaultSettings } from "./faults.ts";
export type { PatchType } from "./patch.ts";
export type { FixtureStore, KubeApiFaults } from "./controls.ts";

export interface KubeApiServerOptions {
  /** Certificates and kubeconfigs go here. */
  readonly stateDir: string;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** 0 (default): any free port, kept across stop()/start(). */
  readonly port?: number;
  /** Extra IP addresses or DNS names for the serving certificate. */
  readonly certHosts?: readonly string[];
  /** One line per request and per unexpected error. */
  readonly log?: (line: string) => void;
}

export interface KubeApiServer {
  /** https://HOST:PORT */
  readonly url: string;
  /** PEM of the CA that signed the serving certificate. */
  readonly caFile: string;
  readonly adminToken: string;
  /** Writes a kubeconfig file (server, CA inline, token) and returns its path. */
  writeKubeconfig(path: string, token: string): Promise<string>;
  /** Mints a bearer token for system:serviceaccount:NS:NAME (valid while that ServiceAccount exists; RBAC applies). */
  serviceAccountToken(namespace: string, name: string): string;
  readonly store: FixtureStore;
  readonly faults: KubeApiFaults;
  /** Goes down: stops listening and drops every connection (clients see refused connections). */
  stop(): Promise<void>;
  /** Comes back on the same address and port, with the same store. */
  start(): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}

const initialNamespaces = ["default", "kube-system", "kube-public", "kube-node-lease"];

export async function startKubeApiServer(options: KubeApiServerOptions): Promise<KubeApiServer> {
  const host = options.host ?? "127.0.0.1";
  const log = options.log ?? (() => {});
  const certificates = await makeServingCertificates(join(options.stateDir, "pki"), [host, ...(options.certHosts ?? [])]);
  const store = new ObjectStore();
  const registry = new Registry(store);
  const auth = new TokenAuthenticator(store);
  const settings = defaultFaultSettings();
  const watches = new WatchHub(store, settings);
  let port = options.port ?? 0;
  const address = (): string => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`);

  // The ServiceAccount controller: every namespace gets a "default" ServiceAccount, a moment later.
  const serviceAccountType = resourceOf("ServiceAccount");
  const unsubscribe = store.subscribe((event) => {
    if (event.type !== "ADDED" || event.resource.kind !== "Namespace") return;
    const namespace = event.object.metadata.name!;
    setImmediate(() => {
      if (store.get(serviceAccountType, objectKey(namespace, "default")) !== undefined) return;
      try {
        registry.create(serviceAccountType, namespace, { metadata: { name: "default" } });
      } catch {
        // the namespace went away meanwhile
      }
    });
  });
  for (const name of initialNamespaces) registry.create(resourceOf("Namespace"), undefined, { metadata: { name } });

  const listener = createRequestListener({ registry, auth, watches, faults: settings, serverAddress: address, log });
  let server: Server | undefined;
  const listen = async (): Promise<void> => {
    if (server !== undefined) return;
    const next = createServer({ key: certificates.keyPem, cert: certificates.certPem }, listener);
    await new Promise<void>((resolve, reject) => {
      next.once("error", reject);
      next.listen(port, host, () => {
        next.off("error", reject);
        resolve();
      });
    });
    const bound = next.address();
    if (bound !== null && typeof bound === "object") port = bound.port;
    server = next;
  };
  const stop = async (): Promise<void> => {
    const current = server;
    if (current === undefined) return;
    server = undefined;
    const closed = new Promise<void>((resolve) => current.close(() => resolve()));
    current.closeAllConnections();
    await closed;
  };
  await listen();
  let closed = false;

  const fixtureStore = makeFixtureStore(registry);
  const faults = makeFaultControls(store, watches, settings);

  return {
    get url() {
      return `https://${address()}`;
    },
    caFile: certificates.caFile,
    adminToken: auth.adminToken,
    async writeKubeconfig(path, token) {
      const kubeconfig = {
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "lab", cluster: { server: `https://${address()}`, "certificate-authority-data": Buffer.from(certificates.caPem).toString("base64") } }],
        users: [{ name: "lab-user", user: { token } }],
        contexts: [{ name: "lab", context: { cluster: "lab", user: "lab-user" } }],
        "current-context": "lab",
      };
      await writeFile(path, `${JSON.stringify(kubeconfig, null, 2)}\n`, { mode: 0o600 });
      return path;
    },
    serviceAccountToken: (namespace, name) => auth.mint(namespace, name),
    store: fixtureStore,
    faults,
    stop,
    start: listen,
    async close() {
      if (closed) return;
      closed = true;
      unsubscribe();
      registry.close();
      watches.closeAll();
      await stop();
    },
  };
}
