// WATCH on the lab API server as kube-apiserver serves it (kube-api.md §2, §7.2): headers flushed
// before any event, one JSON event per line, synthetic ADDED without an RV, ERROR 410 inside a 200
// for a compacted RV, bookmarks only on request, sendInitialEvents refused with the real 422, a clean
// end at timeoutSeconds, and selector transitions.
import assert from "node:assert/strict";
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

describe("watch", () => {
  test("the 200 and its headers arrive before any event", async () => {
    const watch = await openWatch(lab, `/api/v1/nodes?watch=true&resourceVersion=${lab.api.store.resourceVersion}`);
    assert.equal(watch.response.statusCode, 200);
    assert.equal(watch.response.headers["content-type"], "application/json");
    assert.equal(watch.response.headers["transfer-encoding"], "chunked");
    assert.equal(await watch.next(200), undefined, "no event yet, headers already here");
    watch.close();
  });

  test("without a resourceVersion (or with 0) every existing object comes as a synthetic ADDED", async () => {
    for (const query of ["watch=true", "watch=1&resourceVersion=0"]) {
      const watch = await openWatch(lab, `/api/v1/nodes?${query}`);
      const names = [(await watch.next()).object.metadata.name, (await watch.next()).object.metadata.name];
      assert.deepEqual(names, ["n1", "n2"]);
      watch.close();
    }
  });

  test("each event is one line of JSON carrying kind and apiVersion", async () => {
    const watch = await openWatch(lab, `/api/v1/nodes?watch=true&resourceVersion=${lab.api.store.resourceVersion}`);
    const raw: string[] = [];
    watch.response.on("data", (chunk: Buffer) => raw.push(chunk.toString()));
    await call(lab, "PATCH", "/api/v1/nodes/n1", { body: { metadata: { annotations: { line: "one\ntwo" } } }, contentType: merge });
    const event = await watch.next();
    assert.equal(event.type, "MODIFIED");
    assert.deepEqual([event.object.kind, event.object.apiVersion], ["Node", "v1"]);
    const text = raw.join("");
    assert.equal(text.split("\n").length, 2, "exactly one newline, at the end");
    watch.close();
  });

  test("an RV older than the history is a 200 whose single line is the ERROR 410 Status", async () => {
    const old = lab.api.store.resourceVersion;
    await call(lab, "PATCH", "/api/v1/nodes/n2", { body: { metadata: { labels: { c: "1" } } }, contentType: merge });
    lab.api.faults.compactHistory();
    const compacted = lab.api.store.resourceVersion;
    const watch = await openWatch(lab, `/api/v1/nodes?watch=true&resourceVersion=${old}`);
    assert.equal(watch.response.statusCode, 200);
    assert.deepEqual(await watch.next(), {
      type: "ERROR",
      object: { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: `too old resource version: ${old} (${compacted})`, reason: "Expired", code: 410 },
    });
    assert.equal(await watch.ended, "end");
  });

  test("an RV still in the history replays only the changes after it", async () => {
    const from = lab.api.store.resourceVersion;
    await call(lab, "PATCH", "/api/v1/nodes/n1", { body: { metadata: { labels: { r: "1" } } }, contentType: merge });
    await call(lab, "PATCH", "/api/v1/nodes/n2", { body: { metadata: { labels: { r: "2" } } }, contentType: merge });
    const watch = await openWatch(lab, `/api/v1/nodes?watch=true&resourceVersion=${from}`);
    const events = [await watch.next(), await watch.next()];
    assert.deepEqual(events.map((event) => [event.type, event.object.metadata.name]), [["MODIFIED", "n1"], ["MODIFIED", "n2"]]);
    assert.equal(await watch.next(200), undefined);
    watch.close();
  });

  test("BOOKMARK only with allowWatchBookmarks=true, carrying the current RV in an empty Node", async () => {
    const rv = lab.api.store.resourceVersion;
    const plain = await openWatch(lab, `/api/v1/nodes?watch=true&resourceVersion=${rv}`);
    const bookmarked = await openWatch(lab, `/api/v1/nodes?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`);
    const jumped = lab.api.faults.jumpResourceVersion(50);
    assert.equal(lab.api.faults.sendBookmarks(), 1);
    assert.deepEqual(await bookmarked.next(), {
      type: "BOOKMARK",
      object: {
        kind: "Node", apiVersion: "v1", metadata: { resourceVersion: String(jumped) }, spec: {},
        status: {
          daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
          nodeInfo: { machineID: "", systemUUID: "", bootID: "", kernelVersion: "", osImage: "", containerRuntimeVersion: "", kubeletVersion: "", kubeProxyVersion: "", operatingSystem: "", architecture: "" },
        },
      },
    });
    assert.equal(await plain.next(200), undefined);
    plain.close();
    bookmarked.close();
  });

  test("sendInitialEvents is refused with the 422 of a server whose WatchList gate is off", async () => {
    const reply = await call(lab, "GET", "/api/v1/nodes?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true");
    assert.equal(reply.status, 422);
    assert.deepEqual(reply.json(), {
      kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure",
      message: 'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled',
      reason: "Invalid",
      details: { group: "meta.k8s.io", kind: "ListOptions", causes: [{ reason: "FieldValueForbidden", message: "Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled", field: "sendInitialEvents" }] },
      code: 422,
    });
  });

  test("timeoutSeconds ends the stream cleanly", async () => {
    const started = Date.now();
    const watch = await openWatch(lab, `/api/v1/nodes?watch=true&resourceVersion=${lab.api.store.resourceVersion}&timeoutSeconds=1`);
    assert.equal(await watch.ended, "end");
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 900 && elapsed < 3000, `ended after ${elapsed} ms`);
  });

  test("an object leaving the label selector is DELETED for that watch, entering it is ADDED", async () => {
    await call(lab, "PATCH", "/api/v1/nodes/n2", { body: { metadata: { labels: { pool: "a" } } }, contentType: merge });
    const watch = await openWatch(lab, `/api/v1/nodes?watch=true&labelSelector=pool%3Da&resourceVersion=${lab.api.store.resourceVersion}`);
    await call(lab, "PATCH", "/api/v1/nodes/n2", { body: { metadata: { labels: { pool: "b" } } }, contentType: merge });
    const left = await watch.next();
    assert.deepEqual([left.type, left.object.metadata.labels.pool, left.object.metadata.resourceVersion], ["DELETED", "a", String(lab.api.store.resourceVersion)]);
    await call(lab, "PATCH", "/api/v1/nodes/n2", { body: { metadata: { labels: { pool: "a" } } }, contentType: merge });
    assert.equal((await watch.next()).type, "ADDED");
    watch.close();
  });

  test("an RV newer than the store waits for it instead of failing", async () => {
    const ahead = lab.api.store.resourceVersion + 2;
    const watch = await openWatch(lab, `/api/v1/nodes?watch=true&resourceVersion=${ahead}`);
    await call(lab, "PATCH", "/api/v1/nodes/n1", { body: { metadata: { labels: { w: "1" } } }, contentType: merge });
    await call(lab, "PATCH", "/api/v1/nodes/n1", { body: { metadata: { labels: { w: "2" } } }, contentType: merge });
    await call(lab, "PATCH", "/api/v1/nodes/n1", { body: { metadata: { labels: { w: "3" } } }, contentType: merge });
    const event = await watch.next();
    assert.equal(event.object.metadata.labels.w, "3", "changes up to the requested RV are not sent");
    watch.close();
  });

  test("a watch on one namespace sees only that namespace's objects", async () => {
    const rv = lab.api.store.resourceVersion;
    const watch = await openWatch(lab, `/api/v1/namespaces/kube-system/configmaps?watch=true&resourceVersion=${rv}`);
    lab.api.store.create({ kind: "ConfigMap", apiVersion: "v1", metadata: { name: "elsewhere", namespace: "default" } });
    lab.api.store.create({ kind: "ConfigMap", apiVersion: "v1", metadata: { name: "here", namespace: "kube-system" } });
    const event = await watch.next();
    assert.deepEqual([event.type, event.object.metadata.name], ["ADDED", "here"]);
    watch.close();
  });
});
