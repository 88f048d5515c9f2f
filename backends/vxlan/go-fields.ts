// Reading a JSON object the way Go's encoding/json fills a struct without json tags, for the
// little the vxlan backend decodes itself: its `Backend` options and its peers' BackendData
// (F:pkg/backend/vxlan/vxlan.go decodes both with json.Unmarshal). Keys match field names
// case-insensitively, members are applied in document order (the last one wins), null leaves
// a field alone, unknown keys are ignored, and a value of the wrong JSON type is an error.
//
// Go folds keys with Unicode simple folding; the only non-ASCII letters that fold onto ASCII are
// K (U+212A) and ſ (U+017F), and no field here contains a k or an s, so ASCII folding is exact.

export type GoFieldType = "int" | "bool" | "string";

export type GoFieldValue<T extends GoFieldType> = T extends "int" ? number : T extends "bool" ? boolean : string;

export type GoFieldsResult<F extends Readonly<Record<string, GoFieldType>>> =
  | { readonly ok: true; readonly values: { -readonly [K in keyof F]?: GoFieldValue<F[K]> } }
  | { readonly ok: false; readonly field: string; readonly value: unknown; readonly reason: string };

const asciiFold = (text: string): string => text.replace(/[A-Z]/g, (c) => c.toLowerCase());

function describe(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (value === null) return "null";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/** Decodes the members of `object` that match `fields`; `object` null or undefined decodes to nothing. */
export function decodeGoFields<F extends Readonly<Record<string, GoFieldType>>>(object: unknown, fields: F): GoFieldsResult<F> {
  const values: Record<string, unknown> = {};
  if (object === null || object === undefined) return { ok: true, values: values as { [K in keyof F]?: GoFieldValue<F[K]> } };
  if (typeof object !== "object" || Array.isArray(object)) {
    return { ok: false, field: "", value: object, reason: `expected a JSON object, got ${describe(object)}` };
  }
  const names = Object.keys(fields);
  for (const [key, value] of Object.entries(object)) {
    const name = names.find((candidate) => candidate === key) ?? names.find((candidate) => asciiFold(candidate) === asciiFold(key));
    if (name === undefined || value === null) continue;
    const type = fields[name];
    const fits =
      type === "int" ? typeof value === "number" && Number.isSafeInteger(value) : type === "bool" ? typeof value === "boolean" : typeof value === "string";
    if (!fits) {
      const wanted = type === "int" ? "an integer" : type === "bool" ? "true or false" : "a string";
      return { ok: false, field: name, value, reason: `${key} must be ${wanted}, got ${describe(value)} ${JSON.stringify(value)}` };
    }
    values[name] = value;
  }
  return { ok: true, values: values as { [K in keyof F]?: GoFieldValue<F[K]> } };
}
