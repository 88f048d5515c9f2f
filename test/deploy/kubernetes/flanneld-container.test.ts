// The kube-flannel container's command line, run for real: `/opt/bin/flanneld` with the
// manifest's args and env, in the image layout deploy/kubernetes/README.md describes (the built
// tree with its node_modules under /opt/flannel-ts, /opt/bin/flanneld a symlink to its launcher),
// through the manifest's mounts. `--check-config` (our extension) makes flanneld
// resolve every option and print them instead of starting, so nothing touches the network.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { needsRoot } from "../../support/root.ts";
import { runInSandbox } from "./container-sandbox.ts";
import { containerEnvironment, containerNamed, loadFlannelManifest, podSpecOf, required } from "./manifest.ts";

const projectRoot = resolve(import.meta.dirname, "../../..");
const manifest = loadFlannelManifest();
const pod = podSpecOf(manifest);
const flanneld = containerNamed(pod, "kube-flannel");

describe("kube-flannel.yml's flanneld container", { skip: needsRoot }, () => {
  let scratch: string;
  before(() => {
    scratch = mkdtempSync(join(tmpdir(), "flannel-ts-flanneld-"));
  });
  after(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  test("starts flanneld from the documented image layout, and flanneld takes its args and env as kube mode", async () => {
    const node = join(scratch, "node");
    const work = join(scratch, "work");
    mkdirSync(node);
    mkdirSync(work);
    const result = await runInSandbox({
      pod,
      container: { ...flanneld, args: [...(flanneld.args ?? []), "--check-config"] },
      node,
      work,
      imageBinds: { "/opt/flannel-ts": projectRoot },
      imageLinks: { "/opt/bin/flanneld": "/opt/flannel-ts/dist/bin/flanneld" },
      configMaps: { [required(manifest.configMap.metadata?.name, "ConfigMap name")]: { ...manifest.configMap.data } },
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", ...containerEnvironment(flanneld) },
    });
    assert.equal(result.code, 0, result.stderr);
    const options = JSON.parse(result.stdout) as { kubeSubnetMgr: boolean; ipMasq: boolean; healthzPort: number; netConfigPath: string };
    const port = required(flanneld.ports?.find((p) => p.name === "healthz"), "healthz port");
    assert.deepEqual(
      { kubeSubnetMgr: options.kubeSubnetMgr, ipMasq: options.ipMasq, healthzPort: options.healthzPort },
      { kubeSubnetMgr: true, ipMasq: true, healthzPort: port.containerPort },
    );
  });
});
