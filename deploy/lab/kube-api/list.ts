// LIST semantics (apiserver handlers/get.go ListResource, the cacher and etcd3 store): the
// resourceVersion × limit table of kube-api.md §1.2, pagination with opaque continue tokens that
// read a consistent snapshot (rebuilt from the event history), HTTP 410 for an expired continue
// token or a compacted exact RV, 504 for an RV the store has not reached within 3 s, and the
// ListOptions validation (422) of resourceVersionMatch and sendInitialEvents.
import { setTimeout as sleep } from "node:timers/promises";
import { badRequest, expired, invalid, timeoutError, type KubeStatusError, type StatusCause } from "./errors.ts";
import type { KubeObject } from "./object.ts";
import type { ResourceType } from "./resources.ts";
import { parseFieldSelector, parseLabelSelector } from "./selectors.ts";
import type { ObjectStore } from "./store.ts";

export interface ListQuery {
  readonly labelSelector: string | null;
  readonly fieldSelector: string | null;
  readonly resourceVersion: string | null;
  readonly resourceVersionMatch: string | null;
  readonly limit: number;
  readonly continueToken: string | null;
}

export interface ListResult {
  readonly resourceVersion: number;
  readonly items: KubeObject[];
  readonly continueToken?: string;
  readonly remainingItemCount?: number;
}

export function listOptionsInvalid(field: string, message: string): KubeStatusError {
  const cause: StatusCause = { reason: "FieldValueForbidden", message: `Forbidden: ${message}`, field };
  return invalid({ group: "meta.k8s.io", kind: "ListOptions" }, "", [cause]);
}

/** Parses an RV parameter: undefined when absent or empty. */
export function parseResourceVersion(value: string | null): number | undefined {
  if (value === null || value === "") return undefined;
  if (!/^\d+$/.test(value)) throw badRequest(`invalid resource version: ${JSON.stringify(value)}`);
  return Number(value);
}

function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: "meta.k8s.io/v1", rv, start })).toString("base64url");
}

function decodeContinue(token: string): { rv: number; start: string } {
  try {
    const decoded = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { v?: string; rv?: number; start?: string };
    if (decoded.v === "meta.k8s.io/v1" && typeof decoded.rv === "number" && typeof decoded.start === "string") return { rv: decoded.rv, start: decoded.start };
  } catch {
    // falls through to the error below
  }
  throw badRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)");
}

async function waitForResourceVersion(store: ObjectStore, rv: number): Promise<void> {
  const deadline = Date.now() + 3000;
  while (store.resourceVersion < rv) {
    if (Date.now() >= deadline) {
      throw timeoutError(`Too large resource version: ${rv}, current: ${store.resourceVersion}`, {
        reason: "ResourceVersionTooLarge",
        message: "Too large resource version",
      });
    }
    await sleep(50);
  }
}

export async function listObjects(store: ObjectStore, type: ResourceType, namespace: string | undefined, query: ListQuery): Promise<ListResult> {
  const labels = parseLabelSelector(query.labelSelector);
  const fields = parseFieldSelector(query.fieldSelector, type);
  const selected = query.labelSelector !== null && query.labelSelector !== "" || (query.fieldSelector !== null && query.fieldSelector !== "");
  const requested = parseResourceVersion(query.resourceVersion);
  const match = query.resourceVersionMatch ?? "";
  if (match !== "") {
    if (query.resourceVersion === null || query.resourceVersion === "") throw listOptionsInvalid("resourceVersionMatch", "resourceVersionMatch is forbidden unless resourceVersion is provided");
    if (query.continueToken) throw listOptionsInvalid("resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided");
    if (match === "Exact" && requested === 0) throw listOptionsInvalid("resourceVersionMatch", 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"');
  }
  let atRv = store.resourceVersion;
  let start = "";
  let limit = query.limit;
  if (query.continueToken) {
    if (requested !== undefined && requested !== 0) throw badRequest("specifying resource version is not allowed when using continue");
    const token = decodeContinue(query.continueToken);
    atRv = token.rv;
    start = token.start;
  } else if (requested === 0) {
    limit = 0; // "Any": served from the watch cache, where a limit is ignored
  } else if (requested !== undefined) {
    await waitForResourceVersion(store, requested);
    if (limit > 0 || match === "Exact") atRv = requested;
  }
  const all = atRv === store.resourceVersion ? store.list(type, namespace) : store.listAt(type, atRv, namespace);
  if (all === undefined) {
    if (query.continueToken) {
      throw expired(
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
      );
    }
    throw expired("The resourceVersion for the provided list is too old.");
  }
  const matching = all.filter((entry) => entry.key >= start && labels(entry.object) && fields(entry.object));
  if (limit <= 0 || matching.length <= limit) return { resourceVersion: atRv, items: matching.map((entry) => entry.object) };
  const page = matching.slice(0, limit);
  const last = page[page.length - 1]!;
  return {
    resourceVersion: atRv,
    items: page.map((entry) => entry.object),
    continueToken: encodeContinue(atRv, `${last.key}\u0000`),
    ...(selected ? {} : { remainingItemCount: matching.length - limit }),
  };
}
