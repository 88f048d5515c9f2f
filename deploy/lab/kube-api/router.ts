// One request from arrival to answer: the slow-server fault, the unauthenticated health and version
// endpoints, bearer-token authentication (401), discovery, then resource requests (handlers.ts).
// Every failure becomes a Status body; anything unexpected is a 500 InternalError and a log line.
import type { IncomingMessage, ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { apiGroupDocument, apiGroupList, apiResourceList, apiVersions, versionInfo } from "./discovery.ts";
import { internalError, KubeStatusError, pathNotFound, unauthorized } from "./errors.ts";
import { handleResource, type HandlerContext } from "./handlers.ts";
import { negotiate, sendJson, sendStatus, sendText } from "./http-io.ts";
import { authorize, forbiddenMessage } from "./rbac.ts";
import { requestInfo } from "./request-info.ts";

export interface RouterContext extends HandlerContext {
  /** host:port as clients reach the server, for /api's serverAddressByClientCIDRs. */
  readonly serverAddress: () => string;
  readonly log: (line: string) => void;
}

const publicPaths = new Set(["/healthz", "/livez", "/readyz", "/version", "/version/"]);

function discovery(path: string, serverAddress: string): object | undefined {
  const parts = path.split("/").filter((part) => part !== "");
  if (path === "/api" || path === "/api/") return apiVersions(serverAddress);
  if (path === "/apis" || path === "/apis/") return apiGroupList();
  if (parts[0] === "api" && parts.length === 2) return apiResourceList("", parts[1]!);
  if (parts[0] === "apis" && parts.length === 2) return apiGroupDocument(parts[1]!);
  if (parts[0] === "apis" && parts.length === 3) return apiResourceList(parts[1]!, parts[2]!);
  return undefined;
}

async function route(context: RouterContext, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const latency = context.faults.latencyMs;
  if (latency > 0) await sleep(latency);
  const url = new URL(request.url ?? "/", "https://lab.invalid");
  const method = request.method ?? "GET";
  if (publicPaths.has(url.pathname) && method === "GET") {
    if (url.pathname.startsWith("/version")) sendJson(response, 200, versionInfo());
    else sendText(response, 200, "ok");
    return;
  }
  const user = context.auth.authenticate(request.headers.authorization);
  if (user === undefined) throw unauthorized();
  const info = requestInfo(method, url);
  if (!info.resourceRequest) {
    if (!authorize(context.registry.store, user, info)) {
      throw new KubeStatusError({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: `forbidden: ${forbiddenMessage(user, info)}`, reason: "Forbidden", details: {}, code: 403 });
    }
    const document = method === "GET" ? discovery(url.pathname, context.serverAddress()) : undefined;
    if (document === undefined) throw pathNotFound();
    negotiate(request.headers.accept, false);
    sendJson(response, 200, document);
    return;
  }
  await handleResource(context, request, response, url, info, user);
}

export function createRequestListener(context: RouterContext): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    route(context, request, response).then(
      () => context.log(`${request.method} ${request.url} ${response.statusCode}`),
      (error: unknown) => {
        const status = error instanceof KubeStatusError ? error : internalError(String(error));
        if (!(error instanceof KubeStatusError)) context.log(`${request.method} ${request.url} failed: ${(error as Error)?.stack ?? String(error)}`);
        if (response.headersSent) response.destroy();
        else sendStatus(response, status);
        context.log(`${request.method} ${request.url} ${status.code}`);
      },
    );
  };
}
