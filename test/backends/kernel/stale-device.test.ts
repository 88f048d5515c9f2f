// `ip -batch` caches device name → index for its lifetime. After a device is deleted and created
// again under the same name, lines naming it fail with ENODEV in the old process; the batch
// recycles itself after such a failure, and recycle() lets a caller that recreated a device
// start afresh before sending any line.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { parseBatchLine } from "../../../backends/kernel/batch-line.ts";
import type { Kernel } from "../../../backends/kernel/kernel.ts";
import { needsRoot } from "../../support/root.ts";
import { createKernelNode, type KernelNode } from "./kernel-fixture.ts";

const line = (text: string) => parseBatchLine("ip", text);

describe("a device deleted and created again under the same name", { skip: needsRoot }, () => {
  let node: KernelNode;
  let kernel: Kernel;
  before(async () => {
    node = await createKernelNode();
    kernel = node.open();
  });
  after(async () => {
    await kernel?.close();
    await node?.remove();
  });

  async function createDevice(): Promise<void> {
    await node.ns.ip("link", "add", "dev0", "type", "veth", "peer", "name", "dev0p");
    await node.ns.ip("link", "set", "dev0p", "up");
    await node.ns.ip("link", "set", "dev0", "up");
  }

  async function recreateBehindTheBatchsBack(): Promise<void> {
    await node.ns.ip("link", "del", "dev0");
    await createDevice();
  }

  test("fails once in the old process, which is then replaced, so the next request works", async () => {
    await createDevice();
    assert.deepEqual((await kernel.ip.apply([line("route replace 10.9.0.0/24 dev dev0")])).errors, []);
    const first = kernel.ip.pid;
    await recreateBehindTheBatchsBack();
    const failed = await kernel.ip.apply([line("route replace 10.9.1.0/24 dev dev0")]);
    assert.deepEqual(failed.errors.map((error) => error.kernelMessage), ["RTNETLINK answers: No such device"]);
    assert.deepEqual((await kernel.ip.apply([line("route replace 10.9.1.0/24 dev dev0")])).errors, []);
    assert.notEqual(kernel.ip.pid, first);
  });

  test("recycle() beforehand avoids the failure altogether", async () => {
    await recreateBehindTheBatchsBack();
    await kernel.ip.recycle();
    assert.equal(kernel.ip.pid, undefined);
    assert.deepEqual((await kernel.ip.apply([line("route replace 10.9.2.0/24 dev dev0")])).errors, []);
  });
});
