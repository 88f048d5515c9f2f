// Decoding a JSON object the way Go's encoding/json fills a struct that has no json tags.
//
// Flannel reads net-conf.json that way (and each backend its `Backend` options), so a drop-in
// must accept and reject the same documents. What Go does that a plain JSON.parse hides:
//  - keys match field names case-insensitively, an exact-case match winning; unknown keys are
//    ignored;
//  - every member is decoded in document order, duplicate keys included, and the last one wins
//    (JSON.parse keeps one value per exact key and reorders nothing we could see);
//  - a field type with its own UnmarshalJSON (Flannel's IP and CIDR types) receives the raw text
//    of the value, escapes and all, and uint fields reject `24.0` or `1e1`; so members carry
//    their raw text as well as their value.

export type JsonValue =
  | null
  | boolean
  | number
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

/** A JSON value together with the text it was written as (Flannel hands `Backend` on raw). */
export interface JsonText {
  readonly text: string;
  readonly value: JsonValue;
}

export type JsonTypeName = "null" | "boolean" | "number" | "string" | "array" | "object";

/** One `"key": value` member of a JSON object, as written. */
export interface JsonMember {
  /** The key with its escapes resolved (Go matches the unescaped key). */
  readonly key: string;
  /** The value's text exactly as it appears in the document. */
  readonly raw: string;
  readonly value: JsonValue;
}

export function jsonTypeName(value: JsonValue): JsonTypeName {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value as "boolean" | "number" | "string" | "object";
}

const jsonWhitespace = " \t\n\r";

function skipWhitespace(text: string, at: number): number {
  while (at < text.length && jsonWhitespace.includes(text.charAt(at))) at++;
  return at;
}

/** `at` is on an opening quote; returns the index just past the closing one. */
function endOfString(text: string, at: number): number {
  for (at++; text.charAt(at) !== '"'; at++) if (text.charAt(at) === "\\") at++;
  return at + 1;
}

/** `at` is on the first character of a value; returns the index just past it. */
function endOfValue(text: string, at: number): number {
  const first = text.charAt(at);
  if (first === '"') return endOfString(text, at);
  if (first === "{" || first === "[") {
    let depth = 0;
    for (;;) {
      const c = text.charAt(at);
      if (c === '"') {
        at = endOfString(text, at);
        continue;
      }
      if (c === "{" || c === "[") depth++;
      else if ((c === "}" || c === "]") && --depth === 0) return at + 1;
      at++;
    }
  }
  // A number or a literal runs to the next delimiter.
  while (at < text.length && !`,}]${jsonWhitespace}`.includes(text.charAt(at))) at++;
  return at;
}

/**
 * The members of the JSON object that `text` holds, in document order with duplicates kept.
 * Returns undefined when `text` is JSON but not an object; throws JSON.parse's SyntaxError when
 * it is not JSON at all. The scan below is only this simple because JSON.parse validated first.
 */
export function objectMembers(text: string): JsonMember[] | undefined {
  const document = JSON.parse(text) as JsonValue;
  if (jsonTypeName(document) !== "object") return undefined;
  // Text in JSON.stringify's own form — compact, no escapes it would not write, numbers as it
  // writes them, keys in insertion order — has each key once (a duplicate would not survive the
  // round trip), and each member's raw text is JSON.stringify of its value. Most lease values
  // are written that way (Flannel's Go json.Marshal, and flannel-ts); reading 5000 of them
  // through the scan below cost the agent a tenth of its CPU for the burst.
  if (JSON.stringify(document) === text) {
    return Object.entries(document as { readonly [key: string]: JsonValue }).map(([key, value]) => ({ key, raw: JSON.stringify(value), value }));
  }
  const members: JsonMember[] = [];
  let at = skipWhitespace(text, 0) + 1; // past "{"
  for (;;) {
    at = skipWhitespace(text, at);
    if (text.charAt(at) === "}") return members;
    if (text.charAt(at) === ",") at = skipWhitespace(text, at + 1);
    const keyEnd = endOfString(text, at);
    const key = JSON.parse(text.slice(at, keyEnd)) as string;
    const valueStart = skipWhitespace(text, skipWhitespace(text, keyEnd) + 1); // past ":"
    const valueEnd = endOfValue(text, valueStart);
    const raw = text.slice(valueStart, valueEnd);
    members.push({ key, raw, value: JSON.parse(raw) as JsonValue });
    at = valueEnd;
  }
}

/**
 * A name in Go's folded form, so that `foldName(a) === foldName(b)` exactly when Go's
 * bytes.EqualFold(a, b) holds for ASCII field names: ASCII letters fold by case, and the two
 * non-ASCII runes whose fold set holds an ASCII letter (U+017F long s, U+212A Kelvin sign)
 * fold onto it. Go really matches `"ſubnetLen"` to SubnetLen, so we do too.
 */
export function foldName(name: string): string {
  return name.replace(/[a-z\u017f\u212a]/g, (c) =>
    c === "\u017f" ? "S" : c === "\u212a" ? "K" : c.toUpperCase(),
  );
}

/** The field a key fills, chosen as Go chooses: the exact name, else the first case-insensitive one. */
export function matchField<F extends string>(key: string, fields: readonly F[]): F | undefined {
  const exact = fields.find((field) => field === key);
  if (exact !== undefined) return exact;
  const folded = foldName(key);
  return fields.find((field) => foldName(field) === folded);
}

/** A decoder's answer meaning "leave the field as it is": what Go does with null for a bool or a uint. */
export const keepField: unique symbol = Symbol("keepField");

/** Decodes one member into its field's value, or throws; `field` is the field's declared name. */
export type FieldDecoder<T> = (member: JsonMember, field: string) => T | typeof keepField;

export type DecodedFields<D extends Readonly<Record<string, FieldDecoder<unknown>>>> = {
  -readonly [F in keyof D]?: Exclude<ReturnType<D[F]>, typeof keepField>;
};

/**
 * Fills a struct from an object's members as Go's decoder would: each member, in order, goes to
 * the field it matches (unknown keys are skipped) and a later member overwrites an earlier one.
 * A field no member filled is absent from the result.
 */
export function decodeFields<D extends Readonly<Record<string, FieldDecoder<unknown>>>>(
  members: readonly JsonMember[],
  decoders: D,
): DecodedFields<D> {
  const fields = Object.keys(decoders);
  const decoded: Record<string, unknown> = {};
  for (const member of members) {
    const field = matchField(member.key, fields);
    if (field === undefined) continue;
    const value = decoders[field]!(member, field);
    if (value !== keepField) decoded[field] = value;
  }
  return decoded as DecodedFields<D>;
}
