// The hand-off scripts on their own, with a stand-in delegate (no network is touched): what the
// runtime sees when the delegate succeeds or fails, when our stdout is broken, the 1.1.0 relabel,
// when the saved config is removed and when it is kept — and runHandOff's execve and fallback paths.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, beforeEach, describe, test } from "node:test";
import { CniError } from "../../cni-shim/errors.ts";
import { addHandOff, checkHandOff, delHandOff, runHandOff, shell, type HandOff, type HandOffRuntime } from "../../cni-shim/hand-off.ts";
import { makeFakeDelegate, makeScratch, type FakeDelegate } from "./fixture.ts";

const scratch = makeScratch("handoff");
after(() => scratch.remove());

let delegate: FakeDelegate;
let saved: string;
let counter = 0;
beforeEach(() => {
  counter += 1;
  delegate = makeFakeDelegate(join(scratch.dir, `d${counter}`));
  saved = join(scratch.dir, `saved${counter}`);
  writeFileSync(saved, '{"cniVersion":"1.0.0","name":"cbr0","type":"bridge"}');
});

interface Ran {
  readonly stdout: string;
  readonly stderr: string;
  readonly status: number | null;
}

function runScript(handOff: HandOff, command: string, stdout: "pipe" | number = "pipe"): Ran {
  const result = spawnSync(shell, handOff.argv, { env: { PATH: "/usr/bin:/bin", CNI_COMMAND: command }, stdio: ["ignore", stdout, "pipe"], encoding: "utf8" });
  return { stdout: result.stdout ?? "", stderr: result.stderr, status: result.status };
}

const pretty = '{\n    "cniVersion": "1.0.0",\n    "ips": [\n        {\n            "address": "10.244.1.2/24"\n        }\n    ],\n    "note": "cniVersion 1.0.0"\n}';

