// The backend registry: the types this build runs, and a clear refusal for the others.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isFlannelError } from "../../backends/errors.ts";
import type { Kernel } from "../../backends/kernel/kernel.ts";
import { backendFactories, createBackend, supportedBackendTypes } from "../../backends/registry.ts";
import { createMemoryLog } from "../support/memory-log.ts";

const deps = { kernel: {} as Kernel, log: createMemoryLog() };

describe("backend registry", () => {
  test("builds vxlan and host-gw, looking the type up lower-cased as Flannel does", () => {
    assert.deepEqual(supportedBackendTypes, ["vxlan", "host-gw"]);
    assert.deepEqual(Object.keys(backendFactories), ["vxlan", "host-gw"]);
    assert.equal(createBackend("vxlan", deps).type, "vxlan");
    assert.equal(createBackend("host-gw", deps).type, "host-gw");
    assert.equal(createBackend("VXLAN", deps).type, "vxlan");
  });

  for (const type of ["udp", "wireguard", "", "nonsense"]) {
    test(`refuses ${JSON.stringify(type)}, naming it and the supported types`, () => {
      assert.throws(
        () => createBackend(type, deps),
        (error) =>
          isFlannelError(error, "netconf-invalid") &&
          error.details.field === "Backend.Type" &&
          error.details.value === type &&
          error.message.includes(JSON.stringify(type)) &&
          error.message.includes("vxlan, host-gw"),
      );
    });
  }
});
