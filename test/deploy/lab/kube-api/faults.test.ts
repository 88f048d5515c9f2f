// The fault switches of the lab API server (kube-api.md §7.3), as a client sees each on the wire.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { call, node, openWatch, startLab, type Lab } from "./fixture.ts";

let lab: Lab;
before(async () => {
  lab = await startLab();
  lab.api.store.create(node("n1", "10.244.1.0/24"));
  lab.api.store.create(node("n2", "10.244.2.0/24"));
});
after(async () => {
  await lab.dispose();
});

const merge = "application/merge-patch+json";
const touch = (value: string): Promise<unknown> => call(lab, "PATCH", "/api/v1/nodes/n1", { body: { metadata: { labels: { touch: value } } }, contentType: merge });

function assertExpired(status: { kind: string; status: string; reason: string; code: number; message: string }): void {
  assert.deepEqual([status.kind, status.status, status.reason, status.code], ["Status", "Failure", "Expired", 410]);
  assert.match(status.message, /^too old resource version: \d+ \(\d+\)$/);
}

describe("fault switches", () => {
  test("watchHttp410: the next watch is an HTTP 410 Status, the one after works", async () => {
    lab.api.faults.set({ watchHttp410: 1 });
    const path = `/api/v1/nodes?watch=true&resourceVersion=${lab.api.store.resourceVersion}`;
    const reply = await call(lab, "GET", path);
    assert.equal(reply.status, 410);
    assertExpired(reply.json());
    const watch = await openWatch(lab, path);
    assert.equal(watch.response.statusCode, 200);
    watch.close();
  });

  test("watchError410: the next watch is a 200 whose only line is ERROR 410", async () => {
    lab.api.faults.set({ watchError410: 1 });
    const watch = await openWatch(lab, `/api/v1/nodes?watch=true&resourceVersion=${lab.api.store.resourceVersion}`);
    assert.equal(watch.response.statusCode, 200);
    const event = await watch.next();
    assert.equal(event.type, "ERROR");
    assertExpired(event.object);
    assert.equal(await watch.ended, "end");
  });

  test("expireWatches: ERROR 410 mid-stream, then a clean end", async () => {
    const watch = await openWatch(lab, `/api/v1/nodes?watch=true&resourceVersion=${lab.api.store.resourceVersion}`);
    await touch("expire");
    assert.equal((await watch.next()).type, "MODIFIED");
    assert.equal(lab.api.faults.expireWatches(), 1);
    const event = await watch.next();
    assert.equal(event.type, "ERROR");
    assertExpired(event.object);
    assert.equal(await watch.ended, "end");
  });

  test("watchCloseAfterEvents: each new watch ends cleanly after N events", async () => {
    lab.api.faults.set({ watchCloseAfterEvents: 1 });
    const watch = await openWatch(lab, "/api/v1/nodes?watch=true");
    assert.equal((await watch.next()).type, "ADDED");
    assert.equal(await watch.ended, "end");
    lab.api.faults.set({ watchCloseAfterEvents: null }); // null: back to the default (off)
    assert.equal(lab.api.faults.settings.watchCloseAfterEvents, undefined);
  });

  test("closeWatches and resetWatches: a clean end versus a TCP reset", async () => {
    const clean = await openWatch(lab, `/api/v1/nodes?watch=true&resourceVersion=${lab.api.store.resourceVersion}`);
    lab.api.faults.closeWatches();
    assert.equal(await clean.ended, "end");
    const reset = await openWatch(lab, `/api/v1/nodes?watch=true&resourceVersion=${lab.api.store.resourceVersion}`);
    lab.api.faults.resetWatches();
    assert.equal(await reset.ended, "error");
  });

  test("watchResetAfterHeaders: 200 and headers, then the connection is reset", async () => {
    lab.api.faults.set({ watchResetAfterHeaders: 1 });
    const watch = await openWatch(lab, "/api/v1/nodes?watch=true");
    assert.equal(watch.response.statusCode, 200);
    assert.equal(await watch.ended, "error");
  });

  test("watchIdle: new watches get headers and nothing else", async () => {
    lab.api.faults.set({ watchIdle: true });
    const watch = await openWatch(lab, "/api/v1/nodes?watch=true&allowWatchBookmarks=true");
    await touch("idle");
    lab.api.faults.sendBookmarks();
    assert.equal(await watch.next(300), undefined);
    watch.close();
    lab.api.faults.set({ watchIdle: false });
  });

  test("listError: the next N lists get 429 (with Retry-After) or 500, watches and gets are untouched", async () => {
    lab.api.faults.set({ listError: { code: 429, count: 1 } });
    const throttled = await call(lab, "GET", "/api/v1/nodes");
    assert.equal(throttled.status, 429);
    assert.equal(throttled.headers["retry-after"], "1");
    assert.deepEqual(throttled.json(), { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "Too many requests, please try again later.", reason: "TooManyRequests", details: { retryAfterSeconds: 1 }, code: 429 });
    assert.equal((await call(lab, "GET", "/api/v1/nodes")).status, 200);
    lab.api.faults.set({ listError: { code: 500, count: 2 } });
    assert.equal((await call(lab, "GET", "/api/v1/nodes/n1")).status, 200);
    const failed = await call(lab, "GET", "/api/v1/nodes");
    assert.deepEqual([failed.status, failed.json().reason], [500, "InternalError"]);
    assert.equal((await call(lab, "GET", "/api/v1/nodes")).status, 500);
    assert.equal((await call(lab, "GET", "/api/v1/nodes")).status, 200);
  });

  test("latencyMs slows every answer", async () => {
    lab.api.faults.set({ latencyMs: 300 });
    const started = Date.now();
    await call(lab, "GET", "/api/v1/nodes/n1");
    assert.ok(Date.now() - started >= 290);
    lab.api.faults.reset();
  });

  test("stop() refuses connections and start() comes back on the same port with the same objects", async () => {
    const url = new URL(lab.api.url);
    const watch = await openWatch(lab, `/api/v1/nodes?watch=true&resourceVersion=${lab.api.store.resourceVersion}`);
    await lab.api.stop();
    assert.notEqual(await watch.ended, undefined);
    const refused = await new Promise<string>((resolve) => {
      const socket = connect(Number(url.port), url.hostname);
      socket.on("connect", () => {
        socket.destroy();
        resolve("connected");
      });
      socket.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "error"));
    });
    assert.equal(refused, "ECONNREFUSED");
    await lab.api.start();
    assert.equal(lab.api.url, url.origin);
    assert.equal((await call(lab, "GET", "/api/v1/nodes/n1")).json().metadata.name, "n1");
  });
});
