// kube-flannel.yml against an API server: the real kubectl (1.35 and Debian's 1.20) creates and
// applies it on the lab's API server (deploy/lab/kube-api), which evaluates RBAC from the ClusterRole and
// ClusterRoleBinding stored there — the manifest's own. Then the ServiceAccount's token makes
// each of flanneld's calls (they must be allowed) and calls just beside them (they must be
// forbidden), and `kubectl auth can-i` walks a matrix of verbs and resources: exactly flanneld's
// five grants answer yes. A right missing from the manifest, or one too many, fails here.
// Departures, each forced by the lab server: `--validate=false` on create and apply, as it serves no
// OpenAPI document for kubectl's client-side schema check (manifests.test.ts checks the schemas
// with kubernetes-models instead); `auth can-i` through kubectl 1.20, as kubectl 1.35 sends the
// SelfSubjectAccessReview as protobuf, which the lab server answers with 415.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startKubeApiServer } from "../../../deploy/lab/kube-api/server.ts";
import { run, type CommandResult } from "../../../deploy/lab/tools/command.ts";
import { kubectl120, kubectl135 } from "../../../deploy/lab/tools/kubectl.ts";
import { apiRequest } from "./api-request.ts";
import { loadFlannelManifest, manifestPath } from "./manifest.ts";

type KubeApiServer = Awaited<ReturnType<typeof startKubeApiServer>>;

const createdLines = [
  "namespace/kube-flannel created",
  "clusterrole.rbac.authorization.k8s.io/flannel created",
  "clusterrolebinding.rbac.authorization.k8s.io/flannel created",
  "serviceaccount/flannel created",
  "configmap/kube-flannel-cfg created",
  "daemonset.apps/kube-flannel-ds created",
];

const serviceAccountUser = "system:serviceaccount:kube-flannel:flannel";
const nodeName = "node-1";
const podName = "kube-flannel-ds-x7k2p";
const strategicMergePatch = "application/strategic-merge-patch+json";
const annotationPatch = JSON.stringify({ metadata: { annotations: { "flannel.alpha.coreos.com/kube-subnet-manager": "true" } } });

/** A kubectl bound to one kubeconfig, with its cache in the scratch directory. */
function kubectlRunner(binary: string, kubeconfig: string, cacheDir: string) {
  return (args: readonly string[], input?: string): Promise<CommandResult> =>
    run([binary, `--kubeconfig=${kubeconfig}`, `--cache-dir=${cacheDir}`, ...args], {
      allowFailure: true,
      timeoutMs: 30_000,
      env: { PATH: process.env.PATH, HOME: cacheDir },
      ...(input === undefined ? {} : { input }),
    });
}

function assertForbidden(result: CommandResult, verb: string, resource: string): void {
  assert.notEqual(result.code, 0, `${verb} ${resource} should be forbidden:\n${result.stdout}`);
  assert.match(result.stderr, /\(Forbidden\)/, result.stderr);
  assert.ok(result.stderr.includes(`User "${serviceAccountUser}" cannot ${verb} resource "${resource}"`), result.stderr);
}

