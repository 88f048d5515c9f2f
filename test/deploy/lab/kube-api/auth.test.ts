// Authentication, RBAC and discovery on the lab API server: 401 without a valid token, Flannel's
// ClusterRole letting its ServiceAccount patch nodes/status but not nodes (the real 403 body),
// TokenRequest, tokens dying with their ServiceAccount, and the discovery documents kubectl reads.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { call, flannelServiceAccount, node, startLab, type Lab } from "./fixture.ts";

let lab: Lab;
let flannel: string;
before(async () => {
  lab = await startLab();
  lab.api.store.create(node("n1", "10.244.1.0/24"));
  flannel = flannelServiceAccount(lab);
});
after(async () => {
  await lab.dispose();
});

const merge = "application/merge-patch+json";
const strategic = "application/strategic-merge-patch+json";
const unauthorized = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "Unauthorized", reason: "Unauthorized", code: 401 };

describe("authentication", () => {
  test("no token or an unknown token is 401 Unauthorized", async () => {
    for (const token of [null, "not-a-token"]) {
      const reply = await call(lab, "GET", "/api/v1/nodes", { token });
      assert.equal(reply.status, 401);
      assert.deepEqual(reply.json(), unauthorized);
    }
  });

  test("health and version need no token, as system:public-info-viewer allows", async () => {
    assert.equal((await call(lab, "GET", "/healthz", { token: null })).text, "ok");
    assert.equal((await call(lab, "GET", "/version", { token: null })).json().gitVersion, "v1.34.0");
  });

  test("a ServiceAccount token stops working when its ServiceAccount is deleted", async () => {
    lab.api.store.create({ kind: "ServiceAccount", apiVersion: "v1", metadata: { name: "short", namespace: "default" } });
    const token = lab.api.serviceAccountToken("default", "short");
    assert.equal((await call(lab, "GET", "/api", { token })).status, 200);
    lab.api.store.delete("ServiceAccount", "short", "default");
    assert.equal((await call(lab, "GET", "/api", { token })).status, 401);
  });

  test("TokenRequest mints a token that authenticates as the ServiceAccount", async () => {
    const reply = await call(lab, "POST", "/api/v1/namespaces/kube-flannel/serviceaccounts/flannel/token", {
      body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 600 } },
    });
    assert.equal(reply.status, 201);
    const body = reply.json();
    assert.deepEqual([body.kind, body.apiVersion, body.spec.expirationSeconds], ["TokenRequest", "authentication.k8s.io/v1", 600]);
    const asFlannel = await call(lab, "PATCH", "/api/v1/nodes/n1", { token: body.status.token, body: {}, contentType: merge });
    assert.match(asFlannel.json().message, /system:serviceaccount:kube-flannel:flannel/);
  });
});

