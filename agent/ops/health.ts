// flanneld's health endpoints (--healthz-ip/--healthz-port; Flannel serves /healthz only):
//   /healthz  200 while the process is up and serving (liveness: a datastore outage never fails it,
//             so kubelet never restarts every agent at once);
//   /readyz   200 "ok" while every readiness condition holds (readiness.ts), else 503 with each
//             failing condition on a line of its own;
//   /metrics  the Prometheus text format (metrics.ts), when the daemon hands in an endpoint.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { FlannelError } from "../../backends/errors.ts";
import type { MetricsEndpoint } from "./metrics.ts";
import type { Readiness } from "./readiness.ts";

export interface HealthServer extends AsyncDisposable {
  /** The port actually bound (useful with port 0 in tests). */
  readonly port: number;
  close(): Promise<void>;
}

export async function startHealthServer(
  host: string,
  port: number,
  readiness: Readiness,
  metrics?: Pick<MetricsEndpoint, "contentType" | "render">,
): Promise<HealthServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    const reply = (status: number, body: string, contentType = "text/plain; charset=utf-8"): void => {
      response.writeHead(status, { "content-type": contentType, "cache-control": "no-store" });
      response.end(body.endsWith("\n") ? body : `${body}\n`);
    };
    if (request.method !== "GET" && request.method !== "HEAD") return reply(405, "method not allowed");
    if (path === "/healthz") return reply(200, "ok");
    if (path === "/readyz") {
      const problems = readiness.problems();
      return problems.length === 0 ? reply(200, "ok") : reply(503, problems.join("\n"));
    }
    if (path === "/metrics" && metrics !== undefined) {
      metrics.render().then(
        (text) => reply(200, text, metrics.contentType),
        (error: unknown) => reply(500, `cannot render metrics: ${error instanceof Error ? error.message : String(error)}`),
      );
      return;
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
