// The lab API server's write and read semantics over HTTPS, each a point where a sloppy fake would
// differ from kube-apiserver (kube-api.md §1, §3, §7.2): no-op writes, the status subresource split,
// strategic merge by type, directives never stored, the exact 409/422/404/415 bodies, list shape,
// selectors and pagination, one global resourceVersion.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { call, node, openWatch, startLab, type Lab } from "./fixture.ts";

let lab: Lab;
before(async () => {
  lab = await startLab();
});
after(async () => {
  await lab.dispose();
});

const merge = "application/merge-patch+json";
const strategic = "application/strategic-merge-patch+json";
const jsonPatch = "application/json-patch+json";

describe("writes", () => {
  test("a no-op patch keeps the resourceVersion and emits no event", async () => {
    lab.api.store.create(node("noop", "10.244.10.0/24"));
    const first = await call(lab, "PATCH", "/api/v1/nodes/noop", { body: { metadata: { labels: { a: "b" } } }, contentType: merge });
    assert.equal(first.status, 200);
    const rv = first.json().metadata.resourceVersion;
    const watch = await openWatch(lab, `/api/v1/nodes?watch=true&resourceVersion=${rv}`);
    const second = await call(lab, "PATCH", "/api/v1/nodes/noop", { body: { metadata: { labels: { a: "b" } } }, contentType: merge });
    assert.equal(second.json().metadata.resourceVersion, rv);
    assert.equal(lab.api.store.resourceVersion, Number(rv));
    assert.equal(await watch.next(300), undefined, "no event for a no-op");
    watch.close();
  });

  test("a /status patch keeps the spec but applies metadata; a main-resource patch drops status", async () => {
    lab.api.store.create(node("split", "10.244.11.0/24"));
    const status = await call(lab, "PATCH", "/api/v1/nodes/split/status", {
      body: { metadata: { annotations: { "flannel.alpha.coreos.com/public-ip": "198.18.0.9" } }, spec: { unschedulable: true }, status: { phase: "x" } },
      contentType: merge,
    });
    assert.equal(status.status, 200);
    const afterStatus = status.json();
    assert.equal(afterStatus.metadata.annotations["flannel.alpha.coreos.com/public-ip"], "198.18.0.9");
    assert.equal(afterStatus.spec.unschedulable, undefined, "spec is reset on /status");
    assert.equal(afterStatus.status.phase, "x");
    const main = await call(lab, "PATCH", "/api/v1/nodes/split", { body: { status: { phase: "y" } }, contentType: merge });
    assert.equal(main.json().status.phase, "x", "status is reset on the main resource");
    assert.equal(main.json().metadata.resourceVersion, afterStatus.metadata.resourceVersion, "so nothing changed");
  });

  test("strategic merge merges conditions by type and keeps the others; a merge patch replaces the list", async () => {
    lab.api.store.create(node("smp", "10.244.12.0/24"));
    const up = { type: "NetworkUnavailable", status: "False", reason: "FlannelIsUp", message: "Flannel is running on this node" };
    const smp = await call(lab, "PATCH", "/api/v1/nodes/smp/status", { body: { status: { conditions: [up] } }, contentType: strategic });
    assert.deepEqual(smp.json().status.conditions.map((c: { type: string }) => c.type), ["Ready", "NetworkUnavailable"]);
    const partial = await call(lab, "PATCH", "/api/v1/nodes/smp/status", { body: { status: { conditions: [{ type: "Ready", status: "False" }] } }, contentType: strategic });
    const ready = partial.json().status.conditions[0];
    assert.deepEqual([ready.status, ready.reason], ["False", "KubeletReady"], "fields absent from the patch are kept");
    const replaced = await call(lab, "PATCH", "/api/v1/nodes/smp/status", { body: { status: { conditions: [up] } }, contentType: merge });
    assert.deepEqual(replaced.json().status.conditions, [up]);
  });

  test("$setElementOrder and $patch directives are interpreted, never stored", async () => {
    lab.api.store.create(node("order", "10.244.13.0/24"));
    const patch = {
      $setElementOrder: undefined,
      status: {
        "$setElementOrder/conditions": [{ type: "NetworkUnavailable" }, { type: "Ready" }],
        conditions: [{ type: "NetworkUnavailable", status: "False" }],
        addresses: [{ type: "Hostname", $patch: "delete" }],
      },
    };
    const reply = await call(lab, "PATCH", "/api/v1/nodes/order/status", { body: patch, contentType: strategic });
    assert.equal(reply.status, 200);
    assert.doesNotMatch(reply.text, /\$setElementOrder|\$patch/);
    assert.deepEqual(reply.json().status.conditions.map((c: { type: string }) => c.type), ["NetworkUnavailable", "Ready"]);
    assert.deepEqual(reply.json().status.addresses, [{ type: "InternalIP", address: "198.18.0.1" }]);
  });

  test("changing a set podCIDR is the real 422 body", async () => {
    lab.api.store.create(node("n1", "10.244.1.0/24"));
    const reply = await call(lab, "PATCH", "/api/v1/nodes/n1", { body: { spec: { podCIDR: "10.250.1.0/24", podCIDRs: ["10.250.1.0/24"] } }, contentType: merge });
    assert.equal(reply.status, 422);
    assert.deepEqual(reply.json(), {
      kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure",
      message: 'Node "n1" is invalid: spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid',
      reason: "Invalid",
      details: { name: "n1", kind: "Node", causes: [{ reason: "FieldValueForbidden", message: 'Forbidden: node updates may not change podCIDR except from "" to valid', field: "spec.podCIDRs" }] },
      code: 422,
    });
  });

  test("a stale resourceVersion in a patch is the real 409 body", async () => {
    const reply = await call(lab, "PATCH", "/api/v1/nodes/n1", { body: { metadata: { resourceVersion: "1", labels: { q: "r" } } }, contentType: merge });
    assert.equal(reply.status, 409);
    assert.deepEqual(reply.json(), {
      kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure",
      message: 'Operation cannot be fulfilled on nodes "n1": the object has been modified; please apply your changes to the latest version and try again',
      reason: "Conflict", details: { name: "n1", kind: "nodes" }, code: 409,
    });
  });

  test("not found, already exists, unknown path and unknown patch type have the real bodies", async () => {
    const missing = await call(lab, "GET", "/api/v1/nodes/nope");
    assert.deepEqual(missing.json(), { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: 'nodes "nope" not found', reason: "NotFound", details: { name: "nope", kind: "nodes" }, code: 404 });
    const again = await call(lab, "POST", "/api/v1/nodes", { body: node("n1", "10.244.1.0/24") });
    assert.deepEqual(again.json(), { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: 'nodes "n1" already exists', reason: "AlreadyExists", details: { name: "n1", kind: "nodes" }, code: 409 });
    const unknown = await call(lab, "GET", "/api/v1/widgets");
    assert.deepEqual(unknown.json(), { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "the server could not find the requested resource", reason: "NotFound", details: {}, code: 404 });
    const media = await call(lab, "PATCH", "/api/v1/nodes/n1", { body: {}, contentType: "application/json" });
    assert.deepEqual(media.json(), { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "415: Unsupported Media Type", reason: "UnsupportedMediaType", details: {}, code: 415 });
    const scoped = await call(lab, "GET", "/api/v1/namespaces/default/nodes");
    assert.equal(scoped.status, 404, "nodes are cluster-scoped");
    const noNamespace = await call(lab, "POST", "/api/v1/namespaces/nope/configmaps", { body: { metadata: { name: "c" } } });
    assert.deepEqual([noNamespace.status, noNamespace.json().message], [404, 'namespaces "nope" not found']);
    const ds = await call(lab, "GET", "/apis/apps/v1/namespaces/default/daemonsets/x");
    assert.equal(ds.json().message, 'daemonsets.apps "x" not found');
    assert.deepEqual(ds.json().details, { name: "x", group: "apps", kind: "daemonsets" });
  });

  test("json-patch applies RFC 6902 operations; a failed test op is the generic 422", async () => {
    const ok = await call(lab, "PATCH", "/api/v1/nodes/n1", { body: [{ op: "add", path: "/metadata/labels/jp", value: "yes" }, { op: "test", path: "/metadata/labels/jp", value: "yes" }], contentType: jsonPatch });
    assert.equal(ok.json().metadata.labels.jp, "yes");
    const failed = await call(lab, "PATCH", "/api/v1/nodes/n1", { body: [{ op: "test", path: "/metadata/labels/jp", value: "no" }], contentType: jsonPatch });
    assert.deepEqual(failed.json(), { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "the server rejected our request due to an error in our request", reason: "Invalid", details: {}, code: 422 });
  });

  test("delete answers the Success Status and the watch gets DELETED at the deletion revision", async () => {
    const created = lab.api.store.create(node("gone", "10.244.14.0/24"));
    const watch = await openWatch(lab, `/api/v1/nodes?watch=true&resourceVersion=${created.metadata.resourceVersion}`);
    const reply = await call(lab, "DELETE", "/api/v1/nodes/gone", { body: { propagationPolicy: "Background" } });
    assert.deepEqual(reply.json(), { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details: { name: "gone", kind: "nodes", uid: created.metadata.uid } });
    const event = await watch.next();
    assert.equal(event.type, "DELETED");
    assert.equal(event.object.metadata.name, "gone");
    assert.equal(Number(event.object.metadata.resourceVersion), lab.api.store.resourceVersion);
    assert.ok(Number(event.object.metadata.resourceVersion) > Number(created.metadata.resourceVersion));
    watch.close();
  });
});

