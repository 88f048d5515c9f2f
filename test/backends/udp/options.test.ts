// Decoding the udp `Backend` options as Flannel's json.Unmarshal does (one field, Port, default
// 8285, keys case-insensitive), and refusing what would make a node unreachable, naming the field;
// our own Queues key (default 1, 1 to 16).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isFlannelError } from "../../../backends/errors.ts";
import { decodeUdpOptions } from "../../../backends/udp/options.ts";

describe("decodeUdpOptions", () => {
  const cases: { name: string; raw: unknown; port: number; queues?: number }[] = [
    { name: "only a Type: Flannel's default port 8285", raw: { Type: "udp" }, port: 8285 },
    { name: "no Backend object at all", raw: undefined, port: 8285 },
    { name: "a JSON null Backend", raw: null, port: 8285 },
    { name: "the documented spelling", raw: { Type: "udp", Port: 9000 }, port: 9000 },
    { name: "keys match case-insensitively", raw: { port: 7000 }, port: 7000 },
    { name: "the last of two spellings wins", raw: { Port: 1, PORT: 2 }, port: 2 },
    { name: "null leaves the default", raw: { Port: null }, port: 8285 },
    { name: "unknown keys (other backends' options) are ignored", raw: { Type: "udp", VNI: 4, DirectRouting: true }, port: 8285 },
    { name: "Queues, our own key", raw: { Type: "udp", Queues: 4 }, port: 8285, queues: 4 },
    { name: "Queues at its bounds", raw: { queues: 16 }, port: 8285, queues: 16 },
  ];
  for (const { name, raw, port, queues } of cases) test(name, () => assert.deepEqual(decodeUdpOptions(raw), { port, queues: queues ?? 1 }));

  const invalid: { name: string; raw: unknown; field: string }[] = [
    { name: "a port given as a string", raw: { Port: "8285" }, field: "Backend.Port" },
    { name: "a fractional port", raw: { Port: 8285.5 }, field: "Backend.Port" },
    { name: "port 0 (a random port no peer would send to)", raw: { Port: 0 }, field: "Backend.Port" },
    { name: "a port beyond 65535", raw: { Port: 65536 }, field: "Backend.Port" },
    { name: "a Backend that is not an object", raw: "udp", field: "Backend" },
    { name: "no queue at all", raw: { Queues: 0 }, field: "Backend.Queues" },
    { name: "more queues than 16", raw: { Queues: 17 }, field: "Backend.Queues" },
    { name: "a fractional queue count", raw: { Queues: 1.5 }, field: "Backend.Queues" },
  ];
  for (const { name, raw, field } of invalid) {
    test(`refuses ${name}, naming the field`, () => {
      assert.throws(
        () => decodeUdpOptions(raw),
        (error) => isFlannelError(error, "netconf-invalid") && error.details.field === field && error.message.startsWith("error decoding UDP backend config"),
      );
    });
  }
});
