// The two answers that store nothing: TokenRequest (POST …/serviceaccounts/NAME/token) and
// SelfSubjectAccessReview (kubectl auth can-i; kubectl 1.35 sends it as protobuf only).
import type { IncomingMessage, ServerResponse } from "node:http";
import { tokenRequestResponse, type TokenAuthenticator, type UserInfo } from "./auth.ts";
import { badRequest, pathNotFound } from "./errors.ts";
import { parseJsonBody, readBody, requireJsonBody, sendJson } from "./http-io.ts";
import { decodeSelfSubjectAccessReview } from "./protobuf.ts";
import { authorize, type RequestAttributes } from "./rbac.ts";
import type { Registry } from "./registry.ts";
import type { ResourceType } from "./resources.ts";
import type { ObjectStore } from "./store.ts";

function decodeProtobuf(raw: Buffer): unknown {
  try {
    return decodeSelfSubjectAccessReview(raw);
  } catch (error) {
    throw badRequest(`the body of the request could not be decoded: ${(error as Error).message}`);
  }
}

export async function selfSubjectAccessReview(store: ObjectStore, request: IncomingMessage, response: ServerResponse, user: UserInfo): Promise<void> {
  const protobuf = (request.headers["content-type"] ?? "").startsWith("application/vnd.kubernetes.protobuf");
  if (!protobuf) requireJsonBody(request.headers["content-type"]);
  const raw = await readBody(request);
  const body = (protobuf ? decodeProtobuf(raw) : parseJsonBody(raw.toString("utf8"))) as { spec?: { resourceAttributes?: Record<string, string>; nonResourceAttributes?: Record<string, string> } } | undefined;
  const resourceAttributes = body?.spec?.resourceAttributes;
  const nonResource = body?.spec?.nonResourceAttributes;
  const attributes: RequestAttributes =
    resourceAttributes !== undefined
      ? {
          verb: resourceAttributes.verb ?? "",
          resourceRequest: true,
          path: "",
          group: resourceAttributes.group ?? "",
          resource: resourceAttributes.resource ?? "",
          subresource: resourceAttributes.subresource ?? "",
          namespace: resourceAttributes.namespace ?? "",
          name: resourceAttributes.name ?? "",
        }
      : { verb: nonResource?.verb ?? "", resourceRequest: false, path: nonResource?.path ?? "", group: "", version: "", resource: "", subresource: "", namespace: "", name: "" } as RequestAttributes;
  const allowed = authorize(store, user, attributes);
  sendJson(response, 201, {
    kind: "SelfSubjectAccessReview",
    apiVersion: "authorization.k8s.io/v1",
    metadata: { creationTimestamp: null },
    spec: body?.spec ?? {},
    status: allowed ? { allowed: true } : { allowed: false },
  });
}

export async function tokenRequest(registry: Registry, auth: TokenAuthenticator, request: IncomingMessage, response: ServerResponse, type: ResourceType, namespace: string | undefined, name: string): Promise<void> {
  if (request.method !== "POST") throw pathNotFound();
  const serviceAccount = registry.get(type, namespace, name);
  const body = parseJsonBody((await readBody(request)).toString("utf8"));
  sendJson(response, 201, tokenRequestResponse(serviceAccount, auth.mint(namespace ?? "default", name), body));
}
