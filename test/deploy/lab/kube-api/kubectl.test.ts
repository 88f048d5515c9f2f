// Real kubectl 1.35 (npm kubectl layer) and 1.20 (Debian kubernetes-client) against the lab API
// server over HTTPS with a bearer token, asserting what they print: tables, annotate/patch and the
// "(no change)" rule, error lines, the status subresource, create -f / delete -f of a small
// Flannel manifest, RBAC under Flannel's ClusterRole, and get -w.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { run } from "../../../../deploy/lab/tools/command.ts";
import { kubectl120, kubectl135 } from "../../../../deploy/lab/tools/kubectl.ts";
import { waitFor } from "../../../../deploy/lab/tools/wait.ts";
import { node, startLab, type Lab } from "./fixture.ts";

const manifest = join(import.meta.dirname, "fixtures", "flannel-small.yaml");
const conditionPatch = '{"status":{"conditions":[{"type":"NetworkUnavailable","status":"False","reason":"FlannelIsUp"}]}}';

/** A table printed by kubectl, as rows of cells (columns are separated by at least two spaces). */
function cells(output: string): string[][] {
  return output.trimEnd().split("\n").map((line) => line.trim().split(/\s{2,}/));
}

const isAge = /^\d+s$/;

for (const version of ["1.35", "1.20"] as const) {
  describe(`kubectl ${version}`, () => {
    let lab: Lab;
    let binary: string;
    let home: string;
    let adminConfig: string;
    let flannelConfig: string;
    const kubectl = async (config: string, ...args: string[]): Promise<{ out: string; code: number }> => {
      const result = await run([binary, ...args], { allowFailure: true, timeoutMs: 30_000, env: { PATH: process.env.PATH, HOME: home, KUBECONFIG: config } });
      return { out: result.stdout + result.stderr, code: result.code };
    };
    const admin = (...args: string[]): Promise<{ out: string; code: number }> => kubectl(adminConfig, ...args);

    before(async () => {
      binary = version === "1.35" ? kubectl135() : kubectl120();
      lab = await startLab();
      home = join(lab.dir, "home");
      mkdirSync(home);
      adminConfig = await lab.api.writeKubeconfig(join(lab.dir, "admin.kubeconfig"), lab.api.adminToken);
      lab.api.store.create(node("n1", "10.244.1.0/24"));
      const n2 = node("n2", "10.244.2.0/24");
      n2.metadata.labels = { ...n2.metadata.labels, "node-role.kubernetes.io/control-plane": "" };
      (n2.spec as Record<string, unknown>).unschedulable = true;
      (n2.status as { conditions: unknown[] }).conditions = [{ type: "Ready", status: "False" }];
      (n2.status as { addresses: unknown[] }).addresses = [{ type: "InternalIP", address: "198.18.0.2" }, { type: "ExternalIP", address: "203.0.113.2" }];
      lab.api.store.create(n2);
    });
    after(async () => {
      await lab?.dispose();
    });

    test("get nodes prints the server's columns", async () => {
      const { out, code } = await admin("get", "nodes");
      assert.equal(code, 0, out);
      const [header, n1, n2] = cells(out);
      assert.deepEqual(header, ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
      assert.deepEqual([...n1!.slice(0, 3), n1![4]], ["n1", "Ready", "<none>", "v1.34.0"]);
      assert.deepEqual([...n2!.slice(0, 3), n2![4]], ["n2", "NotReady,SchedulingDisabled", "control-plane", "v1.34.0"]);
      assert.match(n1![3]!, isAge);
    });

    test("get nodes -o wide adds the priority-1 columns", async () => {
      const { out } = await admin("get", "nodes", "-o", "wide");
      const [header, n1, n2] = cells(out);
      assert.deepEqual(header, ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]);
      assert.deepEqual(n1!.slice(5), ["198.18.0.1", "<none>", "Debian GNU/Linux 12 (bookworm)", "6.1.0-40-amd64", "containerd://1.6.20"]);
      assert.deepEqual(n2!.slice(5, 7), ["198.18.0.2", "203.0.113.2"]);
    });

    test("annotate, and patch with the (no change) rule", async () => {
      assert.equal((await admin("annotate", "node", "n1", "flannel.alpha.coreos.com/public-ip=198.18.0.1")).out, "node/n1 annotated\n");
      assert.equal(lab.api.store.get("Node", "n1")?.metadata.annotations?.["flannel.alpha.coreos.com/public-ip"], "198.18.0.1");
      assert.equal((await admin("annotate", "node", "n1", "flannel.alpha.coreos.com/public-ip-")).out, "node/n1 annotated\n");
      assert.equal((await admin("patch", "node", "n1", "--type", "merge", "-p", '{"metadata":{"labels":{"a":"b"}}}')).out, "node/n1 patched\n");
      assert.equal((await admin("patch", "node", "n1", "--type", "merge", "-p", '{"metadata":{"labels":{"a":"b"}}}')).out, "node/n1 patched (no change)\n");
      // Status sent to the main resource is dropped by the server, so kubectl sees no change.
      assert.equal((await admin("patch", "node", "n1", "--type", "strategic", "-p", conditionPatch)).out, "node/n1 patched (no change)\n");
    });

    test("server errors are printed as kubectl prints the real ones", async () => {
      const missing = await admin("patch", "node", "nope", "--type", "merge", "-p", '{"metadata":{"labels":{"a":"b"}}}');
      assert.deepEqual([missing.out, missing.code], ['Error from server (NotFound): nodes "nope" not found\n', 1]);
      const cidr = await admin("patch", "node", "n1", "--type", "merge", "-p", '{"spec":{"podCIDR":"10.250.1.0/24","podCIDRs":["10.250.1.0/24"]}}');
      assert.equal(cidr.out, 'The Node "n1" is invalid: spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid\n');
      const stale = await admin("patch", "node", "n1", "--type", "merge", "-p", '{"metadata":{"resourceVersion":"1","labels":{"q":"r"}}}');
      assert.equal(stale.out, 'Error from server (Conflict): Operation cannot be fulfilled on nodes "n1": the object has been modified; please apply your changes to the latest version and try again\n');
    });

    test("patch --subresource=status", async () => {
      const result = await admin("patch", "node", "n1", "--subresource=status", "--type", "strategic", "-p", conditionPatch);
      if (version === "1.20") {
        assert.match(result.out, /^Error: unknown flag: --subresource/);
        return;
      }
      assert.equal(result.out, "node/n1 patched\n");
      const conditions = (lab.api.store.get("Node", "n1")?.status as { conditions: { type: string }[] }).conditions;
      assert.deepEqual(conditions.map((condition) => condition.type), ["Ready", "NetworkUnavailable"]);
    });

    test("create -f of Flannel's objects, under whose RBAC the next test runs", async () => {
      const created = await admin("create", "-f", manifest, "--validate=false");
      assert.equal(created.code, 0, created.out);
      assert.equal(created.out, [
        "namespace/kube-flannel created",
        "serviceaccount/flannel created",
        "clusterrole.rbac.authorization.k8s.io/flannel created",
        "clusterrolebinding.rbac.authorization.k8s.io/flannel created",
        "configmap/kube-flannel-cfg created",
        "daemonset.apps/kube-flannel-ds created",
        "",
      ].join("\n"));
      assert.equal(lab.api.store.get("DaemonSet", "kube-flannel-ds", "kube-flannel")?.metadata.generation, 1);
      const again = await admin("create", "-f", manifest, "--validate=false");
      assert.match(again.out, /Error from server \(AlreadyExists\): error when creating ".*": namespaces "kube-flannel" already exists/);
      flannelConfig = await lab.api.writeKubeconfig(join(lab.dir, "flannel.kubeconfig"), lab.api.serviceAccountToken("kube-flannel", "flannel"));
    });

    test("under Flannel's ClusterRole: reads pass, a main-resource patch is forbidden, can-i agrees", async () => {
      const forbidden = await kubectl(flannelConfig, "annotate", "node", "n1", "x=y");
      assert.equal(forbidden.out, 'Error from server (Forbidden): nodes "n1" is forbidden: User "system:serviceaccount:kube-flannel:flannel" cannot patch resource "nodes" in API group "" at the cluster scope\n');
      assert.equal((await kubectl(flannelConfig, "get", "nodes", "-o", "name")).out, "node/n1\nnode/n2\n");
      if (version === "1.35") {
        // kubectl GETs nodes/n2/status before patching it: Flannel's role has no get on nodes/status,
        // so a real cluster refuses this command too (flanneld itself only PATCHes).
        assert.equal(
          (await kubectl(flannelConfig, "patch", "node", "n2", "--subresource=status", "--type", "strategic", "-p", conditionPatch)).out,
          'Error from server (Forbidden): nodes "n2" is forbidden: User "system:serviceaccount:kube-flannel:flannel" cannot get resource "nodes/status" in API group "" at the cluster scope\n',
        );
        // (kubectl adds a client-side warning that nodes are not namespaced: only the answer line is checked.)
        const allowed = await kubectl(flannelConfig, "auth", "can-i", "patch", "nodes", "--subresource=status");
        assert.deepEqual([allowed.out.split("\n")[0], allowed.code], ["yes", 0]);
        const denied = await kubectl(flannelConfig, "auth", "can-i", "patch", "nodes");
        assert.deepEqual([denied.out.split("\n")[0], denied.code], ["no", 1]);
      }
    });

    test("get nodes -w prints a row for a change", async () => {
      const child = spawn(binary, ["get", "nodes", "-w"], { env: { PATH: process.env.PATH, HOME: home, KUBECONFIG: adminConfig } });
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
      try {
        await waitFor(() => output.split("\n").length > 3, { what: "the initial rows", timeoutMs: 10_000 });
        lab.api.store.patch("Node", "n1", { metadata: { labels: { watched: "yes" } } });
        await waitFor(() => output.split("\n").length > 4, { what: "the row of the change", timeoutMs: 10_000 });
        const rows = cells(output);
        assert.equal(rows[3]![0], "n1");
      } finally {
        child.kill("SIGTERM");
        await sleep(50);
      }
    });

    test("delete -f removes them; the namespace terminates, then goes with its content", async () => {
      const deleted = await admin("delete", "-f", manifest);
      assert.equal(deleted.code, 0, deleted.out);
      const inNamespace = version === "1.35" ? " from kube-flannel namespace" : "";
      assert.equal(deleted.out, [
        'namespace "kube-flannel" deleted',
        `serviceaccount "flannel" deleted${inNamespace}`,
        'clusterrole.rbac.authorization.k8s.io "flannel" deleted',
        'clusterrolebinding.rbac.authorization.k8s.io "flannel" deleted',
        `configmap "kube-flannel-cfg" deleted${inNamespace}`,
        `daemonset.apps "kube-flannel-ds" deleted${inNamespace}`,
        "",
      ].join("\n"));
      await waitFor(() => lab.api.store.get("Namespace", "kube-flannel") === undefined, { what: "the namespace to finish terminating", timeoutMs: 5000 });
      assert.equal((await kubectl(flannelConfig, "get", "nodes")).code, 1, "the flannel token died with its ServiceAccount");
    });
  });
}
