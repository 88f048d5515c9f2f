// The lab's API server as a process of its own, started inside the lab's fabric namespace so
// that every node reaches it over the underlay, as a cluster's nodes reach their API server:
//   node apiserver-main.ts --state-dir DIR --host 198.18.0.254 --port 6443
// It serves HTTPS on HOST:PORT for flanneld and kubectl, and a control socket (plain HTTP on a
// Unix socket, DIR/control.sock) through which the lab — which runs in the root namespace and
// cannot reach the fabric's addresses — creates fixtures, flips faults, and takes the server
// down and up. When it is listening it writes DIR/server.json (url, CA file, admin token).
// SIGTERM/SIGINT close it.
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startKubeApiServer, type KubeApiServer } from "../kube-api/server.ts";

export interface ServerInfo {
  readonly url: string;
  readonly caFile: string;
  readonly adminToken: string;
  readonly pid: number;
}

/** What the control socket answers: one operation of the server's TypeScript API by name. */
function controlOperations(api: KubeApiServer): Record<string, (...args: never[]) => unknown> {
  return {
    "store.create": (object: never) => api.store.create(object),
    // Many objects in one request (the benchmarks create 5000 Nodes at once: one request each
    // would cost a socket each); created in order, stops at the first error; answers the count.
    "store.createMany": (objects: never) => (objects as Parameters<typeof api.store.create>[0][]).map((object) => api.store.create(object)).length,
    "store.get": (kind: never, name: never, namespace: never) => api.store.get(kind, name, namespace) ?? null,
    "store.list": (kind: never, namespace: never) => api.store.list(kind, namespace),
    "store.patch": (kind: never, name: never, patch: never, options: never) => api.store.patch(kind, name, patch, options),
    "store.delete": (kind: never, name: never, namespace: never) => api.store.delete(kind, name, namespace),
    "faults.set": (changes: never) => api.faults.set(changes),
    "faults.reset": () => api.faults.reset(),
    "faults.expireWatches": () => api.faults.expireWatches(),
    "faults.closeWatches": () => api.faults.closeWatches(),
    "faults.resetWatches": () => api.faults.resetWatches(),
    "faults.sendBookmarks": () => api.faults.sendBookmarks(),
    "faults.compactHistory": (rv: never) => api.faults.compactHistory(rv),
    "faults.jumpResourceVersion": (by: never) => api.faults.jumpResourceVersion(by),
    "serviceAccountToken": (namespace: never, name: never) => api.serviceAccountToken(namespace, name),
    "stop": () => api.stop(),
    "start": () => api.start(),
  };
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function answer(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(body));
}

const { values } = parseArgs({
  options: { "state-dir": { type: "string" }, host: { type: "string" }, port: { type: "string" } },
});
const stateDir = values["state-dir"];
const host = values.host ?? "127.0.0.1";
const port = Number(values.port ?? "6443");
if (stateDir === undefined || !Number.isInteger(port)) throw new Error("usage: apiserver-main.ts --state-dir DIR [--host IP] [--port N]");

const api = await startKubeApiServer({ stateDir, host, port, certHosts: ["kubernetes", "kubernetes.default", "kubernetes.default.svc"] });
const operations = controlOperations(api);
const socketPath = join(stateDir, "control.sock");
rmSync(socketPath, { force: true });
const control = createServer((request, response) => {
  void (async () => {
    try {
      const { op, args } = JSON.parse(await readBody(request)) as { op: string; args?: unknown[] };
      const operation = operations[op];
      if (operation === undefined) return answer(response, 404, { error: { message: `unknown operation ${op}` } });
      const result = await (operation as (...args: unknown[]) => unknown)(...(args ?? []));
      answer(response, 200, { result: result ?? null });
    } catch (error) {
      const status = error as { code?: unknown; body?: unknown; message?: string };
      answer(response, 200, { error: { message: status.message ?? String(error), code: status.code ?? null, body: status.body ?? null } });
    }
  })();
});
await new Promise<void>((resolve) => control.listen(socketPath, resolve));
const info: ServerInfo = { url: api.url, caFile: api.caFile, adminToken: api.adminToken, pid: process.pid };
writeFileSync(join(stateDir, "server.json.tmp"), JSON.stringify(info));
// Renamed into place so the lab never reads half a file.
renameSync(join(stateDir, "server.json.tmp"), join(stateDir, "server.json"));

for (const name of ["SIGTERM", "SIGINT"] as const) {
  process.once(name, () => {
    control.close();
    void api.close().then(() => process.exit(0));
  });
}