describe("RBAC with Flannel's ClusterRole", () => {
  test("flannel may get, list and watch nodes and get pods", async () => {
    assert.equal((await call(lab, "GET", "/api/v1/nodes/n1", { token: flannel })).status, 200);
    assert.equal((await call(lab, "GET", "/api/v1/nodes?limit=500&resourceVersion=0", { token: flannel })).status, 200);
    lab.api.store.create({ kind: "Pod", apiVersion: "v1", metadata: { name: "kube-flannel-ds-x", namespace: "kube-flannel" }, spec: { nodeName: "n1", containers: [{ name: "c", image: "i" }] } });
    const pod = await call(lab, "GET", "/api/v1/namespaces/kube-flannel/pods/kube-flannel-ds-x", { token: flannel });
    assert.equal(pod.json().spec.nodeName, "n1");
  });

  test("flannel may patch nodes/status (annotations and NetworkUnavailable)", async () => {
    const annotations = await call(lab, "PATCH", "/api/v1/nodes/n1/status", {
      token: flannel, contentType: strategic,
      body: { metadata: { annotations: { "flannel.alpha.coreos.com/backend-type": "vxlan", "flannel.alpha.coreos.com/kube-subnet-manager": "true" } } },
    });
    assert.equal(annotations.status, 200);
    assert.equal(annotations.json().metadata.annotations["flannel.alpha.coreos.com/backend-type"], "vxlan");
  });

  test("a main-resource patch by flannel is the real 403", async () => {
    const reply = await call(lab, "PATCH", "/api/v1/nodes/n1", { token: flannel, body: { metadata: { annotations: { a: "b" } } }, contentType: strategic });
    assert.equal(reply.status, 403);
    assert.deepEqual(reply.json(), {
      kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure",
      message: 'nodes "n1" is forbidden: User "system:serviceaccount:kube-flannel:flannel" cannot patch resource "nodes" in API group "" at the cluster scope',
      reason: "Forbidden", details: { name: "n1", kind: "nodes" }, code: 403,
    });
  });

  test("403 texts name the subresource, the namespace and the group", async () => {
    const status = await call(lab, "PUT", "/api/v1/nodes/n1/status", { token: flannel, body: { metadata: { name: "n1" } } });
    assert.match(status.json().message, /cannot update resource "nodes\/status" in API group "" at the cluster scope$/);
    const list = await call(lab, "GET", "/api/v1/namespaces/kube-system/configmaps", { token: flannel });
    assert.equal(list.json().message, 'configmaps is forbidden: User "system:serviceaccount:kube-flannel:flannel" cannot list resource "configmaps" in API group "" in the namespace "kube-system"');
    assert.deepEqual(list.json().details, { kind: "configmaps" });
    const ds = await call(lab, "GET", "/apis/apps/v1/namespaces/kube-flannel/daemonsets/x", { token: flannel });
    assert.equal(ds.json().message, 'daemonsets.apps "x" is forbidden: User "system:serviceaccount:kube-flannel:flannel" cannot get resource "daemonsets" in API group "apps" in the namespace "kube-flannel"');
  });

  test("a RoleBinding grants rights only in its namespace", async () => {
    lab.api.store.create({ kind: "Role", apiVersion: "rbac.authorization.k8s.io/v1", metadata: { name: "cm", namespace: "kube-flannel" }, rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list"] }] } as never);
    lab.api.store.create({
      kind: "RoleBinding", apiVersion: "rbac.authorization.k8s.io/v1", metadata: { name: "cm", namespace: "kube-flannel" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "cm" }, subjects: [{ kind: "ServiceAccount", name: "flannel" }],
    } as never);
    assert.equal((await call(lab, "GET", "/api/v1/namespaces/kube-flannel/configmaps", { token: flannel })).status, 200);
    assert.equal((await call(lab, "GET", "/api/v1/namespaces/default/configmaps", { token: flannel })).status, 403);
  });

  test("SelfSubjectAccessReview answers what RBAC decides", async () => {
    const review = async (subresource: string): Promise<boolean> =>
      (await call(lab, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
        token: flannel,
        body: { kind: "SelfSubjectAccessReview", apiVersion: "authorization.k8s.io/v1", spec: { resourceAttributes: { verb: "patch", resource: "nodes", subresource } } },
      })).json().status.allowed;
    assert.equal(await review("status"), true);
    assert.equal(await review(""), false);
  });
});

describe("discovery", () => {
  test("/api names the server address; /apis lists apps and rbac; /version answers", async () => {
    assert.deepEqual((await call(lab, "GET", "/api")).json(), {
      kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: new URL(lab.api.url).host }],
    });
    const groups = (await call(lab, "GET", "/apis")).json();
    assert.equal(groups.kind, "APIGroupList");
    const names = groups.groups.map((group: { name: string }) => group.name);
    assert.ok(names.includes("apps") && names.includes("rbac.authorization.k8s.io"));
  });

  test("/api/v1 carries the real nodes entries", async () => {
    const list = (await call(lab, "GET", "/api/v1")).json();
    assert.deepEqual([list.kind, list.groupVersion, list.apiVersion], ["APIResourceList", "v1", undefined]);
    const nodes = list.resources.filter((resource: { name: string }) => resource.name.startsWith("nodes"));
    assert.deepEqual(nodes, [
      { name: "nodes", singularName: "node", namespaced: false, kind: "Node", verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"], shortNames: ["no"], storageVersionHash: "XwShjMxG9Fs=" },
      { name: "nodes/status", singularName: "", namespaced: false, kind: "Node", verbs: ["get", "patch", "update"] },
    ]);
    const apps = (await call(lab, "GET", "/apis/apps/v1")).json();
    assert.ok(apps.resources.some((resource: { name: string }) => resource.name === "daemonsets"));
  });
});
