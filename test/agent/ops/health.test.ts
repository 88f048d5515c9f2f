// /healthz and /readyz: alive as soon as the server runs; ready only after subnet.env is written
// and the data plane was reconciled once.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startHealthServer } from "../../../agent/ops/health.ts";
import { createReadinessTracker } from "../../../agent/ops/readiness.ts";

test("/healthz is 200 at once; /readyz is 503 with the reason until both steps are done", async () => {
  const readiness = createReadinessTracker();
  const server = await startHealthServer("127.0.0.1", 0, readiness);
  try {
    const get = async (path: string): Promise<[number, string]> => {
      const response = await fetch(`http://127.0.0.1:${server.port}${path}`);
      return [response.status, (await response.text()).trim()];
    };
    assert.deepEqual(await get("/healthz"), [200, "ok"]);
    assert.deepEqual(await get("/readyz"), [503, "not ready: subnet.env not written yet (no lease)"]);
    readiness.subnetEnvWritten();
    assert.deepEqual(await get("/readyz"), [503, "not ready: the data plane has not been reconciled yet"]);
    readiness.dataPlaneReconciled();
    assert.deepEqual(await get("/readyz"), [200, "ok"]);
    assert.equal((await get("/metrics"))[0], 404);
  } finally {
    await server.close();
  }
});

test("a port already in use is an error naming the flag and the port", async () => {
  const first = await startHealthServer("127.0.0.1", 0, createReadinessTracker());
  try {
    await assert.rejects(startHealthServer("127.0.0.1", first.port, createReadinessTracker()), (error: Error) =>
      error.message.includes(`127.0.0.1:${first.port}`),
    );
  } finally {
    await first.close();
  }
});
