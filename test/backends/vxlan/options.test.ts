// Decoding the vxlan `Backend` options and a peer's vxlan backend data the way Flannel's
// json.Unmarshal does: case-insensitive keys, defaults, null leaves a default alone, wrong JSON
// types are errors.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isFlannelError } from "../../../backends/errors.ts";
import { parseVtepMac, vxlanLeaseData } from "../../../backends/vxlan/lease-data.ts";
import { decodeVxlanOptions, defaultVxlanOptions } from "../../../backends/vxlan/options.ts";
import { parseMac } from "../../../backends/kernel/mac.ts";

describe("decodeVxlanOptions", () => {
  const cases: { name: string; raw: unknown; expected: Partial<typeof defaultVxlanOptions> }[] = [
    { name: "only a Type: Flannel's defaults (VNI 1, kernel port, link MTU)", raw: { Type: "vxlan" }, expected: {} },
    { name: "no Backend object at all", raw: undefined, expected: {} },
    { name: "a JSON null Backend decodes to nothing", raw: null, expected: {} },
    {
      name: "every option, with the documented spelling",
      raw: { Type: "vxlan", VNI: 4096, Port: 4789, MTU: 9000, GBP: true, Learning: true, DirectRouting: true },
      expected: { vni: 4096, port: 4789, mtu: 9000, gbp: true, learning: true, directRouting: true },
    },
    { name: "keys match case-insensitively", raw: { vni: 7, PORT: 1, mTu: 1400, gbp: true, LEARNING: true, directrouting: true }, expected: { vni: 7, port: 1, mtu: 1400, gbp: true, learning: true, directRouting: true } },
    { name: "the last of two spellings wins, as members are applied in order", raw: { VNI: 2, vni: 3 }, expected: { vni: 3 } },
    { name: "null leaves the default", raw: { VNI: null, DirectRouting: null }, expected: {} },
    { name: "unknown keys are ignored", raw: { Type: "vxlan", MacPrefix: "0E-2A", Name: "x" }, expected: {} },
    { name: "VNI 0 is a VNI", raw: { VNI: 0 }, expected: { vni: 0 } },
  ];
  for (const { name, raw, expected } of cases) {
    test(name, () => assert.deepEqual(decodeVxlanOptions(raw), { ...defaultVxlanOptions, ...expected }));
  }

  const invalid: { name: string; raw: unknown; field: string }[] = [
    { name: "a VNI given as a string", raw: { VNI: "1" }, field: "Backend.VNI" },
    { name: "a fractional port", raw: { Port: 8472.5 }, field: "Backend.Port" },
    { name: "DirectRouting as a string", raw: { directRouting: "true" }, field: "Backend.DirectRouting" },
    { name: "a VNI beyond 24 bits", raw: { VNI: 16777216 }, field: "Backend.VNI" },
    { name: "a negative MTU", raw: { MTU: -1 }, field: "Backend.MTU" },
    { name: "a Backend that is not an object", raw: ["vxlan"], field: "Backend" },
  ];
  for (const { name, raw, field } of invalid) {
    test(`refuses ${name}, naming the field`, () => {
      assert.throws(
        () => decodeVxlanOptions(raw),
        (error) => isFlannelError(error, "netconf-invalid") && error.details.field === field && error.message.startsWith("error decoding VXLAN backend config"),
      );
    });
  }
});

describe("vxlan lease data", () => {
  test("is written as Flannel writes it: VNI then VtepMAC", () => {
    const mac = parseMac("0a:58:0a:f4:01:00")!;
    assert.equal(JSON.stringify(vxlanLeaseData(1, mac)), '{"VNI":1,"VtepMAC":"0a:58:0a:f4:01:00"}');
  });

  const cases: { name: string; data: unknown; mac?: string }[] = [
    { name: "the usual form", data: { VNI: 1, VtepMAC: "0a:58:0a:f4:01:00" }, mac: "0a:58:0a:f4:01:00" },
    { name: "keys in any case and a MAC in Go's other notations", data: { vni: 1, vtepmac: "0A-58-0A-F4-01-00" }, mac: "0a:58:0a:f4:01:00" },
    { name: "dotted notation", data: { VtepMAC: "0a58.0af4.0100" }, mac: "0a:58:0a:f4:01:00" },
    { name: "no backend data" , data: undefined },
    { name: "backend data without a VtepMAC", data: { VNI: 1 } },
    { name: "a VtepMAC that is not a MAC", data: { VNI: 1, VtepMAC: "nope" } },
    { name: "a VtepMAC of the wrong type", data: { VtepMAC: 42 } },
    { name: "a multicast VtepMAC", data: { VtepMAC: "01:00:5e:00:00:01" } },
    { name: "the all-zero MAC", data: { VtepMAC: "00:00:00:00:00:00" } },
    { name: "backend data that is a string", data: "0a:58:0a:f4:01:00" },
  ];
  for (const { name, data, mac } of cases) {
    test(`a peer's VTEP MAC from ${name}`, () => {
      const parsed = parseVtepMac(data);
      if (mac === undefined) assert.equal(parsed.ok, false);
      else assert.deepEqual(parsed, { ok: true, mac });
    });
  }
});
