// The built flanneld executable as an operator meets it: started by absolute path from / with a
// bare PATH, it answers --version and --help, refuses bad flags and FLANNELD_* values with one
// line and Flannel's exit codes, and says so plainly when started on a Node that is too old.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { before, describe, test } from "node:test";
import { run, type CommandResult } from "../../deploy/lab/tools/command.ts";
import { spawnProcess, waitFor } from "../support/process.ts";

const projectRoot = resolve(import.meta.dirname, "../..");
const flanneld = join(projectRoot, "dist/bin/flanneld");
const packageVersion = (JSON.parse(readFileSync(join(projectRoot, "package.json"), "utf8")) as { version: string }).version;
// A PATH without node_modules (and without the pinned Node): the launcher must find it alone.
const bareEnv = { PATH: "/usr/bin:/bin" };

function flanneldRun(args: readonly string[], env: Record<string, string> = {}): Promise<CommandResult> {
  return run([flanneld, ...args], { cwd: "/", env: { ...bareEnv, ...env }, allowFailure: true, timeoutMs: 30_000 });
}

function lines(text: string): string[] {
  return text.split("\n").filter((line) => line !== "");
}

describe("flanneld executable", () => {
  before(async () => {
    // The suite runner (npm test) builds once before every test; a file run on its own builds here.
    if (process.env.FLANNEL_TS_SUITE !== "1") {
      await run([join(projectRoot, "node_modules/.bin/node"), "scripts/build.ts"], { cwd: projectRoot, timeoutMs: 300_000 });
    }
  });

  test("--version prints package.json's version on stderr, as Flannel does, and exits 0", async () => {
    const result = await flanneldRun(["--version"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, `v${packageVersion}\n`);
    assert.equal(result.stdout, "");
  });

  test("--help lists every flag with its default on stdout and exits 0", async () => {
    const result = await flanneldRun(["--help"]);
    assert.equal(result.code, 0, result.stderr);
    const flags = ["etcd-endpoints", "etcd-prefix", "etcd-keyfile", "etcd-certfile", "etcd-cafile", "etcd-username", "etcd-password",
      "kube-subnet-mgr", "kube-api-url", "kubeconfig-file", "kube-annotation-prefix", "net-config-path", "set-node-network-unavailable",
      "iface", "iface-regex", "iface-can-reach", "public-ip", "public-ipv6", "subnet-file", "subnet-lease-renew-margin", "ip-masq",
      "ip-masq-fully-random-disable", "iptables-resync", "iptables-forward-rules", "ip-blackhole-route", "healthz-ip", "healthz-port",
      "version", "help", "v", "vmodule", "log_backtrace_at", "check-config"];
    for (const flag of flags) assert.match(result.stdout, new RegExp(`^  -${flag}( |$)`, "m"), flag);
    for (const shown of ['(default "http://127.0.0.1:4001,http://127.0.0.1:2379")', '(default "/coreos.com/network")',
      '(default "flannel.alpha.coreos.com")', '(default "/etc/kube-flannel/net-conf.json")', '(default "/run/flannel/subnet.env")',
      '(default "0.0.0.0")', "(default 60)", "(default 5)"]) {
      assert.ok(result.stdout.includes(shown), shown);
    }
    assert.ok(result.stdout.includes("FLANNELD_<NAME>"));
    assert.match(result.stdout, /-check-config\n.*flannel-ts extension/);
  });

  test("an unknown flag is one line naming it, exit 2 as with Go's flag package", async () => {
    const result = await flanneldRun(["--ip-masq", "--no-such-flag"]);
    assert.equal(result.code, 2);
    assert.equal(lines(result.stderr).length, 1, result.stderr);
    assert.match(result.stderr, /^flanneld: flag provided but not defined: -no-such-flag/);
    assert.equal(result.stdout, "");
  });

  test("a positional argument is refused with exit 2 (flanneld takes none)", async () => {
    const result = await flanneldRun(["--iface", "eth0", "eth1"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /"eth1"/);
  });

  test("an out-of-range --subnet-lease-renew-margin exits 1 with Flannel's message", async () => {
    const result = await flanneldRun(["--subnet-lease-renew-margin=1440"]);
    assert.equal(result.code, 1);
    assert.equal(lines(result.stderr).length, 1, result.stderr);
    assert.match(result.stderr, /^flanneld: Invalid subnet-lease-renew-margin option, out of acceptable range/);
  });

  test("--check-config prints the options resolved from flags and FLANNELD_* variables as one JSON object", async () => {
    const result = await flanneldRun(["--check-config", "--ip-masq=false", "--healthz-port", "8081"], {
      FLANNELD_IFACE: "eth1",
      FLANNELD_IP_MASQ: "true", // loses to the command line
      FLANNELD_ETCD_ENDPOINTS: "https://10.0.0.1:2379,https://10.0.0.2:2379",
      FLANNELD_KUBE_SUBNET_MGR: "true",
      FLANNELD_SUBNET_LEASE_RENEW_MARGIN: "30",
      FLANNELD_ETCD_PASSWORD: "s3cret",
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(lines(result.stdout).length, 1);
    const options = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.deepEqual(options.iface, ["eth1"]);
    assert.equal(options.ipMasq, false);
    assert.equal(options.healthzPort, 8081);
    assert.deepEqual(options.etcdEndpoints, ["https://10.0.0.1:2379", "https://10.0.0.2:2379"]);
    assert.equal(options.kubeSubnetMgr, true);
    assert.equal(options.subnetLeaseRenewMargin, 30);
    assert.equal(options.subnetFile, "/run/flannel/subnet.env");
    assert.ok(!result.stdout.includes("s3cret"), "the etcd password is not printed");
  });

  test("a bad FLANNELD_* value is an error naming the variable and the value, exit 1", async () => {
    const result = await flanneldRun(["--check-config"], { FLANNELD_IPTABLES_RESYNC: "5s" });
    assert.equal(result.code, 1);
    assert.equal(lines(result.stderr).length, 1, result.stderr);
    assert.match(result.stderr, /^flanneld: /);
    assert.ok(result.stderr.includes("FLANNELD_IPTABLES_RESYNC") && result.stderr.includes('"5s"'), result.stderr);
    assert.equal(result.stdout, "");
  });

  test("--kube-subnet-mgr outside a pod, without NODE_NAME, is refused with one error line saying what to set, exit 1", async () => {
    const result = await flanneldRun(["--kube-subnet-mgr"]);
    assert.equal(result.code, 1);
    const entries = lines(result.stderr).map((line) => JSON.parse(line) as { level: string; message: string; code?: string });
    const errors = entries.filter((entry) => entry.level === "error");
    assert.equal(errors.length, 1, result.stderr);
    assert.equal(errors[0]!.code, "kube-config-invalid");
    assert.match(errors[0]!.message, /POD_NAME/);
  });

  test("while etcd is unreachable it waits, saying why, on the pinned Node with its memory options and its bundle; SIGTERM then stops it with exit 0", async () => {
    const daemon = spawnProcess([flanneld, "--etcd-endpoints=http://127.0.0.1:9", "--subnet-file=/nonexistent/subnet.env"], { cwd: "/", env: bareEnv });
    try {
      await waitFor(() => daemon.output().includes("waiting for the network config"), { what: "the waiting log line", timeoutMs: 20_000, process: daemon });
      assert.match(daemon.output(), /127\.0\.0\.1:9/);
      // The launcher execs the pinned Node with the memory options of scripts/build.ts, on the
      // bundle of scripts/build-flanneld.ts, with glibc's mmap threshold unless the caller set one.
      const argv = readFileSync(`/proc/${daemon.pid}/cmdline`, "utf8").split("\0");
      const environment = readFileSync(`/proc/${daemon.pid}/environ`, "utf8").split("\0");
      assert.ok(environment.includes("MALLOC_MMAP_THRESHOLD_=32768"), environment.join(" "));
      const [node, semiSpace, noOpt, noMaglev, noSparkplug, forSize, entry] = argv;
      assert.deepEqual([resolve(node!), semiSpace, noOpt, noMaglev, noSparkplug, forSize, resolve(entry!)], [
        join(projectRoot, "node_modules/node/bin/node"),
        "--max-semi-space-size=1",
        "--no-opt",
        "--no-maglev",
        "--no-sparkplug",
        "--optimize-for-size",
        join(projectRoot, "dist/flanneld/main.js"),
      ]);
      const exit = await daemon.stop("SIGTERM", 10_000);
      assert.equal(exit.code, 0, daemon.output());
    } finally {
      await daemon.stop("SIGKILL");
    }
  });

  test("on a Node older than 24 the entry point prints one line and exits non-zero", async (t) => {
    const oldNode = "/usr/bin/node";
    if (!existsSync(oldNode)) return t.skip(`${oldNode} is not installed`);
    const oldVersion = (await run([oldNode, "--version"])).stdout.trim();
    if (Number(/^v(\d+)/.exec(oldVersion)?.[1]) >= 24) return t.skip(`${oldNode} is ${oldVersion}, not older than 24`);
    const result = await run([oldNode, join(projectRoot, "dist/flanneld/main.js"), "--version"],
      { cwd: "/", env: bareEnv, allowFailure: true });
    assert.notEqual(result.code, 0);
    const output = lines(result.stdout + result.stderr);
    assert.equal(output.length, 1, result.stdout + result.stderr);
    assert.equal(output[0], `flanneld: needs Node.js 24 or newer, this is ${oldVersion} (start it through dist/bin/flanneld, which uses the pinned Node)`);
  });
});
