// sysctl in the target namespace only: writes through the `ip netns exec` prefix reach the
// namespace's /proc/sys, and the root namespace's values stay as they were.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { acceptRaPath, ipv4ForwardingPath, readSysctl, sysctlKey, writeSysctl } from "../../../backends/kernel/sysctl.ts";
import { linkUpLine, vxlanCreateLine } from "../../../backends/kernel/link.ts";
import { KernelCommandError } from "../../../backends/kernel/command-runner.ts";
import type { Kernel } from "../../../backends/kernel/kernel.ts";
import { parseIp } from "../../../backends/net/ip.ts";
import { needsRoot } from "../../support/root.ts";
import { createKernelNode, type KernelNode } from "./kernel-fixture.ts";

test("a dot inside a component (a device name) becomes a slash in the key", () => {
  assert.equal(sysctlKey(acceptRaPath("flannel.1")), "net.ipv6.conf.flannel/1.accept_ra");
  assert.equal(sysctlKey(ipv4ForwardingPath), "net.ipv4.ip_forward");
  assert.throws(() => sysctlKey(["net", "ipv4", "ip_forward=1"]));
});

describe("sysctl in a namespace", { skip: needsRoot }, () => {
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

  test("writes and reads ip_forward in the namespace and leaves the root namespace's value alone", async () => {
    const rootBefore = readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim();
    const target = rootBefore === "1" ? "0" : "1";
    await writeSysctl(kernel.runner, ipv4ForwardingPath, target);
    assert.equal(await readSysctl(kernel.runner, ipv4ForwardingPath), target);
    assert.equal(readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim(), rootBefore);
  });

  test("sets accept_ra on a device whose name has a dot", async () => {
    const address = parseIp(node.address) ?? assert.fail();
    const created = await kernel.ip.apply([
      vxlanCreateLine({ name: "flannel.1", vni: 1, underlay: node.device, local: address, learning: false }),
      linkUpLine("flannel.1"),
    ]);
    assert.deepEqual(created.errors, []);
    assert.equal(await readSysctl(kernel.runner, acceptRaPath("flannel.1")), "1");
    await writeSysctl(kernel.runner, acceptRaPath("flannel.1"), "0");
    assert.equal(await readSysctl(kernel.runner, acceptRaPath("flannel.1")), "0");
  });

  test("a key that does not exist reads as undefined and cannot be written", async () => {
    assert.equal(await readSysctl(kernel.runner, acceptRaPath("nosuch0")), undefined);
    await assert.rejects(writeSysctl(kernel.runner, acceptRaPath("nosuch0"), "0"), KernelCommandError);
    await assert.rejects(writeSysctl(kernel.runner, ipv4ForwardingPath, "abc"), /Invalid argument/);
  });
});
