// The udp data plane's snapshot file: what is refused (with the reason), and how it is written —
// atomically, root-only, at most once a second while the table changes, at once on flush.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createSnapshotKeeper, parseSnapshot, readSnapshot, sameSnapshotOptions, snapshotFileBeside, type SnapshotOptions } from "../../../backends/udp/data-plane-snapshot.ts";

const options: SnapshotOptions = { tunName: "flannel0", bindAddress: "198.18.0.2", port: 8285, mtu: 1472, ownSubnet: "10.244.2.0/24", network: "10.244.0.0/16", queues: 1 };
const peers = [{ subnet: "10.244.1.0/24", publicIP: "198.18.0.1" }];
const text = (value: unknown): string => JSON.stringify(value);
const silent = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };

describe("data plane snapshot", () => {
  const dir = mkdtempSync(join(tmpdir(), "flannel-ts-snapshot-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("lives beside subnet.env, named after it, so that agents with their own subnet files keep their own", () => {
    assert.equal(snapshotFileBeside("/run/flannel/subnet.env"), "/run/flannel/subnet.env.udp-data-plane.json");
    assert.notEqual(snapshotFileBeside("/run/flannel/a.env"), snapshotFileBeside("/run/flannel/b.env"));
  });

  test("a valid snapshot parses back to its options and peers", () => {
    assert.deepEqual(parseSnapshot(text({ version: 1, savedAt: "x", dataPlane: options, peers })), { options, peers });
  });

  test("anything else is refused, naming what is wrong", () => {
    const cases: [unknown, RegExp][] = [
      [{ version: 2, dataPlane: options, peers }, /not a version 1 snapshot/],
      [{ version: 1, peers }, /no dataPlane object/],
      [{ version: 1, dataPlane: { ...options, port: "8285" }, peers }, /dataPlane\.port is not an integer/],
      [{ version: 1, dataPlane: { ...options, queues: undefined }, peers }, /dataPlane\.queues is not an integer/],
      [{ version: 1, dataPlane: { ...options, bindAddress: 1 }, peers }, /dataPlane\.bindAddress is not a string/],
      [{ version: 1, dataPlane: { ...options, tunName: "eth0" }, peers }, /tunName is "eth0", not flannel0/],
      [{ version: 1, dataPlane: options, peers: {} }, /peers is not an array/],
      [{ version: 1, dataPlane: options, peers: [{ subnet: "10.244.1.0/24" }] }, /peers\[0\] is not \{subnet, publicIP\}/],
    ];
    for (const [value, reason] of cases) {
      const parsed = parseSnapshot(text(value));
      assert.ok("invalid" in parsed && reason.test(parsed.invalid), `${text(value)} → ${text(parsed)}`);
    }
    const broken = parseSnapshot("{");
    assert.ok("invalid" in broken && /not JSON/.test(broken.invalid));
  });

  test("a missing file is no snapshot; an unreadable one says why", () => {
    assert.equal(readSnapshot(join(dir, "none.json")), undefined);
    const asDirectory = readSnapshot(dir);
    assert.ok(asDirectory !== undefined && "invalid" in asDirectory && /cannot be read/.test(asDirectory.invalid));
  });

  test("options compare field by field", () => {
    assert.equal(sameSnapshotOptions(options, { ...options }), true);
    assert.equal(sameSnapshotOptions(options, { ...options, ownSubnet: "10.244.3.0/24" }), false);
    assert.equal(sameSnapshotOptions(options, { ...options, port: 8286 }), false);
    assert.equal(sameSnapshotOptions(options, { ...options, queues: 2 }), false);
  });

  test("the keeper writes within a second of a change, once for a burst, root-only and atomically; flush writes at once", async () => {
    const file = join(dir, "sub", "udp-data-plane.json");
    const keeper = createSnapshotKeeper(file, silent);
    keeper.update(options, peers);
    assert.equal(existsSync(file), false, "not written at once");
    const burst = [...peers, { subnet: "10.244.3.0/24", publicIP: "198.18.0.3" }];
    keeper.update(options, burst);
    await sleep(1300);
    assert.deepEqual(readSnapshot(file), { options, peers: burst }, "the last table of the burst");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(join(dir, "sub")), ["udp-data-plane.json"], "no temporary file left");
    const written = statSync(file).mtimeMs;
    keeper.update(options, burst);
    keeper.flush();
    assert.equal(statSync(file).mtimeMs, written, "the same objects again: nothing to write");
    const fewer = [burst[1]!];
    keeper.update(options, fewer);
    keeper.flush();
    assert.deepEqual(readSnapshot(file), { options, peers: fewer }, "flush writes at once");
  });

  test("a keeper that cannot write warns once and goes on", () => {
    const blocker = join(dir, "blocker");
    writeFileSync(blocker, "a file where a directory should be");
    const warnings: string[] = [];
    const keeper = createSnapshotKeeper(join(blocker, "udp-data-plane.json"), { ...silent, warn: (message) => warnings.push(message) });
    keeper.update(options, peers);
    keeper.flush();
    keeper.update(options, [...peers]);
    keeper.flush();
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0]!, /could not save the udp data plane's table/);
  });
});
