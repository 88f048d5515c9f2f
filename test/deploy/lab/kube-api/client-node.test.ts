// @kubernetes/client-node 2.0.1 — the library flannel-ts's kube subnet manager uses — against the
// lab API server over HTTPS with a bearer token: the informer's list+watch, its relist on both forms
// of 410, bookmarks advancing its resourceVersion, the three patch types, ApiException bodies, and
// Flannel's RBAC as the library reports it.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ApiException, CoreV1Api, KubeConfig, ListWatch, makeInformer, PatchStrategy, setHeaderOptions, Watch, type V1Node } from "@kubernetes/client-node";
import { waitFor } from "../../../../deploy/lab/tools/wait.ts";
import { flannelServiceAccount, node, startLab, type Lab } from "./fixture.ts";

let lab: Lab;
const requests: string[] = [];
let api: CoreV1Api;
let flannelApi: CoreV1Api;

function client(token: string): { config: KubeConfig; api: CoreV1Api } {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: "lab", server: lab.api.url, caFile: lab.api.caFile }],
    users: [{ name: "u", token }],
    contexts: [{ name: "lab", cluster: "lab", user: "u" }],
    currentContext: "lab",
  });
  return { config, api: config.makeApiClient(CoreV1Api) };
}

before(async () => {
  lab = await startLab((line) => requests.push(line));
  lab.api.store.create(node("n1", "10.244.1.0/24"));
  lab.api.store.create(node("n2", "10.244.2.0/24"));
  api = client(lab.api.adminToken).api;
  flannelApi = client(flannelServiceAccount(lab)).api;
});
after(async () => {
  await lab.dispose();
});

const lists = (): number => requests.filter((line) => /^GET \/api\/v1\/nodes(\?(?!.*watch=)\S*)? 200$/.test(line)).length;

async function statusOf(promise: Promise<unknown>): Promise<{ code: number; body: unknown }> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ApiException, String(error));
    return { code: error.code, body: JSON.parse(error.body as string) };
  }
  throw new Error("expected an ApiException");
}

describe("client-node informer", () => {
  test("lists, then watches: add, update and delete arrive with the server's RVs", async (t) => {
    const { config } = client(lab.api.adminToken);
    // makeInformer builds a ListWatch; built directly here to read its resourceVersion.
    const informer = new ListWatch<V1Node>("/api/v1/nodes", new Watch(config), () => api.listNode(), false);
    const seen: string[] = [];
    informer.on("add", (object: V1Node) => seen.push(`add ${object.metadata!.name}`));
    informer.on("update", (object: V1Node) => seen.push(`update ${object.metadata!.name} ${object.metadata!.resourceVersion}`));
    informer.on("delete", (object: V1Node) => seen.push(`delete ${object.metadata!.name}`));
    await informer.start();
    t.after(() => informer.stop());
    await waitFor(() => seen.length >= 2 && lab.api.faults.openWatches === 1, { what: "the initial adds and the watch" });
    assert.deepEqual(seen.splice(0).sort(), ["add n1", "add n2"]);
    const patched = lab.api.store.patch("Node", "n1", { metadata: { annotations: { "flannel.alpha.coreos.com/public-ip": "198.18.0.1" } } }, { subresource: "status" });
    lab.api.store.create(node("n3", "10.244.3.0/24"));
    lab.api.store.delete("Node", "n3");
    await waitFor(() => seen.length >= 3, { what: "three events" });
    assert.deepEqual(seen, [`update n1 ${patched.metadata.resourceVersion}`, "add n3", "delete n3"]);
    assert.equal(informer.latestResourceVersion(), String(lab.api.store.resourceVersion));
  });

  test("an ERROR 410 event mid-stream makes it relist and carry on", async (t) => {
    const { config } = client(lab.api.adminToken);
    const informer = makeInformer(config, "/api/v1/nodes", () => api.listNode());
    const updates: string[] = [];
    informer.on("update", (object: V1Node) => updates.push(object.metadata!.labels!.step ?? ""));
    await informer.start();
    t.after(() => informer.stop());
    await waitFor(() => lab.api.faults.openWatches === 1, { what: "the watch" });
    const listsBefore = lists();
    lab.api.faults.compactHistory();
    assert.equal(lab.api.faults.expireWatches(), 1);
    await waitFor(() => lists() > listsBefore && lab.api.faults.openWatches === 1, { what: "a relist and a new watch", timeoutMs: 10_000 });
    lab.api.store.patch("Node", "n2", { metadata: { labels: { step: "after-410-event" } } });
    await waitFor(() => updates.includes("after-410-event"), { what: "the update after the relist" });
  });

  test("an HTTP 410 on re-watch makes it relist too", async (t) => {
    const { config } = client(lab.api.adminToken);
    const informer = makeInformer(config, "/api/v1/nodes", () => api.listNode());
    const updates: string[] = [];
    informer.on("update", (object: V1Node) => updates.push(object.metadata!.labels!.step ?? ""));
    await informer.start();
    t.after(() => informer.stop());
    await waitFor(() => lab.api.faults.openWatches === 1, { what: "the watch" });
    const listsBefore = lists();
    lab.api.faults.set({ watchHttp410: 1 });
    lab.api.faults.closeWatches();
    await waitFor(() => lists() > listsBefore && lab.api.faults.openWatches === 1, { what: "a relist and a new watch", timeoutMs: 10_000 });
    assert.ok(requests.some((line) => / 410$/.test(line)), "the re-watch was answered 410");
    lab.api.store.patch("Node", "n2", { metadata: { labels: { step: "after-http-410" } } });
    await waitFor(() => updates.includes("after-http-410"), { what: "the update after the relist" });
  });

  test("a BOOKMARK advances the informer's resourceVersion past every object's", async (t) => {
    const { config } = client(lab.api.adminToken);
    const informer = new ListWatch<V1Node>("/api/v1/nodes?allowWatchBookmarks=true", new Watch(config), () => api.listNode(), false);
    await informer.start();
    t.after(() => informer.stop());
    await waitFor(() => lab.api.faults.openWatches === 1, { what: "the watch" });
    const jumped = lab.api.faults.jumpResourceVersion(1000);
    lab.api.faults.sendBookmarks();
    await waitFor(() => informer.latestResourceVersion() === String(jumped), { what: `RV ${jumped} from the bookmark` });
  });
});

