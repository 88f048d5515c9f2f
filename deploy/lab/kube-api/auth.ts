// Bearer-token authentication: one admin token (user "kubernetes-admin" in group system:masters,
// which RBAC lets do anything) and ServiceAccount tokens minted by the server, either directly for a
// fixture or through the TokenRequest subresource (POST …/serviceaccounts/NAME/token).
// As with the real bound tokens, a ServiceAccount token only authenticates while that
// ServiceAccount exists. Departure: tokens are opaque random strings, not JWTs, and never expire.
import { randomBytes } from "node:crypto";
import { objectKey, timestamp, type KubeObject } from "./object.ts";
import { typeByKind } from "./resources.ts";
import type { ObjectStore } from "./store.ts";

export interface UserInfo {
  readonly username: string;
  readonly groups: readonly string[];
  readonly serviceAccount?: { readonly namespace: string; readonly name: string };
}

export const adminUser: UserInfo = { username: "kubernetes-admin", groups: ["system:masters", "system:authenticated"] };

export function serviceAccountUser(namespace: string, name: string): UserInfo {
  return {
    username: `system:serviceaccount:${namespace}:${name}`,
    groups: ["system:serviceaccounts", `system:serviceaccounts:${namespace}`, "system:authenticated"],
    serviceAccount: { namespace, name },
  };
}

export class TokenAuthenticator {
  readonly adminToken = randomBytes(24).toString("base64url");
  readonly #serviceAccounts = new Map<string, { namespace: string; name: string }>();
  readonly #store: ObjectStore;

  constructor(store: ObjectStore) {
    this.#store = store;
  }

  mint(namespace: string, name: string): string {
    const token = `sa.${randomBytes(24).toString("base64url")}`;
    this.#serviceAccounts.set(token, { namespace, name });
    return token;
  }

  /** The user behind an Authorization header, or undefined (→ 401). */
  authenticate(authorization: string | undefined): UserInfo | undefined {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    if (match === null) return undefined;
    const token = match[1]!;
    if (token === this.adminToken) return adminUser;
    const account = this.#serviceAccounts.get(token);
    if (account === undefined) return undefined;
    if (this.#store.get(typeByKind("ServiceAccount")!, objectKey(account.namespace, account.name)) === undefined) return undefined;
    return serviceAccountUser(account.namespace, account.name);
  }
}

/** The TokenRequest answer for POST /api/v1/namespaces/NS/serviceaccounts/NAME/token. */
export function tokenRequestResponse(serviceAccount: KubeObject, token: string, request: unknown): KubeObject {
  const spec = (request as { spec?: { audiences?: unknown; expirationSeconds?: unknown } } | undefined)?.spec ?? {};
  const expirationSeconds = typeof spec.expirationSeconds === "number" ? spec.expirationSeconds : 3600;
  return {
    kind: "TokenRequest",
    apiVersion: "authentication.k8s.io/v1",
    metadata: { name: serviceAccount.metadata.name, namespace: serviceAccount.metadata.namespace, creationTimestamp: null as unknown as string },
    spec: { audiences: Array.isArray(spec.audiences) ? spec.audiences : ["https://kubernetes.default.svc.cluster.local"], expirationSeconds, boundObjectRef: null },
    status: { token, expirationTimestamp: timestamp(new Date(Date.now() + expirationSeconds * 1000)) },
  };
}