describe("ADD script", () => {
  test("prints the delegate's result and keeps the saved config; the delegate reads the saved config", () => {
    const ran = runScript(addHandOff(delegate.path, saved, "0.3.1", "0.3.1"), "ADD");
    assert.equal(ran.status, 0, ran.stderr);
    assert.equal(ran.stdout, '{"cniVersion":"0.3.1","ips":[{"version":"4","address":"10.244.1.2/24"}]}\n');
    assert.equal(delegate.stdin("ADD"), '{"cniVersion":"1.0.0","name":"cbr0","type":"bridge"}');
    assert.ok(existsSync(saved));
  });

  test("a 1.1.0 request: the result's top-level cniVersion says 1.1.0, nothing else changes", () => {
    delegate.setResult(`${pretty}\n`);
    const ran = runScript(addHandOff(delegate.path, saved, "1.0.0", "1.1.0"), "ADD");
    assert.equal(ran.status, 0, ran.stderr);
    assert.equal(ran.stdout, `${pretty.replace('"cniVersion": "1.0.0"', '"cniVersion": "1.1.0"')}\n`);
    assert.deepEqual(JSON.parse(ran.stdout), { ...JSON.parse(pretty), cniVersion: "1.1.0" });
  });

  test("the relabel also handles compact JSON, and is not done when the versions agree", () => {
    delegate.setResult('{"cniVersion":"1.0.0","ips":[]}');
    assert.equal(runScript(addHandOff(delegate.path, saved, "1.0.0", "1.1.0"), "ADD").stdout, '{"cniVersion": "1.1.0","ips":[]}\n');
    assert.equal(runScript(addHandOff(delegate.path, saved, "1.0.0", "1.0.0"), "ADD").stdout, '{"cniVersion":"1.0.0","ips":[]}\n');
  });

  test("a failing delegate: its output and exit status pass through, the saved config is removed", () => {
    delegate.fail("ADD", '{"code":999,"msg":"failed to set bridge addr"}');
    const ran = runScript(addHandOff(delegate.path, saved, "1.0.0", "1.1.0"), "ADD");
    assert.equal(ran.status, 7);
    assert.equal(ran.stdout, '{"code":999,"msg":"failed to set bridge addr"}\n');
    assert.equal(existsSync(saved), false, "no saved config for a failed ADD");
    assert.deepEqual(delegate.calls(), ["ADD"]);
  });

  test("stdout that cannot be written (/dev/full): the ADD is undone with DEL and the saved config removed", async () => {
    const { openSync, closeSync } = await import("node:fs");
    const full = openSync("/dev/full", "w");
    try {
      const ran = runScript(addHandOff(delegate.path, saved, "0.3.1", "0.3.1"), "ADD", full);
      assert.equal(ran.status, 1);
      assert.match(ran.stderr, /could not write the ADD result/);
    } finally {
      closeSync(full);
    }
    assert.deepEqual(delegate.calls(), ["ADD", "DEL"]);
    assert.equal(delegate.stdin("DEL"), delegate.stdin("ADD"), "DEL got the same saved config");
    assert.equal(existsSync(saved), false);
  });

  test("stdout whose reader went away: not killed by SIGPIPE, the ADD is undone", async () => {
    delegate.setDelay(0.3);
    const handOff = addHandOff(delegate.path, saved, "0.3.1", "0.3.1");
    const child = spawn(shell, handOff.argv, { env: { PATH: "/usr/bin:/bin", CNI_COMMAND: "ADD" }, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.stdout.destroy(); // the runtime gave up on us
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once("exit", (c, s) => resolve([c, s])));
    assert.equal(signal, null, "the shell must not die of SIGPIPE");
    assert.equal(code, 1, stderr);
    assert.deepEqual(delegate.calls(), ["ADD", "DEL"]);
    assert.equal(existsSync(saved), false);
  });

  test("if the undoing DEL fails too, the saved config stays for the runtime's own DEL", async () => {
    delegate.fail("DEL", '{"code":999,"msg":"boom"}');
    const { openSync, closeSync } = await import("node:fs");
    const full = openSync("/dev/full", "w");
    try {
      assert.equal(runScript(addHandOff(delegate.path, saved, "0.3.1", "0.3.1"), "ADD", full).status, 1);
    } finally {
      closeSync(full);
    }
    assert.deepEqual(delegate.calls(), ["ADD", "DEL"]);
    assert.ok(existsSync(saved));
  });
});

describe("DEL script", () => {
  test("success: the delegate's DEL ran with the saved config, which is then removed", () => {
    const ran = runScript(delHandOff(delegate.path, saved), "DEL");
    assert.equal(ran.status, 0);
    assert.equal(delegate.stdin("DEL"), '{"cniVersion":"1.0.0","name":"cbr0","type":"bridge"}');
    assert.equal(existsSync(saved), false);
  });

  test("failure: output and status pass through and the saved config is kept for a retry", () => {
    delegate.fail("DEL", '{"code":11,"msg":"busy"}');
    const ran = runScript(delHandOff(delegate.path, saved), "DEL");
    assert.equal(ran.status, 7);
    assert.equal(ran.stdout, '{"code":11,"msg":"busy"}');
    assert.ok(existsSync(saved));
  });
});

describe("CHECK script", () => {
  test("the delegate gets the config on stdin verbatim; its status passes through", () => {
    const config = '{"cniVersion":"1.0.0","prevResult":{"x":"$HOME `id` \\\\n"}}';
    assert.equal(runScript(checkHandOff(delegate.path, config), "CHECK").status, 0);
    assert.equal(delegate.stdin("CHECK"), `${config}\n`);
    delegate.fail("CHECK", "{}");
    assert.equal(runScript(checkHandOff(delegate.path, config), "CHECK").status, 7);
  });
});

describe("runHandOff", () => {
  test("with execve: /bin/sh replaces the process, with the runtime's environment", () => {
    const calls: unknown[][] = [];
    const runtime: HandOffRuntime = {
      execve: ((file: string, args: readonly string[], env: NodeJS.ProcessEnv) => {
        calls.push([file, args, env]);
        throw new Error("stop here"); // a real execve does not come back
      }) as never,
      childProcess: () => assert.fail("child_process must not be loaded when execve exists"),
    };
    const handOff = addHandOff(delegate.path, saved, "0.3.1", "0.3.1");
    const env = { CNI_COMMAND: "ADD" };
    assert.throws(() => runHandOff(handOff, env, runtime), (error: unknown) => error instanceof CniError && error.code === 5);
    assert.deepEqual(calls, [["/bin/sh", ["sh", ...handOff.argv], env]]);
    assert.equal(existsSync(saved), false, "an ADD whose hand-off could not start leaves no saved config");
  });

  test("without execve: the same script under spawnSync, and its exit status is returned", async () => {
    const childProcess = await import("node:child_process");
    let used = false;
    const runtime: HandOffRuntime = {
      execve: undefined,
      childProcess: () =>
        ({
          spawnSync: (file: string, args: readonly string[], options: { env: NodeJS.ProcessEnv }) => {
            used = true;
            return childProcess.spawnSync(file, args, { env: options.env, stdio: "pipe" }); // captured instead of inherited
          },
        }) as never,
    };
    delegate.fail("DEL", "{}");
    assert.equal(runHandOff(delHandOff(delegate.path, saved), { PATH: "/usr/bin:/bin", CNI_COMMAND: "DEL" }, runtime), 7);
    assert.ok(used);
    assert.ok(existsSync(saved));
    delegate.succeed("DEL");
    assert.equal(runHandOff(delHandOff(delegate.path, saved), { PATH: "/usr/bin:/bin", CNI_COMMAND: "DEL" }, runtime), 0);
    assert.equal(existsSync(saved), false);
  });
});
