// The patch engines of the lab API server, table-tested without HTTP: strategic merge as the Go
// patch tags direct it (merge keys, primitive unions, directives), JSON merge patch and JSON patch.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { KubeStatusError } from "../../../../deploy/lab/kube-api/errors.ts";
import { jsonPatch, mergePatch, patchTypeOf } from "../../../../deploy/lab/kube-api/patch.ts";
import { strategicMergePatch } from "../../../../deploy/lab/kube-api/strategic.ts";

describe("strategic merge patch", () => {
  const cases: { name: string; kind: string; original: unknown; patch: Record<string, unknown>; expected: unknown }[] = [
    {
      name: "spec.podCIDRs is a set union; $deleteFromPrimitiveList removes from it",
      kind: "Node",
      original: { spec: { podCIDRs: ["10.244.1.0/24"] } },
      patch: { spec: { podCIDRs: ["fd00::/64", "10.244.1.0/24"] } },
      expected: { spec: { podCIDRs: ["10.244.1.0/24", "fd00::/64"] } },
    },
    {
      name: "$deleteFromPrimitiveList removes values of a primitive list",
      kind: "Node",
      original: { metadata: { finalizers: ["a", "b"] } },
      patch: { metadata: { "$deleteFromPrimitiveList/finalizers": ["a"] } },
      expected: { metadata: { finalizers: ["b"] } },
    },
    {
      name: "spec.taints has no merge key on v1.Node: the list is replaced",
      kind: "Node",
      original: { spec: { taints: [{ key: "a", effect: "NoSchedule" }] } },
      patch: { spec: { taints: [{ key: "b", effect: "NoSchedule" }] } },
      expected: { spec: { taints: [{ key: "b", effect: "NoSchedule" }] } },
    },
    {
      name: "a $patch: replace element replaces a merge-keyed list",
      kind: "Node",
      original: { status: { conditions: [{ type: "Ready" }, { type: "X" }] } },
      patch: { status: { conditions: [{ $patch: "replace" }, { type: "Y" }] } },
      expected: { status: { conditions: [{ type: "Y" }] } },
    },
    {
      name: "$patch: replace on a map replaces it, $patch: delete removes it",
      kind: "Node",
      original: { metadata: { labels: { a: "1", b: "2" } }, spec: { x: 1 } },
      patch: { metadata: { labels: { $patch: "replace", c: "3" } }, spec: { $patch: "delete" } },
      expected: { metadata: { labels: { c: "3" } } },
    },
    {
      name: "$retainKeys keeps only the listed keys",
      kind: "DaemonSet",
      original: { spec: { updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } } } },
      patch: { spec: { updateStrategy: { $retainKeys: ["type"], type: "OnDelete" } } },
      expected: { spec: { updateStrategy: { type: "OnDelete" } } },
    },
    {
      name: "DaemonSet containers merge by name, their env by name",
      kind: "DaemonSet",
      original: { spec: { template: { spec: { containers: [{ name: "a", image: "i1", env: [{ name: "X", value: "1" }] }, { name: "b", image: "j" }] } } } },
      patch: { spec: { template: { spec: { containers: [{ name: "a", env: [{ name: "Y", value: "2" }] }] } } } },
      expected: { spec: { template: { spec: { containers: [{ name: "a", image: "i1", env: [{ name: "X", value: "1" }, { name: "Y", value: "2" }] }, { name: "b", image: "j" }] } } } },
    },
    {
      name: "kinds without patch tags replace lists, as a merge patch does; null deletes",
      kind: "ConfigMap",
      original: { data: { a: "1", b: "2" }, list: [1, 2] },
      patch: { data: { a: null }, list: [3] },
      expected: { data: { b: "2" }, list: [3] },
    },
  ];
  for (const { name, kind, original, patch, expected } of cases) {
    test(name, () => {
      assert.deepEqual(strategicMergePatch(kind, original, patch), expected);
    });
  }

  test("an unknown $patch directive is a 400", () => {
    assert.throws(() => strategicMergePatch("Node", {}, { spec: { $patch: "explode" } }), (error: unknown) => error instanceof KubeStatusError && error.code === 400);
  });
});

describe("merge patch and JSON patch", () => {
  test("merge patch: objects merge, null deletes, arrays replace", () => {
    assert.deepEqual(mergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null, d: 3 }, l: [9] }), { a: { c: 2, d: 3 }, l: [9] });
  });

  test("JSON patch: add/remove/replace/move/copy/test, ~1 escapes, - appends", () => {
    const result = jsonPatch({ metadata: { annotations: { "a/b": "x" } }, list: [1] }, [
      { op: "add", path: "/list/-", value: 2 },
      { op: "replace", path: "/metadata/annotations/a~1b", value: "y" },
      { op: "copy", from: "/list/0", path: "/first" },
      { op: "move", from: "/first", path: "/moved" },
      { op: "remove", path: "/list/0" },
      { op: "test", path: "/moved", value: 1 },
    ]);
    assert.deepEqual(result, { metadata: { annotations: { "a/b": "y" } }, list: [2], moved: 1 });
  });

  test("JSON patch on a missing path is the generic 422", () => {
    assert.throws(() => jsonPatch({}, [{ op: "replace", path: "/nope", value: 1 }]), (error: unknown) => error instanceof KubeStatusError && error.code === 422);
  });

  test("Content-Type picks the patch type; charset is ignored; apply-patch is 415", () => {
    assert.equal(patchTypeOf("application/strategic-merge-patch+json; charset=utf-8"), "strategic");
    assert.throws(() => patchTypeOf("application/apply-patch+yaml"), (error: unknown) => error instanceof KubeStatusError && error.code === 415);
  });
});
