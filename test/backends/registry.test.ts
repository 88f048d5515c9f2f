// The backend registry: the types this build runs, and a clear refusal for the others.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isFlannelError } from "../../backends/errors.ts";
import type { Kernel } from "../../backends/kernel/kernel.ts";
import { backendFactories, createBackend, supportedBackendTypes } from "../../backends/registry.ts";
import { createMemoryLog } from "../support/memory-log.ts";

const deps = { kernel: {} as Kernel, log: createMemoryLog() };

describe("backend registry", () => {
  test("builds vxlan, host-gw and udp, looking the type up lower-cased as Flannel does", async () => {
    assert.deepEqual(supportedBackendTypes, ["vxlan", "host-gw", "udp"]);
    assert.deepEqual(Object.keys(backendFactories), ["vxlan", "host-gw", "udp"]);
    // udp's module (and its native data plane) loads on the first call; closing it unused loads nothing.
    const udp = createBackend("UDP", deps) as ReturnType<typeof createBackend> & { counters(): unknown; programmedPeers(): number };
    assert.equal(udp.type, "udp");
    // The hooks the metrics find by shape are there before the module is, answering "nothing yet".
    assert.equal(udp.counters(), undefined);
    assert.equal(udp.programmedPeers(), 0);
    await udp.close();
    assert.equal(createBackend("vxlan", deps).type, "vxlan");
    assert.equal(createBackend("host-gw", deps).type, "host-gw");
    assert.equal(createBackend("VXLAN", deps).type, "vxlan");
  });

  for (const type of ["wireguard", "ipip", "", "nonsense"]) {
    test(`refuses ${JSON.stringify(type)}, naming it and the supported types`, () => {
      assert.throws(
        () => createBackend(type, deps),
        (error) =>
          isFlannelError(error, "netconf-invalid") &&
          error.details.field === "Backend.Type" &&
          error.details.value === type &&
          error.message.includes(JSON.stringify(type)) &&
          error.message.includes("vxlan, host-gw, udp"),
      );
    });
  }
});
