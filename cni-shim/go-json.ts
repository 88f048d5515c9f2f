// JSON the way Go's encoding/json reads and writes it, for the two places where the flannel CNI
// plugin's bytes must match Flannel's (C:flannel.go, C:flannel_linux.go):
//  - reading: a Go struct field matches its key case-insensitively, and of several keys that
//    match, the last one in the document wins (`"Delegate"` fills Flannel's `delegate`);
//  - writing: Flannel builds the delegate config as a map[string]interface{}, and Go writes a map
//    with its keys sorted, at every level, compact, with <, >, & and U+2028/U+2029 escaped. A
//    struct nested in it (the ipam routes are []types.Route) keeps its declaration order: give
//    those as a Map, whose insertion order is written as is.
import type { JsonValue } from "../agent/config/json-fields.ts";

export type { JsonValue };
export type JsonObject = { readonly [key: string]: JsonValue };

/** A Go struct: its fields are written in insertion (declaration) order, not sorted. */
export type GoStruct = ReadonlyMap<string, GoJsonValue>;
export type GoJsonValue = null | boolean | number | string | GoStruct | readonly GoJsonValue[] | { readonly [key: string]: GoJsonValue };

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The value Go's decoder would put in the struct field `name`, or undefined when no key matches. */
export function goField(object: JsonObject, name: string): JsonValue | undefined {
  const wanted = name.toLowerCase();
  let found: JsonValue | undefined;
  for (const key of Object.keys(object)) {
    if (key.toLowerCase() === wanted) found = object[key];
  }
  return found;
}

/** Whether Go's decoder would see the key at all (`hasKey` in the plugin is an exact map lookup). */
export function hasKey(object: object, key: string): boolean {
  return Object.hasOwn(object, key);
}

function goString(text: string): string {
  // JSON.stringify already escapes quotes, backslashes and control characters as Go does (Go ≥
  // 1.22 also writes \b and \f); Go additionally escapes HTML-significant characters and the two
  // JavaScript line terminators.
  return JSON.stringify(text).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Go's json.Marshal output for this value. */
export function goJson(value: GoJsonValue): string {
  if (value === null) return "null";
  if (typeof value === "string") return goString(value);
  // Go formats a float64 like JavaScript for every value JSON can carry in a config (integers,
  // decimals, exponents from 1e21 on and below 1e-6).
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `[${value.map((item) => goJson(item)).join(",")}]`;
  if (value instanceof Map) {
    return `{${[...value].map(([key, item]) => `${goString(key)}:${goJson(item as GoJsonValue)}`).join(",")}}`;
  }
  const object = value as { readonly [key: string]: GoJsonValue };
  // Go sorts map keys by their bytes; config keys are ASCII, where that is plain string order.
  const keys = Object.keys(object).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${keys.map((key) => `${goString(key)}:${goJson(object[key]!)}`).join(",")}}`;
}
