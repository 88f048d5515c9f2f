// Resource requests: after authentication, find the kind, authorize with RBAC (403 with the real
// message), then get/list/watch/create/update/patch/delete through the registry, plus the two
// non-stored endpoints clients use: TokenRequest and SelfSubjectAccessReview (kubectl auth can-i).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TokenAuthenticator, UserInfo } from "./auth.ts";
import { selfSubjectAccessReview, tokenRequest } from "./reviews.ts";
import { badRequest, forbidden, internalError, pathNotFound, tooManyRequests, tooOldResourceVersion } from "./errors.ts";
import { takeFault, takeListError, type FaultSettings } from "./faults.ts";
import { negotiate, parseJsonBody, readBody, requireJsonBody, sendJson } from "./http-io.ts";
import { listObjects, listOptionsInvalid, parseResourceVersion } from "./list.ts";
import type { KubeObject } from "./object.ts";
import { parsePatchBody, patchTypeOf } from "./patch.ts";
import { authorize, forbiddenMessage, type RequestAttributes } from "./rbac.ts";
import type { Registry } from "./registry.ts";
import { apiVersionOf, typeByResource, type ResourceType } from "./resources.ts";
import { parseFieldSelector, parseLabelSelector } from "./selectors.ts";
import type { Subresource } from "./strategy.ts";
import { toTable, type IncludeObject } from "./table.ts";
import type { RequestInfo } from "./request-info.ts";
import { queryFlag } from "./request-info.ts";
import type { WatchHub } from "./watch.ts";

export interface HandlerContext {
  readonly registry: Registry;
  readonly auth: TokenAuthenticator;
  readonly watches: WatchHub;
  readonly faults: FaultSettings;
}

function checkAccess(context: HandlerContext, user: UserInfo, info: RequestInfo, type: { group: string; resource: string }): void {
  const attributes: RequestAttributes = { ...info };
  if (!authorize(context.registry.store, user, attributes)) throw forbidden(type, info.name || undefined, forbiddenMessage(user, attributes));
}

function includeObject(query: URLSearchParams): IncludeObject {
  const value = query.get("includeObject");
  return value === "None" || value === "Object" ? value : "Metadata";
}

function listItem(object: KubeObject): KubeObject {
  // List items carry no kind/apiVersion on the real server (kubernetes/kubernetes#3030).
  const { kind: _kind, apiVersion: _apiVersion, ...rest } = object;
  return rest as KubeObject;
}

export async function handleResource(context: HandlerContext, request: IncomingMessage, response: ServerResponse, url: URL, info: RequestInfo, user: UserInfo): Promise<void> {
  if (info.group === "authorization.k8s.io" && info.version === "v1" && info.resource === "selfsubjectaccessreviews" && info.verb === "create") {
    checkAccess(context, user, info, { group: info.group, resource: info.resource });
    return selfSubjectAccessReview(context.registry.store, request, response, user);
  }
  const type = typeByResource(info.group, info.version, info.resource);
  if (type === undefined) throw pathNotFound();
  const validSubresource = info.subresource === "" || (info.subresource === "status" && type.hasStatus) || (info.subresource === "token" && type.kind === "ServiceAccount");
  if (!validSubresource || (info.subresource !== "" && info.name === "")) throw pathNotFound();
  if (type.namespaced && info.namespace === "" && info.name !== "") throw pathNotFound();
  if (!type.namespaced && type.kind !== "Namespace" && info.namespace !== "") throw pathNotFound();
  checkAccess(context, user, info, type);
  const namespace = type.namespaced && info.namespace !== "" ? info.namespace : undefined;
  const query = url.searchParams;
  if (query.has("dryRun")) throw badRequest("dryRun is not supported by the lab API server");
  if (info.verb === "create" || info.verb === "update" || info.verb === "delete") requireJsonBody(request.headers["content-type"]);
  if (info.subresource === "token") return tokenRequest(context.registry, context.auth, request, response, type, namespace, info.name);
  const subresource = info.subresource as Subresource;
  switch (info.verb) {
    case "get": {
      const object = context.registry.get(type, namespace, info.name);
      const { table } = negotiate(request.headers.accept, true);
      if (table !== undefined) sendJson(response, 200, toTable(type, [object], object.metadata.resourceVersion ?? "", includeObject(query)), table);
      else sendJson(response, 200, object);
      return;
    }
    case "list":
      return list(context, request, response, query, type, namespace);
    case "watch":
      return watch(context, request, response, query, type, namespace, info.name);
    case "create": {
      negotiate(request.headers.accept, false);
      if (info.name !== "") throw pathNotFound();
      const created = context.registry.create(type, namespace, parseJsonBody((await readBody(request)).toString("utf8")));
      sendJson(response, 201, created);
      return;
    }
    case "update": {
      negotiate(request.headers.accept, false);
      const result = context.registry.update(type, namespace, info.name, parseJsonBody((await readBody(request)).toString("utf8")), subresource);
      sendJson(response, 200, result.object);
      return;
    }
    case "patch": {
      negotiate(request.headers.accept, false);
      const patchType = patchTypeOf(request.headers["content-type"]);
      const result = context.registry.patch(type, namespace, info.name, patchType, parsePatchBody((await readBody(request)).toString("utf8")), subresource);
      sendJson(response, 200, result.object);
      return;
    }
    case "delete": {
      negotiate(request.headers.accept, false);
      const options = parseJsonBody((await readBody(request)).toString("utf8")) as { preconditions?: { uid?: string; resourceVersion?: string } } | undefined;
      sendJson(response, 200, context.registry.delete(type, namespace, info.name, options?.preconditions ?? {}));
      return;
    }
    case "deletecollection": {
      const labels = parseLabelSelector(query.get("labelSelector"));
      const fields = parseFieldSelector(query.get("fieldSelector"), type);
      const deleted: KubeObject[] = [];
      for (const { object } of context.registry.store.list(type, namespace)) {
        if (!labels(object) || !fields(object)) continue;
        context.registry.delete(type, namespace, object.metadata.name!);
        deleted.push(listItem(object));
      }
      sendJson(response, 200, { kind: `${type.kind}List`, apiVersion: apiVersionOf(type), metadata: { resourceVersion: String(context.registry.store.resourceVersion) }, items: deleted });
      return;
    }
    default:
      throw pathNotFound();
  }
}

