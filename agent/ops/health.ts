// flanneld's health endpoints (--healthz-ip/--healthz-port; Flannel serves /healthz only):
//   /healthz  200 while the process is up and serving (liveness);
//   /readyz   200 only once subnet.env is written and the first reconcile succeeded, 503 before,
//             with a one-line reason (readiness: pods may be scheduled here).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { FlannelError } from "../../backends/errors.ts";

export interface Readiness {
  /** undefined when ready; otherwise what is still missing. */
  notReadyReason(): string | undefined;
}

export interface HealthServer extends AsyncDisposable {
  /** The port actually bound (useful with port 0 in tests). */
  readonly port: number;
  close(): Promise<void>;
}

export async function startHealthServer(host: string, port: number, readiness: Readiness): Promise<HealthServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    const reply = (status: number, body: string): void => {
      response.writeHead(status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
      response.end(`${body}\n`);
    };
    if (request.method !== "GET" && request.method !== "HEAD") return reply(405, "method not allowed");
    if (path === "/healthz") return reply(200, "ok");
    if (path === "/readyz") {
      const reason = readiness.notReadyReason();
      return reason === undefined ? reply(200, "ok") : reply(503, `not ready: ${reason}`);
    }
    return reply(404, "not found");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) =>
      reject(new FlannelError("flag-invalid", `cannot serve health endpoints on ${host}:${port}: ${error.message}`, { cause: error, details: { flag: "healthz-port", value: port } })),
    );
    server.listen(port, host, () => resolve());
  });
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closed;
  };
  return { port: (server.address() as AddressInfo).port, close, [Symbol.asyncDispose]: close };
}
