// The TX checksum-offload decision (backends/vxlan/checksum-offload.ts): off only where a known
// cause applies (kernel < 5.7, a vmxnet3 underlay) or where --vxlan-tx-checksum-offload says so;
// otherwise left on, which is what Flannel does everywhere. Also the lower-device walk that finds
// the drivers, and the flag's parsing.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseFlanneldArgs } from "../../../agent/config/flags.ts";
import { isFlannelError } from "../../../backends/errors.ts";
import { decideTxChecksumOffload, parseKernelVersion, type TxChecksumFacts } from "../../../backends/vxlan/checksum-offload.ts";
import { underlayDevices } from "../../../backends/vxlan/checksum-offload-device.ts";

const virtio = [{ device: "eth0", driver: "virtio_net" }];

function facts(overrides: Partial<TxChecksumFacts>): TxChecksumFacts {
  return { kernelRelease: "6.18.44-fc-v1272", underlayDrivers: virtio, setting: "auto", ...overrides };
}

describe("decideTxChecksumOffload", () => {
  test("Flannel's behaviour is the default on a current kernel and an ordinary NIC: the offload stays on, nothing is changed", () => {
    // Flannel has no flag and no detection (flannel#1282 closed unmerged; troubleshooting.md
    // tells operators to run `ethtool -K flannel.1 tx-checksum-ip-generic off` by hand).
    const decision = decideTxChecksumOffload(facts({}));
    assert.deepEqual([decision.apply, decision.basis, decision.enforce], [false, "none", false]);
    assert.match(decision.reason, /no known checksum-offload problem with kernel 6\.18\.44-fc-v1272 and driver eth0: virtio_net/);
  });

  const cases: { name: string; facts: Partial<TxChecksumFacts>; apply: boolean; basis: string; enforce: boolean; says: RegExp }[] = [
    { name: "kernel 5.4 (before 5.7): off, for the MASQUERADE --random-fully breakage", facts: { kernelRelease: "5.4.0-150-generic" }, apply: true, basis: "kernel", enforce: false, says: /kernel 5\.4\.0-150-generic is older than 5\.7/ },
    { name: "kernel 4.19: off", facts: { kernelRelease: "4.19.0-26-amd64" }, apply: true, basis: "kernel", enforce: false, says: /older than 5\.7/ },
    { name: "a RHEL 8 kernel (4.18) is treated as its version says, the flag overriding", facts: { kernelRelease: "4.18.0-553.el8_10.x86_64" }, apply: true, basis: "kernel", enforce: false, says: /--vxlan-tx-checksum-offload=on keeps the offload/ },
    { name: "kernel 5.6.19: still off", facts: { kernelRelease: "5.6.19" }, apply: true, basis: "kernel", enforce: false, says: /older than 5\.7/ },
    { name: "kernel 5.7.0: the fixed kernel keeps the offload", facts: { kernelRelease: "5.7.0" }, apply: false, basis: "none", enforce: false, says: /no known/ },
    { name: "kernel 5.10: on", facts: { kernelRelease: "5.10.0-28-amd64" }, apply: false, basis: "none", enforce: false, says: /no known/ },
    { name: "a vmxnet3 NIC under a current kernel: off", facts: { underlayDrivers: [{ device: "ens192", driver: "vmxnet3" }] }, apply: true, basis: "driver", enforce: false, says: /ens192 uses the vmxnet3 driver/ },
    { name: "vmxnet3 as a bond member under a VLAN: off", facts: { underlayDrivers: [{ device: "bond0.7", driver: "802.1Q VLAN Support" }, { device: "bond0", driver: "bonding" }, { device: "ens224", driver: "vmxnet3" }] }, apply: true, basis: "driver", enforce: false, says: /ens224 uses the vmxnet3 driver/ },
    { name: "an unknown driver is no reason", facts: { underlayDrivers: [{ device: "eth0", driver: undefined }] }, apply: false, basis: "none", enforce: false, says: /eth0: unknown/ },
    { name: "an unreadable kernel release is no reason", facts: { kernelRelease: "weird" }, apply: false, basis: "none", enforce: false, says: /version not recognised/ },
    { name: "--vxlan-tx-checksum-offload=off forces it off on a kernel that does not need it", facts: { setting: "off" }, apply: true, basis: "flag", enforce: true, says: /--vxlan-tx-checksum-offload=off/ },
    { name: "--vxlan-tx-checksum-offload=on keeps it on below 5.7", facts: { setting: "on", kernelRelease: "4.19.0" }, apply: false, basis: "flag", enforce: true, says: /--vxlan-tx-checksum-offload=on/ },
    { name: "--vxlan-tx-checksum-offload=on keeps it on over vmxnet3", facts: { setting: "on", underlayDrivers: [{ device: "ens192", driver: "vmxnet3" }] }, apply: false, basis: "flag", enforce: true, says: /=on/ },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const decision = decideTxChecksumOffload(facts(c.facts));
      assert.deepEqual([decision.apply, decision.basis, decision.enforce], [c.apply, c.basis, c.enforce]);
      assert.match(decision.reason, c.says);
      assert.equal(decision.setting, c.facts.setting ?? "auto");
    });
  }

  test("kernel versions are read from the release's first two numbers", () => {
    assert.deepEqual(parseKernelVersion("6.18.44-fc-v1272"), [6, 18]);
    assert.deepEqual(parseKernelVersion("4.18.0-553.el8_10.x86_64"), [4, 18]);
    assert.deepEqual(parseKernelVersion(" 5.7\n"), [5, 7]);
    assert.equal(parseKernelVersion("v5.4"), undefined);
  });
});