describe("kube-flannel.yml on the lab's API server", () => {
  let scratch: string;
  before(() => {
    scratch = mkdtempSync(join(tmpdir(), "flannel-ts-kubectl-"));
  });
  after(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  async function startServer(name: string): Promise<{ server: KubeApiServer; admin: string }> {
    const server = await startKubeApiServer({ stateDir: join(scratch, name) });
    const admin = join(scratch, `${name}-admin.kubeconfig`);
    await server.writeKubeconfig(admin, server.adminToken);
    return { server, admin };
  }

  test("kubectl 1.20 applies every object of the manifest; applying it again, with 1.20 or 1.35, changes nothing", async () => {
    const { server, admin } = await startServer("k120");
    try {
      const apply = async (binary: string, cache: string): Promise<string[]> => {
        const result = await kubectlRunner(binary, admin, join(scratch, cache))(["apply", "--validate=false", "-f", manifestPath]);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stderr, "");
        return result.stdout.trim().split("\n");
      };
      assert.deepEqual(await apply(kubectl120(), "k120-cache"), createdLines);
      const unchanged = createdLines.map((line) => line.replace(/ created$/, " unchanged"));
      assert.deepEqual(await apply(kubectl120(), "k120-cache"), unchanged);
      assert.deepEqual(await apply(kubectl135(), "k120-cache-135"), unchanged);
    } finally {
      await server.close();
    }
  });

  describe("created by kubectl 1.35, used with the ServiceAccount's token", () => {
    let server: KubeApiServer;
    let admin: ReturnType<typeof kubectlRunner>;
    let flannel: ReturnType<typeof kubectlRunner>;
    /** kubectl 1.20 with the same token: kubectl 1.35 sends SelfSubjectAccessReviews as protobuf, which the lab server does not read. */
    let flannel120: ReturnType<typeof kubectlRunner>;
    let token: string;

    before(async () => {
      const started = await startServer("k135");
      server = started.server;
      admin = kubectlRunner(kubectl135(), started.admin, join(scratch, "k135-cache"));
      const created = await admin(["create", "--validate=false", "-f", manifestPath]);
      assert.equal(created.code, 0, created.stderr);
      assert.deepEqual(created.stdout.trim().split("\n"), createdLines);
      // What the cluster holds besides: flanneld's node and its own pod, scheduled there.
      const node = { apiVersion: "v1", kind: "Node", metadata: { name: nodeName }, spec: { podCIDR: "10.244.1.0/24", podCIDRs: ["10.244.1.0/24"] } };
      const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: podName, namespace: "kube-flannel", labels: { app: "flannel", tier: "node" } },
        spec: { nodeName, serviceAccountName: "flannel", hostNetwork: true, containers: [{ name: "kube-flannel", image: "flannel-ts" }] },
      };
      server.store.create(node);
      server.store.create(pod);
      const kubeconfig = join(scratch, "flannel.kubeconfig");
      token = server.serviceAccountToken("kube-flannel", "flannel");
      await server.writeKubeconfig(kubeconfig, token);
      flannel = kubectlRunner(kubectl135(), kubeconfig, join(scratch, "flannel-cache"));
      flannel120 = kubectlRunner(kubectl120(), kubeconfig, join(scratch, "flannel120-cache"));
    });
    after(async () => {
      await server?.close();
    });

    test("flanneld's calls are allowed: get its pod, get and list and watch nodes, patch nodes/status", async () => {
      const ownPod = await flannel(["get", "pod", "-n", "kube-flannel", podName, "-o", "jsonpath={.spec.nodeName}"]);
      assert.deepEqual([ownPod.code, ownPod.stdout, ownPod.stderr], [0, nodeName, ""]);
      const ownNode = await flannel(["get", "node", nodeName, "-o", "name"]);
      assert.deepEqual([ownNode.code, ownNode.stdout.trim()], [0, `node/${nodeName}`], ownNode.stderr);
      const list = await flannel(["get", "nodes", "-o", "name"]);
      assert.deepEqual([list.code, list.stdout.trim()], [0, `node/${nodeName}`], list.stderr);
      const watch = await flannel(["get", "--raw", "/api/v1/nodes?watch=true&timeoutSeconds=1"]);
      assert.equal(watch.code, 0, watch.stderr);
      assert.match(watch.stdout, /"type":"ADDED"/);
      // flanneld's annotation write: a strategic merge PATCH of nodes/NAME/status, sent alone.
      const patched = await apiRequest(server, token, "PATCH", `/api/v1/nodes/${nodeName}/status`, { contentType: strategicMergePatch, text: annotationPatch });
      assert.equal(patched.status, 200, patched.body);
      const annotations = (JSON.parse(patched.body) as { metadata: { annotations?: Record<string, string> } }).metadata.annotations;
      assert.equal(annotations?.["flannel.alpha.coreos.com/kube-subnet-manager"], "true");
    });

    test("the calls beside them are forbidden: patch or delete the node itself, list pods, read the ConfigMap", async () => {
      const onNode = await apiRequest(server, token, "PATCH", `/api/v1/nodes/${nodeName}`, { contentType: strategicMergePatch, text: annotationPatch });
      assert.equal(onNode.status, 403, onNode.body);
      assertForbidden(await flannel(["patch", "node", nodeName, "--type=strategic", "-p", annotationPatch]), "patch", "nodes");
      assertForbidden(await flannel(["delete", "node", nodeName]), "delete", "nodes");
      assertForbidden(await flannel(["get", "pods", "-n", "kube-flannel"]), "list", "pods");
      assertForbidden(await flannel(["get", "configmap", "kube-flannel-cfg", "-n", "kube-flannel"]), "get", "configmaps");
    });

    test("kubectl auth can-i: of every verb on every resource flanneld might touch, exactly its five grants answer yes", async () => {
      const verbs = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"];
      const resources: { name: string; args: string[] }[] = [
        { name: "pods", args: ["pods", "-n", "kube-flannel"] },
        { name: "nodes", args: ["nodes"] },
        { name: "nodes/status", args: ["nodes", "--subresource=status"] },
        { name: "namespaces", args: ["namespaces"] },
        { name: "configmaps", args: ["configmaps", "-n", "kube-flannel"] },
        { name: "serviceaccounts", args: ["serviceaccounts", "-n", "kube-flannel"] },
        { name: "daemonsets.apps", args: ["daemonsets.apps", "-n", "kube-flannel"] },
        { name: "clusterroles", args: ["clusterroles.rbac.authorization.k8s.io"] },
      ];
      const allowed: string[] = [];
      for (const resource of resources) {
        const answers = await Promise.all(verbs.map((verb) => flannel120(["auth", "can-i", verb, ...resource.args])));
        answers.forEach((answer, index) => {
          assert.ok(answer.stdout.trim() === "yes" || answer.stdout.trim() === "no", `${verbs[index]} ${resource.name}: ${answer.stdout} ${answer.stderr}`);
          if (answer.stdout.trim() === "yes") allowed.push(`${verbs[index]} ${resource.name}`);
        });
      }
      assert.deepEqual(allowed.sort(), ["get nodes", "get pods", "list nodes", "patch nodes/status", "watch nodes"]);
    });

    test("the server enforces the manifest's role, not a built-in one: without `watch` in it, watching nodes is forbidden", async () => {
      const original = loadFlannelManifest().clusterRole.rules ?? [];
      const withoutWatch = original.map((rule) => ({ ...rule, verbs: rule.verbs.filter((verb) => verb !== "watch") }));
      assert.notDeepEqual(withoutWatch, original);
      const setRules = (rules: unknown): Promise<CommandResult> => admin(["patch", "clusterrole", "flannel", "--type=merge", "-p", JSON.stringify({ rules })]);
      const removed = await setRules(withoutWatch);
      assert.equal(removed.code, 0, removed.stderr);
      try {
        assertForbidden(await flannel(["get", "--raw", "/api/v1/nodes?watch=true&timeoutSeconds=1"]), "watch", "nodes");
      } finally {
        const restored = await setRules(original);
        assert.equal(restored.code, 0, restored.stderr);
      }
      const watch = await flannel(["get", "--raw", "/api/v1/nodes?watch=true&timeoutSeconds=1"]);
      assert.equal(watch.code, 0, watch.stderr);
    });
  });
});
