// What a request is about, from its method, path and query (apiserver endpoints/request/requestinfo.go):
// resource requests /api/v1/… and /apis/GROUP/VERSION/… with an optional namespaces/NS/ segment,
// resource[/name[/subresource]]; everything else (discovery, /version, /healthz) is a non-resource
// request. The verb is the RBAC verb (get, list, watch, create, update, patch, delete, deletecollection).

export interface RequestInfo {
  readonly resourceRequest: boolean;
  readonly path: string;
  readonly verb: string;
  readonly group: string;
  readonly version: string;
  readonly resource: string;
  readonly subresource: string;
  readonly namespace: string;
  readonly name: string;
}

/** apimachinery's bool conversion for query parameters: only absent, "0" and "false" (any case) are false. */
export function queryFlag(query: URLSearchParams, name: string): boolean {
  const value = query.get(name);
  if (value === null) return false;
  return !(value === "0" || value.toLowerCase() === "false");
}

const namespaceSubresources = new Set(["status", "finalize"]);

export function requestInfo(method: string, url: URL): RequestInfo {
  const path = url.pathname;
  const parts = path.split("/").filter((part) => part !== "").map((part) => decodeURIComponent(part));
  const lowerMethod = method.toLowerCase();
  const nonResource: RequestInfo = { resourceRequest: false, path, verb: lowerMethod, group: "", version: "", resource: "", subresource: "", namespace: "", name: "" };
  let rest: string[];
  let group = "";
  let version: string;
  if (parts[0] === "api" && parts.length >= 3) {
    version = parts[1]!;
    rest = parts.slice(2);
  } else if (parts[0] === "apis" && parts.length >= 4) {
    group = parts[1]!;
    version = parts[2]!;
    rest = parts.slice(3);
  } else {
    return nonResource;
  }
  let namespace = "";
  if (rest[0] === "namespaces" && rest.length > 1) {
    namespace = rest[1]!;
    if (rest.length > 2 && !namespaceSubresources.has(rest[2]!)) rest = rest.slice(2);
  }
  const [resource = "", name = "", subresource = ""] = rest;
  if (rest.length > 3) return { ...nonResource, resourceRequest: true, group, version, resource: "", namespace };
  let verb: string;
  switch (method) {
    case "GET":
    case "HEAD":
      verb = queryFlag(url.searchParams, "watch") ? "watch" : name === "" ? "list" : "get";
      break;
    case "POST":
      verb = "create";
      break;
    case "PUT":
      verb = "update";
      break;
    case "PATCH":
      verb = "patch";
      break;
    case "DELETE":
      verb = name === "" ? "deletecollection" : "delete";
      break;
    default:
      verb = lowerMethod;
  }
  // For the namespaces resource itself, the namespace is the name (RBAC and the 403 text say "in the namespace").
  if (resource === "namespaces") return { resourceRequest: true, path, verb, group, version, resource, subresource, namespace: name, name };
  return { resourceRequest: true, path, verb, group, version, resource, subresource, namespace, name };
}
