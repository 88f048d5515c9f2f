// The MTU rules of every backend (backends/mtu.ts): Flannel's derivations, the per-family VXLAN
// overhead, Backend.MTU honoured and validated, and the warning for devices whose packets no
// longer fit the underlay.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isFlannelError } from "../../backends/errors.ts";
import { chooseMtu, encapOverhead, mtuFitProblem, podMtu, type MtuInput } from "../../backends/mtu.ts";

const eth0 = (mtu: number) => ({ name: "eth0", mtu });

describe("chooseMtu: derived as Flannel derives it", () => {
  const cases: { name: string; input: MtuInput; byFamily: Record<number, number>; pod: number }[] = [
    { name: "vxlan over IPv4: interface MTU − 50 (Flannel)", input: { backend: "vxlan", link: eth0(1500), configured: 0, families: [4] }, byFamily: { 4: 1450 }, pod: 1450 },
    { name: "vxlan over IPv6: − 70, where Flannel takes 50 and the kernel clamps", input: { backend: "vxlan", link: eth0(1500), configured: 0, families: [6] }, byFamily: { 6: 1430 }, pod: 1430 },
    { name: "vxlan dual stack: each device its own, pods the smaller", input: { backend: "vxlan", link: eth0(9000), configured: 0, families: [4, 6] }, byFamily: { 4: 8950, 6: 8930 }, pod: 8930 },
    { name: "host-gw: the interface's MTU (Flannel)", input: { backend: "host-gw", link: eth0(1500), configured: 0, families: [4, 6] }, byFamily: { 4: 1500, 6: 1500 }, pod: 1500 },
    { name: "udp: interface MTU − 28 (Flannel)", input: { backend: "udp", link: eth0(1500), configured: 0, families: [4] }, byFamily: { 4: 1472 }, pod: 1472 },
    { name: "vxlan with Backend.MTU: the option stands in for the interface's MTU, before the overhead (Flannel)", input: { backend: "vxlan", link: eth0(9000), configured: 1500, families: [4] }, byFamily: { 4: 1450 }, pod: 1450 },
    { name: "Backend.MTU equal to the interface's is accepted", input: { backend: "vxlan", link: eth0(1500), configured: 1500, families: [4, 6] }, byFamily: { 4: 1450, 6: 1430 }, pod: 1430 },
    { name: "a small IPv4-only MTU down to IPv4's minimum of 68", input: { backend: "vxlan", link: eth0(1500), configured: 118, families: [4] }, byFamily: { 4: 68 }, pod: 68 },
  ];
  for (const { name, input, byFamily, pod } of cases) {
    test(name, () => {
      const choice = chooseMtu(input);
      assert.deepEqual({ ...choice.byFamily }, byFamily);
      assert.equal(choice.pod, pod);
    });
  }

  test("the overhead table: vxlan 50 / 70, udp 28, host-gw 0", () => {
    assert.deepEqual([encapOverhead.vxlan[4], encapOverhead.vxlan[6], encapOverhead.udp[4], encapOverhead["host-gw"][4]], [50, 70, 28, 0]);
  });
});

describe("chooseMtu: refused at start, naming the field or the interface", () => {
  const refused: { name: string; input: MtuInput; code: "netconf-invalid" | "interface-invalid"; field?: string; says: RegExp }[] = [
    { name: "Backend.MTU larger than the interface can carry", input: { backend: "vxlan", link: eth0(1500), configured: 9000, families: [4] }, code: "netconf-invalid", field: "Backend.MTU", says: /Backend\.MTU 9000 is larger than what eth0 can carry \(MTU 1500\)/ },
    { name: "Backend.MTU leaving less than IPv4's 68", input: { backend: "vxlan", link: eth0(1500), configured: 117, families: [4] }, code: "netconf-invalid", field: "Backend.MTU", says: /leaves 67 for IPv4 .* below IPv4's minimum of 68/ },
    { name: "Backend.MTU leaving less than IPv6's 1280 when IPv6 is enabled", input: { backend: "vxlan", link: eth0(1500), configured: 1340, families: [4, 6] }, code: "netconf-invalid", field: "Backend.MTU", says: /leaves 1270 for IPv6 .* minimum of 1280/ },
    { name: "an interface too small for IPv6 after the overhead", input: { backend: "vxlan", link: eth0(1340), configured: 0, families: [6] }, code: "interface-invalid", says: /the MTU of eth0 \(1340\) leaves 1270 for IPv6/ },
    { name: "host-gw on an interface below 1280 with IPv6 enabled", input: { backend: "host-gw", link: eth0(1200), configured: 0, families: [6] }, code: "interface-invalid", says: /below IPv6's minimum of 1280/ },
  ];
  for (const { name, input, code, field, says } of refused) {
    test(name, () => {
      assert.throws(
        () => chooseMtu(input),
        (error) => isFlannelError(error, code) && (field === undefined || error.details.field === field) && says.test(error.message),
      );
    });
  }

  test("the same Backend.MTU passes for IPv4 only and fails once IPv6 is enabled", () => {
    assert.equal(chooseMtu({ backend: "vxlan", link: eth0(1500), configured: 1340, families: [4] }).pod, 1290);
    assert.throws(() => chooseMtu({ backend: "vxlan", link: eth0(1500), configured: 1340, families: [4, 6] }), (error) => isFlannelError(error, "netconf-invalid"));
  });
});

describe("mtuFitProblem and podMtu", () => {
  test("a device whose packets plus the overhead exceed the interface's MTU is reported with the numbers", () => {
    const problem = mtuFitProblem("vxlan", { device: "flannel.1", family: 4, mtu: 8950 }, eth0(1500));
    assert.ok(problem !== undefined);
    assert.match(problem.message, /flannel\.1 has MTU 8950: with the 50-byte vxlan\/IPv4 overhead its packets are 9000 bytes, more than eth0 carries \(MTU 1500\)/);
    assert.deepEqual(problem.fields, { device: "flannel.1", mtu: 8950, overhead: 50, interface: "eth0", interfaceMtu: 1500 });
  });

  test("devices that fit exactly, or are smaller, are no problem", () => {
    assert.equal(mtuFitProblem("vxlan", { device: "flannel.1", family: 4, mtu: 1450 }, eth0(1500)), undefined);
    assert.equal(mtuFitProblem("vxlan", { device: "flannel-v6.1", family: 6, mtu: 1430 }, eth0(1500)), undefined);
    assert.equal(mtuFitProblem("vxlan", { device: "flannel.1", family: 4, mtu: 1300 }, eth0(1500)), undefined);
  });

  test("an IPv6 device at Flannel's − 50 does not fit: the 70-byte overhead is counted", () => {
    assert.ok(mtuFitProblem("vxlan", { device: "flannel-v6.1", family: 6, mtu: 1450 }, eth0(1500)) !== undefined);
  });

  test("pods never get more than the choice, nor more than a smaller adopted device", () => {
    const choice = chooseMtu({ backend: "vxlan", link: eth0(1500), configured: 0, families: [4] });
    assert.equal(podMtu(choice, [{ device: "flannel.1", family: 4, mtu: 8950 }]), 1450);
    assert.equal(podMtu(choice, [{ device: "flannel.1", family: 4, mtu: 1400 }]), 1400);
    assert.equal(podMtu(choice, []), 1450);
  });
});
