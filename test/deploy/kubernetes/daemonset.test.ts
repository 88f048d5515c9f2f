// The DaemonSet of deploy/kubernetes/kube-flannel.yml, checked offline against the product:
// flanneld's args and env through flanneld's own flag parser, its file paths against the pod's
// mounts and volumes, the probes against the flags and against flanneld's health server, and the
// init steps' command lines against the atomic-install form (init-containers.test.ts runs them).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { posix, resolve } from "node:path";
import { describe, test } from "node:test";
import { parseFlanneldArgs } from "../../../agent/config/flags.ts";
import { startHealthServer } from "../../../agent/ops/health.ts";
import { parseInstallCommand } from "./install-command.ts";
import { containerEnvironment, containerNamed, loadFlannelManifest, mountFor, podSpecOf, required, volumeNamed } from "./manifest.ts";

const manifest = loadFlannelManifest();
const spec = podSpecOf(manifest);
const flanneld = containerNamed(spec, "kube-flannel");
const options = parseFlanneldArgs(flanneld.args ?? [], containerEnvironment(flanneld));

describe("kube-flannel.yml: the DaemonSet", () => {
  test("runs one pod per Linux node, on the host network, tolerating every NoSchedule taint, as system-node-critical", () => {
    const daemonSet = manifest.daemonSet;
    assert.equal(daemonSet.metadata?.name, "kube-flannel-ds");
    const selector = required(daemonSet.spec?.selector.matchLabels, "selector.matchLabels");
    for (const [key, value] of Object.entries(selector)) assert.equal(daemonSet.spec?.template.metadata?.labels?.[key], value);
    assert.deepEqual(selector, { app: "flannel" });
    assert.equal(spec.hostNetwork, true);
    assert.equal(spec.priorityClassName, "system-node-critical");
    assert.deepEqual(spec.tolerations, [{ operator: "Exists", effect: "NoSchedule" }]);
    const terms = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
    assert.deepEqual(terms, [{ matchExpressions: [{ key: "kubernetes.io/os", operator: "In", values: ["linux"] }] }]);
  });

  test("flanneld's args and env parse with flanneld's own flag parser into kube mode with masquerading", () => {
    assert.deepEqual(flanneld.command, ["/opt/bin/flanneld"]);
    assert.equal(options.kubeSubnetMgr, true);
    assert.equal(options.ipMasq, true);
    assert.deepEqual([options.kubeApiUrl, options.kubeconfigFile], ["", ""], "in-cluster config: no API URL, no kubeconfig");
    const env = containerEnvironment(flanneld);
    assert.equal(env.EVENT_QUEUE_DEPTH, "5000");
    const byName = new Map((flanneld.env ?? []).map((variable) => [variable.name, variable]));
    assert.equal(byName.get("POD_NAME")?.valueFrom?.fieldRef?.fieldPath, "metadata.name");
    assert.equal(byName.get("POD_NAMESPACE")?.valueFrom?.fieldRef?.fieldPath, "metadata.namespace");
  });

  test("flanneld reads net-conf.json from the ConfigMap's volume", () => {
    const { volume, subPath } = mountFor(flanneld, options.netConfigPath);
    assert.equal(volumeNamed(spec, volume).configMap?.name, manifest.configMap.metadata?.name);
    assert.ok(Object.hasOwn(manifest.configMap.data ?? {}, subPath), `ConfigMap key ${subPath}`);
  });

  test("the probes reach the health server flanneld is told to start, on an address the kubelet can reach", () => {
    assert.ok(options.healthzPort > 0, "--healthz-port must be passed: Flannel's default 0 turns the server off");
    assert.equal(options.healthzIp, "0.0.0.0", "the kubelet probes a hostNetwork pod at the node's address");
    const port = required((flanneld.ports ?? []).find((p) => p.name === "healthz"), "healthz port");
    assert.equal(port.containerPort, options.healthzPort);
    const probes = [required(flanneld.livenessProbe?.httpGet, "liveness httpGet"), required(flanneld.readinessProbe?.httpGet, "readiness httpGet")];
    for (const probe of probes) assert.ok(probe.port === port.name || probe.port === options.healthzPort, `probe port ${probe.port}`);
    assert.deepEqual(probes.map((probe) => probe.path), ["/healthz", "/readyz"]);
  });

  test("the probe paths are the ones flanneld's health server answers: liveness at once, readiness once ready", async () => {
    let notReady: string | undefined = "subnet.env not written yet";
    await using server = await startHealthServer("127.0.0.1", 0, { problems: () => (notReady === undefined ? [] : [notReady]) });
    const status = async (path: string | undefined): Promise<number> => (await fetch(`http://127.0.0.1:${server.port}${path}`)).status;
    const liveness = required(flanneld.livenessProbe?.httpGet?.path, "liveness path");
    const readiness = required(flanneld.readinessProbe?.httpGet?.path, "readiness path");
    assert.deepEqual([await status(liveness), await status(readiness)], [200, 503]);
    notReady = undefined;
    assert.deepEqual([await status(liveness), await status(readiness)], [200, 200]);
  });

  test("flanneld runs unprivileged with NET_ADMIN and NET_RAW only, and asks for CPU and memory", () => {
    assert.deepEqual(flanneld.securityContext, { privileged: false, capabilities: { add: ["NET_ADMIN", "NET_RAW"] } });
    assert.ok(flanneld.resources?.requests?.cpu !== undefined && flanneld.resources.requests.memory !== undefined);
  });

  test("every volumeMount names a volume of the pod, and every volume is mounted", () => {
    const volumes = new Set((spec.volumes ?? []).map((volume) => volume.name));
    const used = new Set<string>();
    for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
      for (const mount of container.volumeMounts ?? []) {
        assert.ok(volumes.has(mount.name), `${container.name} mounts ${mount.name}, which is no volume`);
        used.add(mount.name);
      }
    }
    assert.deepEqual([...used].sort(), [...volumes].sort());
  });

  test("the host paths are Flannel's: /run/flannel, /opt/cni/bin, /etc/cni/net.d, /run/xtables.lock", () => {
    assert.equal(volumeNamed(spec, "run").hostPath?.path, "/run/flannel");
    assert.equal(volumeNamed(spec, "cni-plugin").hostPath?.path, "/opt/cni/bin");
    assert.equal(volumeNamed(spec, "cni").hostPath?.path, "/etc/cni/net.d");
    assert.deepEqual(volumeNamed(spec, "xtables-lock").hostPath, { path: "/run/xtables.lock", type: "FileOrCreate" });
    assert.equal(mountFor(flanneld, "/run/xtables.lock").volume, "xtables-lock");
  });

  test("one image serves every container, and it is the placeholder the README tells users to replace", () => {
    const images = new Set([...(spec.initContainers ?? []), ...spec.containers].map((container) => container.image));
    assert.equal(images.size, 1);
    const [image] = images;
    const readme = readFileSync(resolve(import.meta.dirname, "../../../deploy/kubernetes/README.md"), "utf8");
    assert.ok(readme.includes(required(image, "image")), "the README names the image to replace");
  });

  test("the init steps install the plugin and the conflist under a temporary name in the target directory, then rename", () => {
    const plugin = parseInstallCommand(containerNamed(spec, "install-cni-plugin"));
    assert.deepEqual([plugin.source, plugin.target], ["/flannel", "/opt/cni/bin/flannel"]);
    const conflist = parseInstallCommand(containerNamed(spec, "install-cni"));
    assert.deepEqual([conflist.source, conflist.target], ["/etc/kube-flannel/cni-conf.json", "/etc/cni/net.d/10-flannel.conflist"]);
    for (const step of [plugin, conflist]) {
      assert.equal(posix.dirname(step.temporary), posix.dirname(step.target), "rename(2) is atomic only within one file system");
      assert.doesNotMatch(posix.basename(step.temporary), /\.(conf|conflist|json)$/, "a runtime must not load a half-written temporary file");
      assert.notEqual(step.temporary, step.target);
    }
  });
});
