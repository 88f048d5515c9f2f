// The init containers of kube-flannel.yml, run for real: their exact command lines, through the
// mounts the manifest declares, against a scratch directory standing for the node (see
// container-sandbox.ts). A step that writes to the wrong path, misses a mount, or installs in place
// fails here. The atomicity test execs the installed plugin in a tight loop while it is being
// replaced: with our rename every exec finds a whole file; the same load on Flannel's `cp -f`
// shows why we do not copy in place.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { IContainer } from "kubernetes-models/v1";
import { run } from "../../../deploy/lab/tools/command.ts";
import { flannelCniPlugin } from "../../../deploy/lab/tools/cni.ts";
import { needsRoot } from "../../support/root.ts";
import { runInSandbox, type ImageFile } from "./container-sandbox.ts";
import { configMapData, containerNamed, loadFlannelManifest, podSpecOf } from "./manifest.ts";

const manifest = loadFlannelManifest();
const pod = podSpecOf(manifest);
const configMaps = { "kube-flannel-cfg": { ...(manifest.configMap.data ?? {}) } };

/** An executable that exits 0 at once, padded to `megabytes` so that copying it takes a while. */
function bigExecutable(megabytes: number): Buffer {
  return Buffer.concat([readFileSync("/usr/bin/true"), Buffer.alloc(megabytes * 1024 * 1024)]);
}

