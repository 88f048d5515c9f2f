// Just enough of the Kubernetes protobuf encoding to read the one body kubectl ≥ 1.35 only sends as
// protobuf: the SelfSubjectAccessReview of `kubectl auth can-i`. The envelope is "k8s\0" followed by
// runtime.Unknown{typeMeta=1, raw=2, …}; raw is the authorization/v1 message (generated.proto).
// Every other request body is JSON (http-io.ts answers 415 to protobuf elsewhere).

type Fields = Map<number, Uint8Array[]>;

function varint(bytes: Uint8Array, offset: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[offset++];
    if (byte === undefined) throw new Error("protobuf: truncated varint");
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [value, offset];
    shift += 7;
  }
}

/** The length-delimited fields of one message, by field number (other wire types are skipped). */
function fields(bytes: Uint8Array): Fields {
  const found: Fields = new Map();
  let offset = 0;
  while (offset < bytes.length) {
    const [key, afterKey] = varint(bytes, offset);
    const wireType = key & 7;
    const number = Math.floor(key / 8);
    offset = afterKey;
    if (wireType === 0) [, offset] = varint(bytes, offset);
    else if (wireType === 1) offset += 8;
    else if (wireType === 5) offset += 4;
    else if (wireType === 2) {
      const [length, start] = varint(bytes, offset);
      found.set(number, [...(found.get(number) ?? []), bytes.subarray(start, start + length)]);
      offset = start + length;
    } else throw new Error(`protobuf: unsupported wire type ${wireType}`);
  }
  return found;
}

function text(found: Fields, number: number): string | undefined {
  const value = found.get(number)?.[0];
  return value === undefined ? undefined : Buffer.from(value).toString("utf8");
}

function strings(found: Fields, names: readonly string[]): Record<string, string> {
  const result: Record<string, string> = {};
  names.forEach((name, index) => {
    const value = text(found, index + 1);
    if (value !== undefined) result[name] = value;
  });
  return result;
}

export const protobufMagic = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** The JSON form of a protobuf SelfSubjectAccessReview body. */
export function decodeSelfSubjectAccessReview(body: Buffer): { spec: Record<string, unknown> } {
  if (!body.subarray(0, 4).equals(protobufMagic)) throw new Error("protobuf: missing k8s envelope");
  const raw = fields(body.subarray(4)).get(2)?.[0] ?? new Uint8Array();
  const spec = fields(raw).get(2)?.[0] ?? new Uint8Array();
  const specFields = fields(spec);
  const result: Record<string, unknown> = {};
  const resource = specFields.get(1)?.[0];
  if (resource !== undefined) result.resourceAttributes = strings(fields(resource), ["namespace", "verb", "group", "version", "resource", "subresource", "name"]);
  const nonResource = specFields.get(2)?.[0];
  if (nonResource !== undefined) result.nonResourceAttributes = strings(fields(nonResource), ["path", "verb"]);
  return { spec: result };
}
