// The vxlan device as Flannel creates it, built from the production line builders, applied
// through the batch coprocess and read back with `ip -d -json link` inside a node namespace.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { addressDeleteLine, addressReplaceLine, listAddresses } from "../../../backends/kernel/address.ts";
import { linkDeleteLine, linkUpLine, readLink, vxlanCreateLine } from "../../../backends/kernel/link.ts";
import { randomVtepMac } from "../../../backends/kernel/mac.ts";
import type { Kernel } from "../../../backends/kernel/kernel.ts";
import { formatIp, parseIp, type IpAddress } from "../../../backends/net/ip.ts";
import { needsRoot } from "../../support/root.ts";
import { createKernelNode, type KernelNode } from "./kernel-fixture.ts";

const ip = (text: string): IpAddress => parseIp(text) ?? assert.fail(text);

describe("vxlan device", { skip: needsRoot }, () => {
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

  test("is created with Flannel's attributes and reads back with them", async () => {
    const mac = randomVtepMac();
    const result = await kernel.ip.apply([
      vxlanCreateLine({ name: "flannel.1", vni: 1, underlay: node.device, local: ip(node.address), learning: false, mac, mtu: 1450 }),
      linkUpLine("flannel.1"),
    ]);
    assert.deepEqual(result.errors, []);
    const underlay = await readLink(kernel.runner, node.device);
    const link = await readLink(kernel.runner, "flannel.1");
    assert.ok(link !== undefined && underlay !== undefined);
    assert.equal(link.kind, "vxlan");
    assert.equal(link.mac, mac);
    assert.equal(link.mtu, 1450);
    assert.equal(link.up, true);
    assert.deepEqual({ ...link.vxlan, local: link.vxlan?.local && formatIp(link.vxlan.local) }, {
      id: 1,
      local: node.address,
      group: undefined,
      underlay: { name: node.device, index: underlay.index },
      port: 8472, // no port given: the kernel's default, as with Flannel's Port 0
      learning: false,
      gbp: false,
      proxy: false,
      rsc: false,
      l2miss: false,
      l3miss: false,
      ttl: 0,
      tos: 0,
    });
  });

  test("creating it again is 'already-exists', a value a caller can branch on", async () => {
    const result = await kernel.ip.apply([
      vxlanCreateLine({ name: "flannel.1", vni: 1, underlay: node.device, local: ip(node.address), learning: false }),
    ]);
    assert.deepEqual(result.errors.map((error) => error.failure), ["already-exists"]);
  });

  test("honours port, learning and gbp when given", async () => {
    const result = await kernel.ip.apply([
      vxlanCreateLine({ name: "flannel.7", vni: 7, underlay: node.device, local: ip(node.address), learning: true, port: 4789, gbp: true }),
    ]);
    assert.deepEqual(result.errors, []);
    const link = await readLink(kernel.runner, "flannel.7");
    assert.deepEqual([link?.vxlan?.id, link?.vxlan?.port, link?.vxlan?.learning, link?.vxlan?.gbp, link?.up], [7, 4789, true, true, false]);
  });

  test("an unknown underlay fails that line only, with ip's message", async () => {
    const result = await kernel.ip.apply([
      vxlanCreateLine({ name: "flannel.8", vni: 8, underlay: "nosuch0", local: ip(node.address), learning: false }),
      linkUpLine("flannel.7"),
    ]);
    assert.deepEqual(result.errors.map((error) => [error.index, error.failure, error.kernelMessage]), [
      [0, "rejected", 'Cannot find device "nosuch0"'],
    ]);
    assert.equal((await readLink(kernel.runner, "flannel.7"))?.up, true);
  });

  test("addresses: replace twice leaves one, delete twice is 'already gone' the second time", async () => {
    const address = { ip: ip("10.244.1.0"), prefixLength: 32, device: "flannel.1" };
    for (let i = 0; i < 2; i++) assert.deepEqual((await kernel.ip.apply([addressReplaceLine(address)])).errors, []);
    const listed = await listAddresses(kernel.runner, "flannel.1");
    assert.deepEqual(
      listed.filter((a) => a.ip.family === 4).map((a) => `${formatIp(a.ip)}/${a.prefixLength}`),
      ["10.244.1.0/32"],
    );
    assert.deepEqual(await kernel.ip.apply([addressDeleteLine(address)]), { errors: [], alreadyGone: [] });
    assert.deepEqual(await kernel.ip.apply([addressDeleteLine(address)]), { errors: [], alreadyGone: [0] });
    assert.deepEqual(await listAddresses(kernel.runner, "nosuch0"), []);
  });

  test("reading an absent link gives undefined; deleting one is 'already gone'", async () => {
    assert.equal(await readLink(kernel.runner, "flannel.9"), undefined);
    assert.deepEqual(await kernel.ip.apply([linkDeleteLine("flannel.7"), linkDeleteLine("flannel.7")]), { errors: [], alreadyGone: [1] });
    assert.equal(await readLink(kernel.runner, "flannel.7"), undefined);
  });
});