describe("reads", () => {
  test("list items carry no kind; the list RV is at least every item's; a single GET carries kind", async () => {
    const list = (await call(lab, "GET", "/api/v1/nodes")).json();
    assert.equal(list.kind, "NodeList");
    assert.equal(list.apiVersion, "v1");
    for (const item of list.items) {
      assert.equal(item.kind, undefined);
      assert.equal(item.apiVersion, undefined);
      assert.ok(Number(list.metadata.resourceVersion) >= Number(item.metadata.resourceVersion));
    }
    const one = (await call(lab, "GET", "/api/v1/nodes/n1")).json();
    assert.deepEqual([one.kind, one.apiVersion], ["Node", "v1"]);
  });

  test("a fresh Node serializes daemonEndpoints and nodeInfo as the Go structs do", async () => {
    const created = lab.api.store.create({ kind: "Node", apiVersion: "v1", metadata: { name: "bare" } });
    assert.deepEqual(created.spec, {});
    assert.deepEqual(created.status, {
      daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
      nodeInfo: { machineID: "", systemUUID: "", bootID: "", kernelVersion: "", osImage: "", containerRuntimeVersion: "", kubeletVersion: "", kubeProxyVersion: "", operatingSystem: "", architecture: "" },
    });
  });

  test("an unsupported field selector is the real 400; metadata.name and spec.unschedulable select", async () => {
    const bad = await call(lab, "GET", "/api/v1/nodes?fieldSelector=spec.podCIDR%3D10.244.1.0%2F24");
    assert.deepEqual(bad.json(), { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "field label not supported: spec.podCIDR", reason: "BadRequest", code: 400 });
    const byName = (await call(lab, "GET", "/api/v1/nodes?fieldSelector=metadata.name%3Dn1")).json();
    assert.deepEqual(byName.items.map((item: { metadata: { name: string } }) => item.metadata.name), ["n1"]);
    const schedulable = (await call(lab, "GET", "/api/v1/nodes?fieldSelector=spec.unschedulable%3Dfalse")).json();
    assert.ok(schedulable.items.length >= 2);
  });

  test("label selectors: equality, inequality, set and existence forms", async () => {
    const names = async (selector: string): Promise<string[]> =>
      (await call(lab, "GET", `/api/v1/nodes?labelSelector=${encodeURIComponent(selector)}`)).json().items.map((item: { metadata: { name: string } }) => item.metadata.name);
    assert.deepEqual(await names("kubernetes.io/hostname=n1"), ["n1"]);
    assert.deepEqual(await names("kubernetes.io/hostname in (n1,smp)"), ["n1", "smp"]);
    assert.ok(!(await names("kubernetes.io/hostname!=n1")).includes("n1"));
    assert.deepEqual(await names("jp"), ["n1"]);
    assert.ok(!(await names("!jp")).includes("n1"));
  });

  test("limit/continue pages read one consistent snapshot; RV=0 ignores the limit; a compacted continue is HTTP 410", async () => {
    const all = (await call(lab, "GET", "/api/v1/nodes")).json().items.map((item: { metadata: { name: string } }) => item.metadata.name);
    const first = (await call(lab, "GET", "/api/v1/nodes?limit=2")).json();
    assert.equal(first.items.length, 2);
    assert.equal(first.metadata.remainingItemCount, all.length - 2);
    lab.api.store.create(node("aaa-late", "10.244.15.0/24"));
    const seen = first.items.map((item: { metadata: { name: string } }) => item.metadata.name);
    let token: string | undefined = first.metadata.continue;
    while (token !== undefined) {
      const page = (await call(lab, "GET", `/api/v1/nodes?limit=2&continue=${encodeURIComponent(token)}`)).json();
      assert.equal(page.metadata.resourceVersion, first.metadata.resourceVersion);
      seen.push(...page.items.map((item: { metadata: { name: string } }) => item.metadata.name));
      token = page.metadata.continue;
    }
    assert.deepEqual(seen, all, "the node created between pages is not in the snapshot");
    const any = (await call(lab, "GET", "/api/v1/nodes?limit=1&resourceVersion=0")).json();
    assert.equal(any.items.length, all.length + 1);
    assert.equal(any.metadata.continue, undefined);
    lab.api.faults.compactHistory();
    const expired = await call(lab, "GET", `/api/v1/nodes?limit=2&continue=${encodeURIComponent(first.metadata.continue)}`);
    assert.equal(expired.status, 410);
    assert.equal(expired.json().reason, "Expired");
  });

  test("resourceVersion semantics of LIST: exact reads of the past, 410 once compacted, 504 for the future, 422 for bad options", async () => {
    const before = lab.api.store.resourceVersion;
    await call(lab, "PATCH", "/api/v1/nodes/n1", { body: { metadata: { labels: { era: "new" } } }, contentType: merge });
    const past = (await call(lab, "GET", `/api/v1/nodes?resourceVersion=${before}&resourceVersionMatch=Exact`)).json();
    assert.equal(past.metadata.resourceVersion, String(before));
    assert.equal(past.items.find((item: { metadata: { name: string } }) => item.metadata.name === "n1").metadata.labels.era, undefined);
    const notOlder = (await call(lab, "GET", `/api/v1/nodes?resourceVersion=${before}`)).json();
    assert.equal(notOlder.metadata.resourceVersion, String(lab.api.store.resourceVersion));
    lab.api.faults.compactHistory();
    const gone = await call(lab, "GET", `/api/v1/nodes?resourceVersion=${before}&limit=10`);
    assert.deepEqual([gone.status, gone.json().message], [410, "The resourceVersion for the provided list is too old."]);
    const future = await call(lab, "GET", `/api/v1/nodes?resourceVersion=${lab.api.store.resourceVersion + 100}`);
    assert.equal(future.status, 504);
    assert.equal(future.json().details.causes[0].reason, "ResourceVersionTooLarge");
    const noRv = await call(lab, "GET", "/api/v1/nodes?resourceVersionMatch=NotOlderThan");
    assert.deepEqual([noRv.status, noRv.json().message], [422, 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided']);
    const initial = await call(lab, "GET", "/api/v1/nodes?sendInitialEvents=true");
    assert.deepEqual([initial.status, initial.json().message], [422, 'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list']);
  });

  test("one resourceVersion is shared by every kind and may jump", async () => {
    const before = lab.api.store.resourceVersion;
    const cm = lab.api.store.create({ kind: "ConfigMap", apiVersion: "v1", metadata: { name: "c", namespace: "default" }, data: { a: "b" } });
    assert.equal(Number(cm.metadata.resourceVersion), before + 1);
    const jumped = lab.api.faults.jumpResourceVersion(1000);
    const list = (await call(lab, "GET", "/api/v1/nodes")).json();
    assert.equal(Number(list.metadata.resourceVersion), jumped);
    const patched = await call(lab, "PATCH", "/api/v1/nodes/n1", { body: { metadata: { labels: { jump: "1" } } }, contentType: merge });
    assert.equal(Number(patched.json().metadata.resourceVersion), jumped + 1);
  });

  test("JSON is answered when protobuf is listed first; Table when kubectl asks for it", async () => {
    const reply = await call(lab, "GET", "/api/v1/nodes/n1", { accept: "application/vnd.kubernetes.protobuf,application/json" });
    assert.equal(reply.headers["content-type"], "application/json");
    assert.equal(reply.json().kind, "Node");
    const table = await call(lab, "GET", "/api/v1/nodes?limit=500", { accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json" });
    const body = table.json();
    assert.equal(body.kind, "Table");
    assert.deepEqual(body.columnDefinitions.map((column: { name: string }) => column.name), ["Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"]);
    assert.equal(body.rows[0].object.kind, "PartialObjectMetadata");
  });
});