describe("client-node requests", () => {
  test("patch with each content type", async () => {
    const merged = await api.patchNode({ name: "n1", body: { metadata: { labels: { kind: "merge" } } } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
    assert.equal(merged.metadata?.labels?.kind, "merge");
    const up = { type: "NetworkUnavailable", status: "False", reason: "FlannelIsUp", message: "Flannel is running on this node" };
    const strategic = await api.patchNodeStatus({ name: "n1", body: { status: { conditions: [up] } } }, setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch));
    assert.deepEqual(strategic.status?.conditions?.map((condition) => condition.type), ["Ready", "NetworkUnavailable"]);
    const json = await api.patchNode({ name: "n1", body: [{ op: "replace", path: "/metadata/labels/kind", value: "json" }] }, setHeaderOptions("Content-Type", PatchStrategy.JsonPatch));
    assert.equal(json.metadata?.labels?.kind, "json");
  });

  test("errors are ApiExceptions whose body is the Status JSON", async () => {
    assert.deepEqual(await statusOf(api.readNode({ name: "nope" })), {
      code: 404,
      body: { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: 'nodes "nope" not found', reason: "NotFound", details: { name: "nope", kind: "nodes" }, code: 404 },
    });
    const conflict = await statusOf(api.patchNode({ name: "n1", body: { metadata: { resourceVersion: "1", labels: { a: "b" } } } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch)));
    assert.deepEqual([conflict.code, (conflict.body as { reason: string }).reason], [409, "Conflict"]);
    const ssa = await statusOf(api.patchNode({ name: "n1", body: {} }, setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply)));
    assert.equal(ssa.code, 415, "server-side apply is not served by the lab server");
  });

  test("lists are typed by the library: items without kind, creationTimestamp a Date", async () => {
    const list = await api.listNode({ labelSelector: "kubernetes.io/hostname=n1", limit: 10 });
    assert.equal(list.items.length, 1);
    assert.ok(list.items[0]!.metadata!.creationTimestamp instanceof Date);
    assert.equal(list.items[0]!.kind, undefined);
  });

  test("as Flannel's ServiceAccount: patchNodeStatus works, patchNode is 403", async () => {
    const annotations = { "flannel.alpha.coreos.com/backend-type": "vxlan" };
    const status = await flannelApi.patchNodeStatus({ name: "n2", body: { metadata: { annotations } } }, setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch));
    assert.equal(status.metadata?.annotations?.["flannel.alpha.coreos.com/backend-type"], "vxlan");
    const denied = await statusOf(flannelApi.patchNode({ name: "n2", body: { metadata: { annotations } } }, setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch)));
    assert.equal(denied.code, 403);
    assert.equal((denied.body as { message: string }).message, 'nodes "n2" is forbidden: User "system:serviceaccount:kube-flannel:flannel" cannot patch resource "nodes" in API group "" at the cluster scope');
  });
});