describe("kube-flannel.yml init containers, run against a scratch node", { skip: needsRoot }, () => {
  let scratch: string;
  let round = 0;
  before(() => {
    scratch = mkdtempSync(join(tmpdir(), "flannel-ts-init-"));
  });
  after(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  /** A fresh node (`node`) and scratch space (`work`) for one run. */
  function fresh(): { node: string; work: string } {
    round += 1;
    const node = join(scratch, `node-${round}`);
    const work = join(scratch, `work-${round}`);
    mkdirSync(node, { recursive: true });
    mkdirSync(work, { recursive: true });
    return { node, work };
  }

  async function runStep(container: IContainer, node: string, work: string, imageFiles: Record<string, ImageFile>): Promise<void> {
    const result = await runInSandbox({ pod, container, node, work, imageFiles, configMaps });
    assert.equal(result.code, 0, `${container.name} failed:\n${result.stderr}`);
  }

  test("install-cni-plugin puts the image's /flannel (our built plugin) on the node, where it runs without Node", async () => {
    const { node, work } = fresh();
    const result = await runInSandbox({ pod, container: containerNamed(pod, "install-cni-plugin"), node, work, imageBinds: { "/flannel": flannelCniPlugin }, configMaps });
    assert.equal(result.code, 0, result.stderr);
    const installed = join(node, "opt/cni/bin/flannel");
    assert.equal(statSync(installed).size, statSync(flannelCniPlugin).size);
    assert.equal(statSync(installed).mode & 0o777, statSync(flannelCniPlugin).mode & 0o777);
    assert.deepEqual(readdirSync(join(node, "opt/cni/bin")), ["flannel"], "no temporary file is left");
    // A runtime's VERSION call, with no PATH to find a Node on (in a throwaway network namespace:
    // no plugin ever runs in the machine's own).
    const version = await run(["unshare", "--net", "env", "-i", "CNI_COMMAND=VERSION", installed], { input: '{"cniVersion":"1.0.0"}' });
    assert.ok((JSON.parse(version.stdout) as { supportedVersions: string[] }).supportedVersions.includes("0.3.1"), version.stdout);
  });

  test("install-cni-plugin replaces an older plugin by rename: a new inode, the other plugins untouched", async () => {
    const { node, work } = fresh();
    const bin = join(node, "opt/cni/bin");
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, "flannel"), "old", { mode: 0o755 });
    writeFileSync(join(bin, "bridge"), "bridge", { mode: 0o755 });
    const before = statSync(join(bin, "flannel")).ino;
    await runStep(containerNamed(pod, "install-cni-plugin"), node, work, { "/flannel": { content: "new", mode: 0o755 } });
    assert.equal(readFileSync(join(bin, "flannel"), "utf8"), "new");
    assert.notEqual(statSync(join(bin, "flannel")).ino, before, "the old file was renamed over, not rewritten");
    assert.deepEqual(readdirSync(bin).sort(), ["bridge", "flannel"]);
  });

  test("install-cni writes the ConfigMap's cni-conf.json to the node's /etc/cni/net.d/10-flannel.conflist, replacing an old one", async () => {
    const { node, work } = fresh();
    const netd = join(node, "etc/cni/net.d");
    mkdirSync(netd, { recursive: true });
    writeFileSync(join(netd, "10-flannel.conflist"), "{}");
    writeFileSync(join(netd, "99-loopback.conf"), "{}");
    const before = statSync(join(netd, "10-flannel.conflist")).ino;
    await runStep(containerNamed(pod, "install-cni"), node, work, {});
    assert.equal(readFileSync(join(netd, "10-flannel.conflist"), "utf8"), configMapData(manifest, "cni-conf.json"));
    assert.equal(statSync(join(netd, "10-flannel.conflist")).mode & 0o777, 0o644);
    assert.notEqual(statSync(join(netd, "10-flannel.conflist")).ino, before);
    assert.deepEqual(readdirSync(netd).sort(), ["10-flannel.conflist", "99-loopback.conf"]);
  });

  /**
   * Installs `container` `rounds` times while a shell on the node execs the installed plugin
   * without pause; returns how many of those execs failed.
   */
  async function failedExecsDuringInstall(container: IContainer, rounds: number): Promise<{ failures: number; execs: number }> {
    const { node, work } = fresh();
    const plugin = bigExecutable(48);
    const installed = join(node, "opt/cni/bin/flannel");
    mkdirSync(join(node, "opt/cni/bin"), { recursive: true });
    writeFileSync(installed, plugin, { mode: 0o755 });
    const stop = join(work, "stop");
    // Each exec prints one character: "." for success, "x" for a failure (ENOENT, ETXTBSY, or a
    // half-written ELF). The loop ends by itself when `stop` appears, or after 60 s at most.
    const loop = spawn("timeout", ["60", "/bin/sh", "-c", `while [ ! -e "$1" ]; do if "$2" 2>/dev/null; then printf .; else printf x; fi; done`, "exec-loop", stop, installed], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    let marks = "";
    loop.stdout.setEncoding("utf8").on("data", (chunk: string) => (marks += chunk));
    const exited = new Promise<void>((resolve) => loop.once("exit", () => resolve()));
    try {
      for (let i = 0; i < rounds; i += 1) {
        const result = await runInSandbox({ pod, container, node, work: join(work, String(i)), imageFiles: { "/flannel": { content: plugin, mode: 0o755 } }, configMaps });
        assert.equal(result.code, 0, `${container.name} failed:\n${result.stderr}`);
      }
    } finally {
      writeFileSync(stop, "");
      await exited;
    }
    return { failures: [...marks].filter((mark) => mark === "x").length, execs: marks.length };
  }

  test("while install-cni-plugin replaces it, every exec of the plugin finds a whole file", async () => {
    const { failures, execs } = await failedExecsDuringInstall(containerNamed(pod, "install-cni-plugin"), 6);
    assert.ok(execs >= 20, `the exec loop ran (${execs} execs)`);
    assert.equal(failures, 0, `${failures} of ${execs} execs failed during the install`);
  });

  test("the same load on Flannel's in-place `cp -f /flannel /opt/cni/bin/flannel` makes execs fail (why we rename)", async () => {
    const flannels: IContainer = {
      ...containerNamed(pod, "install-cni-plugin"),
      command: ["cp"],
      args: ["-f", "/flannel", "/opt/cni/bin/flannel"],
    };
    const { failures, execs } = await failedExecsDuringInstall(flannels, 6);
    assert.ok(failures > 0, `no exec failed in ${execs}: this load no longer tells an atomic install from an in-place one`);
  });
});