async function list(context: HandlerContext, request: IncomingMessage, response: ServerResponse, query: URLSearchParams, type: ResourceType, namespace: string | undefined): Promise<void> {
  if (query.has("sendInitialEvents")) throw listOptionsInvalid("sendInitialEvents", "sendInitialEvents is forbidden for list");
  const code = takeListError(context.faults);
  if (code === 429) throw tooManyRequests(1);
  if (code === 500) throw internalError("injected fault: list failed");
  const { table } = negotiate(request.headers.accept, true);
  const limit = Number(query.get("limit") ?? "0");
  const result = await listObjects(context.registry.store, type, namespace, {
    labelSelector: query.get("labelSelector"),
    fieldSelector: query.get("fieldSelector"),
    resourceVersion: query.get("resourceVersion"),
    resourceVersionMatch: query.get("resourceVersionMatch"),
    limit: Number.isFinite(limit) && limit > 0 ? Math.floor(limit) : 0,
    continueToken: query.get("continue"),
  });
  const metadata = {
    resourceVersion: String(result.resourceVersion),
    ...(result.continueToken === undefined ? {} : { continue: result.continueToken }),
    ...(result.remainingItemCount === undefined ? {} : { remainingItemCount: result.remainingItemCount }),
  };
  if (table !== undefined) {
    const tableBody = toTable(type, result.items, metadata.resourceVersion, includeObject(query)) as Record<string, unknown>;
    sendJson(response, 200, { ...tableBody, metadata }, table);
    return;
  }
  sendJson(response, 200, { kind: `${type.kind}List`, apiVersion: apiVersionOf(type), metadata, items: result.items.map(listItem) });
}

function watch(context: HandlerContext, request: IncomingMessage, response: ServerResponse, query: URLSearchParams, type: ResourceType, namespace: string | undefined, name: string): void {
  if (query.has("sendInitialEvents")) {
    // The answer of a server whose WatchList gate is off; client-go then falls back to list+watch.
    throw listOptionsInvalid("sendInitialEvents", "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled");
  }
  const { table } = negotiate(request.headers.accept, true);
  if (takeFault(context.faults, "watchHttp410")) {
    throw tooOldResourceVersion(parseResourceVersion(query.get("resourceVersion")) ?? 0, context.registry.store.compactedResourceVersion);
  }
  const rv = parseResourceVersion(query.get("resourceVersion"));
  const labels = parseLabelSelector(query.get("labelSelector"));
  const byField = parseFieldSelector(query.get("fieldSelector"), type);
  // A watch on a named object (the deprecated /nodes/NAME?watch=true) is a watch with metadata.name.
  const fields = name === "" ? byField : (object: KubeObject) => object.metadata.name === name && byField(object);
  const timeoutSeconds = Number(query.get("timeoutSeconds") ?? "0");
  const timeoutMs = Number.isFinite(timeoutSeconds) && timeoutSeconds > 0 ? timeoutSeconds * 1000 : 1800_000 * (1 + Math.random());
  context.watches.serve(response, {
    type,
    namespace,
    labels,
    fields,
    fromRv: rv === undefined || rv === 0 ? undefined : rv,
    allowBookmarks: queryFlag(query, "allowWatchBookmarks"),
    timeoutMs,
    table: table === undefined ? undefined : { include: includeObject(query), contentType: table },
  });
}