describe("underlayDevices", () => {
  const link = (ifname: string, extra: Record<string, unknown> = {}) => ({ ifname, ...extra });
  const links = [
    link("lo"),
    link("ens192"),
    link("ens224", { master: "bond0" }),
    link("ens256", { master: "bond0" }),
    link("bond0", { linkinfo: { info_kind: "bond" } }),
    link("bond0.7", { link: "bond0", linkinfo: { info_kind: "vlan" } }),
    link("veth0", { link: "veth0p", linkinfo: { info_kind: "veth" } }),
    link("veth0p", { link: "veth0", linkinfo: { info_kind: "veth" } }),
    link("br0", { linkinfo: { info_kind: "bridge" } }),
    link("eth1", { master: "br0" }),
    link("loop1", { link: "loop2", linkinfo: { info_kind: "vlan" } }),
    link("loop2", { link: "loop1", linkinfo: { info_kind: "vlan" } }),
  ];
  test("a plain NIC is itself", () => assert.deepEqual(underlayDevices(links, "ens192"), ["ens192"]));
  test("a VLAN on a bond leads to the bond's members", () => assert.deepEqual(underlayDevices(links, "bond0.7"), ["bond0.7", "bond0", "ens224", "ens256"]));
  test("a bridge leads to its ports", () => assert.deepEqual(underlayDevices(links, "br0"), ["br0", "eth1"]));
  test("a veth's peer is not a lower device", () => assert.deepEqual(underlayDevices(links, "veth0"), ["veth0"]));
  test("a loop ends", () => assert.deepEqual(underlayDevices(links, "loop1"), ["loop1", "loop2"]));
  test("an interface missing from the dump is still asked about", () => assert.deepEqual(underlayDevices(links, "gone0"), ["gone0"]));
});

describe("--vxlan-tx-checksum-offload", () => {
  test("defaults to auto", () => assert.equal(parseFlanneldArgs([], {}).vxlanTxChecksumOffload, "auto"));
  test("takes on and off from the command line and FLANNELD_VXLAN_TX_CHECKSUM_OFFLOAD", () => {
    assert.equal(parseFlanneldArgs(["--vxlan-tx-checksum-offload=off"], {}).vxlanTxChecksumOffload, "off");
    assert.equal(parseFlanneldArgs(["-vxlan-tx-checksum-offload", "on"], {}).vxlanTxChecksumOffload, "on");
    assert.equal(parseFlanneldArgs([], { FLANNELD_VXLAN_TX_CHECKSUM_OFFLOAD: "off" }).vxlanTxChecksumOffload, "off");
  });
  test("refuses anything else, naming the choices", () => {
    for (const argv of [["--vxlan-tx-checksum-offload=false"], ["--vxlan-tx-checksum-offload=OFF"]]) {
      assert.throws(
        () => parseFlanneldArgs(argv, {}),
        (error) => isFlannelError(error, "flag-invalid") && error.details.flag === "vxlan-tx-checksum-offload" && /must be one of auto, on, off/.test(error.message),
      );
    }
    assert.throws(
      () => parseFlanneldArgs([], { FLANNELD_VXLAN_TX_CHECKSUM_OFFLOAD: "yes" }),
      (error) => isFlannelError(error, "flag-invalid") && error.details.variable === "FLANNELD_VXLAN_TX_CHECKSUM_OFFLOAD",
    );
  });
});
