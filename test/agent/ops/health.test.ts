// /healthz, /readyz and /metrics over real HTTP: liveness always 200; readiness 503 naming each
// failing condition on a line of its own, 200 "ok" once none fails; /metrics only when an
// endpoint is handed in.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startHealthServer } from "../../../agent/ops/health.ts";

async function get(port: number, path: string): Promise<[number, string, string | null]> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return [response.status, await response.text(), response.headers.get("content-type")];
}

test("/healthz is 200 whatever readiness says; /readyz is 503 with one line per failing condition, then 200 ok", async () => {
  let problems = ["lease: not acquired yet", "subnet.env: not written yet"];
  await using server = await startHealthServer("127.0.0.1", 0, { problems: () => problems });
  assert.deepEqual((await get(server.port, "/healthz")).slice(0, 2), [200, "ok\n"]);
  assert.deepEqual((await get(server.port, "/readyz")).slice(0, 2), [503, "lease: not acquired yet\nsubnet.env: not written yet\n"]);
  problems = [];
  assert.deepEqual((await get(server.port, "/readyz")).slice(0, 2), [200, "ok\n"]);
  assert.equal((await get(server.port, "/healthz"))[0], 200);
});

test("/metrics is 404 without a metrics endpoint, and the endpoint's text with its content type otherwise", async () => {
  await using plain = await startHealthServer("127.0.0.1", 0, { problems: () => [] });
  assert.equal((await get(plain.port, "/metrics"))[0], 404);
  const endpoint = { contentType: "text/plain; version=0.0.4; charset=utf-8", render: async () => "flannel_ready 1\n" };
  await using served = await startHealthServer("127.0.0.1", 0, { problems: () => [] }, endpoint);
  assert.deepEqual(await get(served.port, "/metrics"), [200, "flannel_ready 1\n", endpoint.contentType]);
  const failing = { contentType: "text/plain", render: async () => Promise.reject(new Error("boom")) };
  await using broken = await startHealthServer("127.0.0.1", 0, { problems: () => [] }, failing);
  const [status, body] = await get(broken.port, "/metrics");
  assert.equal(status, 500);
  assert.match(body, /boom/);
});

test("a port already in use is an error naming the flag and the port", async () => {
  const first = await startHealthServer("127.0.0.1", 0, { problems: () => [] });
  try {
    await assert.rejects(startHealthServer("127.0.0.1", first.port, { problems: () => [] }), (error: Error) =>
      error.message.includes(`127.0.0.1:${first.port}`),
    );
  } finally {
    await first.close();
  }
});
