// JSON merge patch (RFC 7386) and JSON patch (RFC 6902), and the dispatch on the PATCH Content-Type.
// A failure to *apply* is a PatchApplyError (the server answers the generic 422); a malformed body
// is a 400, as kube-apiserver answers (apiserver handlers/patch.go).
import { badRequest, patchNotApplicable, unsupportedMediaType } from "./errors.ts";
import { clone, isPlainObject, jsonEqual } from "./object.ts";
import { strategicMergePatch } from "./strategic.ts";

export type PatchType = "merge" | "strategic" | "json";

const contentTypes: Readonly<Record<string, PatchType>> = {
  "application/merge-patch+json": "merge",
  "application/strategic-merge-patch+json": "strategic",
  "application/json-patch+json": "json",
};

/** The patch type of a Content-Type header; server-side apply (application/apply-patch+yaml) is not served: 415. */
export function patchTypeOf(contentType: string | undefined): PatchType {
  const bare = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  const type = contentTypes[bare];
  if (type === undefined) throw unsupportedMediaType();
  return type;
}

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return clone(patch);
  const result: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

function pointerSteps(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw patchNotApplicable();
  return pointer.slice(1).split("/").map((step) => step.replaceAll("~1", "/").replaceAll("~0", "~"));
}

function parentOf(document: unknown, steps: string[]): { parent: unknown; last: string } {
  let node = document;
  for (const step of steps.slice(0, -1)) {
    if (Array.isArray(node)) node = node[Number(step)];
    else if (isPlainObject(node)) node = node[step];
    else throw patchNotApplicable();
    if (node === undefined) throw patchNotApplicable();
  }
  return { parent: node, last: steps[steps.length - 1]! };
}

function getAt(document: unknown, pointer: string): unknown {
  let node = document;
  for (const step of pointerSteps(pointer)) {
    if (Array.isArray(node)) node = node[Number(step)];
    else if (isPlainObject(node)) node = Object.hasOwn(node, step) ? node[step] : undefined;
    else node = undefined;
    if (node === undefined) throw patchNotApplicable();
  }
  return node;
}

function arrayIndex(array: unknown[], step: string, forInsert: boolean): number {
  if (forInsert && step === "-") return array.length;
  if (!/^(0|[1-9][0-9]*)$/.test(step)) throw patchNotApplicable();
  const index = Number(step);
  if (index > array.length || (!forInsert && index === array.length)) throw patchNotApplicable();
  return index;
}

function addAt(document: unknown, pointer: string, value: unknown): unknown {
  const steps = pointerSteps(pointer);
  if (steps.length === 0) return clone(value);
  const { parent, last } = parentOf(document, steps);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, true), 0, clone(value));
  else if (isPlainObject(parent)) parent[last] = clone(value);
  else throw patchNotApplicable();
  return document;
}

function removeAt(document: unknown, pointer: string): unknown {
  const steps = pointerSteps(pointer);
  if (steps.length === 0) throw patchNotApplicable();
  const { parent, last } = parentOf(document, steps);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, false), 1);
  else if (isPlainObject(parent) && Object.hasOwn(parent, last)) delete parent[last];
  else throw patchNotApplicable();
  return document;
}

export function jsonPatch(target: unknown, operations: unknown): unknown {
  if (!Array.isArray(operations)) throw badRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch");
  if (operations.length > 10_000) throw new Error("too many operations"); // answered 413 by the real server; not reachable in practice
  let document = clone(target);
  for (const operation of operations) {
    if (!isPlainObject(operation) || typeof operation.path !== "string") throw patchNotApplicable();
    const path = operation.path;
    switch (operation.op) {
      case "add":
        document = addAt(document, path, operation.value);
        break;
      case "remove":
        document = removeAt(document, path);
        break;
      case "replace":
        getAt(document, path);
        document = addAt(removeAt(document, path), path, operation.value);
        break;
      case "move": {
        const value = getAt(document, String(operation.from));
        document = addAt(removeAt(document, String(operation.from)), path, value);
        break;
      }
      case "copy":
        document = addAt(document, path, getAt(document, String(operation.from)));
        break;
      case "test":
        if (!jsonEqual(getAt(document, path), operation.value)) throw patchNotApplicable();
        break;
      default:
        throw patchNotApplicable();
    }
  }
  return document;
}

export function parsePatchBody(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch (error) {
    throw badRequest(`error decoding patch: ${(error as Error).message}`);
  }
}

/** Applies a parsed patch of the given type to `target` (the object as JSON), for the kind `kind`. */
export function applyPatch(type: PatchType, kind: string, target: unknown, patch: unknown): unknown {
  switch (type) {
    case "merge":
      if (!isPlainObject(patch)) throw badRequest("json: cannot unmarshal into Go value of type map[string]interface {}");
      return mergePatch(target, patch);
    case "strategic":
      if (!isPlainObject(patch)) throw badRequest("json: cannot unmarshal into Go value of type map[string]interface {}");
      return strategicMergePatch(kind, target, patch);
    case "json":
      return jsonPatch(target, patch);
  }
}
