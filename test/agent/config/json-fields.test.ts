// Go-style decoding of JSON objects: members in order with their raw text, key folding, and
// filling fields the way encoding/json fills an untagged struct.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  decodeFields,
  foldName,
  keepField,
  matchField,
  objectMembers,
  type FieldDecoder,
} from "../../../agent/config/json-fields.ts";

describe("objectMembers", () => {
  test("lists members in document order, duplicates kept, with raw text and value", () => {
    const text = ' { "a" : 1.0 , "b":"x\\"}{[" ,"A":[1,{"c":"]"}], "a":null,"e":{} } ';
    assert.deepEqual(objectMembers(text), [
      { key: "a", raw: "1.0", value: 1 },
      { key: "b", raw: '"x\\"}{["', value: 'x"}{[' },
      { key: "A", raw: '[1,{"c":"]"}]', value: [1, { c: "]" }] },
      { key: "a", raw: "null", value: null },
      { key: "e", raw: "{}", value: {} },
    ]);
  });

  test("an empty object has no members", () => assert.deepEqual(objectMembers("{}"), []));

  // Compact text as JSON.stringify (and Go's json.Marshal for leases) writes it takes a shortcut:
  // the members must be exactly what the scan of the same document finds.
  test("compact text gives the members the spaced-out document gives, raw text of scalars included", () => {
    const document = { PublicIP: "198.19.1.2", PublicIPv6: null, BackendType: "vxlan", BackendData: { VNI: 1, VtepMAC: "02:00:00:00:01:02" }, n: -1.5, t: true, "\u00e9": "é" };
    const compact = JSON.stringify(document);
    const spaced = JSON.stringify(document, null, 2);
    const fromCompact = objectMembers(compact)!;
    const fromSpaced = objectMembers(spaced)!;
    assert.deepEqual(fromCompact.map((member) => [member.key, member.value]), fromSpaced.map((member) => [member.key, member.value]));
    assert.deepEqual(fromCompact.map((member) => member.raw), Object.values(document).map((value) => JSON.stringify(value)));
    assert.equal(fromCompact.find((member) => member.key === "BackendData")?.raw, '{"VNI":1,"VtepMAC":"02:00:00:00:01:02"}');
  });

  test("compact text with a duplicate key still lists both members (the shortcut does not apply)", () => {
    assert.deepEqual(objectMembers('{"a":1,"a":2}'), [
      { key: "a", raw: "1", value: 1 },
      { key: "a", raw: "2", value: 2 },
    ]);
  });

  test("compact text with a number JSON.stringify would write differently keeps its raw text", () => {
    assert.deepEqual(objectMembers('{"SubnetLen":24.0,"x":1e1}'), [
      { key: "SubnetLen", raw: "24.0", value: 24 },
      { key: "x", raw: "1e1", value: 10 },
    ]);
  });

  test("keys are unescaped", () => assert.equal(objectMembers('{"N\\u0065t":true}')?.[0]?.key, "Net"));

  const notObjects = ["null", "[]", '"x"', "5", "true"];
  for (const text of notObjects) test(`${text} is JSON but not an object`, () => assert.equal(objectMembers(text), undefined));

  test("text that is not JSON throws SyntaxError", () => assert.throws(() => objectMembers('{"a":}'), SyntaxError));
});

describe("foldName and matchField", () => {
  const same: Array<[string, string]> = [
    ["network", "Network"],
    ["NETWORK", "Network"],
    ["\u017fubnetlen", "SubnetLen"],
    ["bac\u212aend", "Backend"],
  ];
  for (const [a, b] of same) test(`${a} folds like ${b}`, () => assert.equal(foldName(a), foldName(b)));

  test("other non-ASCII letters do not fold onto ASCII (İ is not I)", () => assert.notEqual(foldName("\u0130P"), foldName("IP")));

  test("an exact-case match wins over an earlier case-insensitive one", () => {
    assert.equal(matchField("type", ["Type", "type"]), "type");
    assert.equal(matchField("TYPE", ["Type", "type"]), "Type");
  });

  test("no match gives undefined", () => assert.equal(matchField("Networks", ["Network"]), undefined));
});

describe("decodeFields", () => {
  const asNumber: FieldDecoder<number> = (member) => (member.value === null ? keepField : Number(member.value));
  const asText: FieldDecoder<string> = (member, field) => `${field}=${member.raw}`;

  test("fills fields case-insensitively, ignores unknown keys, lets the last member win", () => {
    const members = objectMembers('{"len":1,"other":2,"LEN":3,"Name":"x"}') ?? [];
    assert.deepEqual(decodeFields(members, { Len: asNumber, name: asText }), { Len: 3, name: 'name="x"' });
  });

  test("keepField leaves the earlier value in place", () => {
    const members = objectMembers('{"Len":7,"len":null}') ?? [];
    assert.deepEqual(decodeFields(members, { Len: asNumber }), { Len: 7 });
  });

  test("a field no member fills is absent", () => {
    assert.deepEqual(decodeFields(objectMembers("{}") ?? [], { Len: asNumber }), {});
  });

  test("a decoder's error propagates", () => {
    const failing: FieldDecoder<never> = () => {
      throw new Error("bad");
    };
    assert.throws(() => decodeFields(objectMembers('{"x":1}') ?? [], { X: failing }), /bad/);
  });
});
