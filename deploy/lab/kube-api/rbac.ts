// RBAC as kube-apiserver evaluates it (plugin/pkg/auth/authorizer/rbac): the rules of every
// ClusterRole bound by a ClusterRoleBinding, and of every Role/ClusterRole bound by a RoleBinding
// in the request's namespace, whose subjects name the user, one of its groups or its
// ServiceAccount. Built-in grants stand in for the bootstrap roles a real cluster carries:
// system:masters may do everything, and every authenticated user may read discovery
// (system:discovery) and create SelfSubjectAccessReviews (system:basic-user).
// Departure: aggregated ClusterRoles (aggregationRule) are not expanded.
import type { UserInfo } from "./auth.ts";
import type { KubeObject } from "./object.ts";
import { objectKey } from "./object.ts";
import { typeByKind } from "./resources.ts";
import type { ObjectStore } from "./store.ts";

export interface RequestAttributes {
  readonly verb: string;
  readonly resourceRequest: boolean;
  readonly path: string;
  readonly group: string;
  readonly resource: string;
  readonly subresource: string;
  readonly namespace: string;
  readonly name: string;
}

interface PolicyRule {
  verbs?: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

interface Subject {
  kind?: string;
  name?: string;
  namespace?: string;
}

function subjectMatches(subject: Subject, user: UserInfo, bindingNamespace: string | undefined): boolean {
  switch (subject.kind) {
    case "User":
      return subject.name === user.username;
    case "Group":
      return subject.name !== undefined && user.groups.includes(subject.name);
    case "ServiceAccount": {
      // A RoleBinding's ServiceAccount subject without a namespace means the binding's namespace.
      const namespace = subject.namespace ?? bindingNamespace;
      return user.serviceAccount !== undefined && user.serviceAccount.name === subject.name && user.serviceAccount.namespace === namespace;
    }
    default:
      return false;
  }
}

function ruleAllows(rule: PolicyRule, request: RequestAttributes): boolean {
  const verbs = rule.verbs ?? [];
  if (!verbs.includes("*") && !verbs.includes(request.verb)) return false;
  if (!request.resourceRequest) {
    return (rule.nonResourceURLs ?? []).some((url) => url === "*" || url === request.path || (url.endsWith("*") && request.path.startsWith(url.slice(0, -1))));
  }
  const groups = rule.apiGroups ?? [];
  if (!groups.includes("*") && !groups.includes(request.group)) return false;
  const combined = request.subresource === "" ? request.resource : `${request.resource}/${request.subresource}`;
  const resources = rule.resources ?? [];
  const resourceMatch = resources.some((resource) => resource === "*" || resource === combined || (request.subresource !== "" && resource === `*/${request.subresource}`));
  if (!resourceMatch) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || names.includes(request.name);
}

function rulesOf(store: ObjectStore, roleRef: unknown, bindingNamespace: string | undefined): PolicyRule[] {
  const ref = (roleRef ?? {}) as { kind?: string; name?: string };
  if (ref.name === undefined) return [];
  let role: KubeObject | undefined;
  if (ref.kind === "ClusterRole") role = store.get(typeByKind("ClusterRole")!, ref.name);
  else if (ref.kind === "Role" && bindingNamespace !== undefined) role = store.get(typeByKind("Role")!, objectKey(bindingNamespace, ref.name));
  const rules = role?.rules;
  return Array.isArray(rules) ? (rules as PolicyRule[]) : [];
}

function builtinAllows(user: UserInfo, request: RequestAttributes): boolean {
  if (user.groups.includes("system:masters")) return true;
  if (!user.groups.includes("system:authenticated")) return false;
  if (!request.resourceRequest) {
    const discovery = ["/api", "/apis", "/version", "/healthz", "/livez", "/readyz", "/openapi"];
    return request.verb === "get" && discovery.some((prefix) => request.path === prefix || request.path.startsWith(`${prefix}/`));
  }
  return (
    request.group === "authorization.k8s.io" &&
    request.verb === "create" &&
    (request.resource === "selfsubjectaccessreviews" || request.resource === "selfsubjectrulesreviews")
  );
}

export function authorize(store: ObjectStore, user: UserInfo, request: RequestAttributes): boolean {
  if (builtinAllows(user, request)) return true;
  for (const { object: binding } of store.list(typeByKind("ClusterRoleBinding")!)) {
    const subjects = (binding.subjects ?? []) as Subject[];
    if (!subjects.some((subject) => subjectMatches(subject, user, undefined))) continue;
    if (rulesOf(store, binding.roleRef, undefined).some((rule) => ruleAllows(rule, request))) return true;
  }
  if (request.namespace === "" || !request.resourceRequest) return false;
  for (const { object: binding } of store.list(typeByKind("RoleBinding")!, request.namespace)) {
    const subjects = (binding.subjects ?? []) as Subject[];
    if (!subjects.some((subject) => subjectMatches(subject, user, request.namespace))) continue;
    if (rulesOf(store, binding.roleRef, request.namespace).some((rule) => ruleAllows(rule, request))) return true;
  }
  return false;
}

/** The reason part of the real 403 message (apiserver handlers/responsewriters/errors.go forbiddenMessage). */
export function forbiddenMessage(user: UserInfo, request: RequestAttributes): string {
  if (!request.resourceRequest) return `User "${user.username}" cannot ${request.verb} path "${request.path}"`;
  const resource = request.subresource === "" ? request.resource : `${request.resource}/${request.subresource}`;
  const scope = request.namespace === "" ? "at the cluster scope" : `in the namespace "${request.namespace}"`;
  return `User "${user.username}" cannot ${request.verb} resource "${resource}" in API group "${request.group}" ${scope}`;
}
