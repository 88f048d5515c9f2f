// TX checksum offload and MTU on real vxlan devices inside a node namespace: the ethtool layer
// (driver, features, switching tx-checksum-ip-generic), the workaround applied by the backend at
// prepare and again when a deleted device is recreated, "auto" leaving an operator's setting
// alone, "on" undoing it; and the MTU rules at prepare (an adopted device that no longer fits is
// reported with the numbers, Backend.MTU honoured or refused). Every read-back goes through a
// separate `ethtool -k` / `ip link` run, not through the code under test.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Backend } from "../../../backends/backend.ts";
import { isFlannelError } from "../../../backends/errors.ts";
import { readDriverName, readFeatures, setFeature } from "../../../backends/kernel/ethtool.ts";
import { decideTxChecksumOffload } from "../../../backends/vxlan/checksum-offload.ts";
import { ensureTxChecksum } from "../../../backends/vxlan/checksum-offload-device.ts";
import { createVxlanBackend } from "../../../backends/vxlan/vxlan-backend.ts";
import { needsRoot } from "../../support/root.ts";
import { createCluster, type Cluster, type ClusterNode } from "../reconcile/cluster-fixture.ts";

const signal = (): AbortSignal => AbortSignal.timeout(30_000);

const off = decideTxChecksumOffload({ kernelRelease: "6.1.0", underlayDrivers: [], setting: "off" });
const on = decideTxChecksumOffload({ kernelRelease: "6.1.0", underlayDrivers: [], setting: "on" });
const autoNone = decideTxChecksumOffload({ kernelRelease: "6.1.0", underlayDrivers: [], setting: "auto" });
const autoOldKernel = decideTxChecksumOffload({ kernelRelease: "5.4.0", underlayDrivers: [], setting: "auto" });

describe("TX checksum offload and MTU on a real vxlan device", { skip: needsRoot }, () => {
  let cluster: Cluster;
  let node: ClusterNode;
  const backends: Backend[] = [];

  /** `tx-checksum-ip-generic` as a separate `ethtool -k` prints it: "on" or "off". */
  async function offloadOf(device: string): Promise<string | undefined> {
    const { stdout } = await node.ns.exec(["ethtool", "-k", device]);
    return /^\s*tx-checksum-ip-generic: (on|off)/m.exec(stdout)?.[1];
  }
  async function mtuOf(device: string): Promise<number | undefined> {
    const [link] = await node.json<{ mtu: number }[]>("link", "show", "dev", device);
    return link?.mtu;
  }
  function backend(): Backend {
    const created = createVxlanBackend({ kernel: node.kernel, log: node.log });
    backends.push(created);
    return created;
  }
  const local = async (config: Record<string, unknown> = {}, txChecksumOffload?: "auto" | "on" | "off") => ({
    ...(await node.local({ Type: "vxlan", ...config })),
    ...(txChecksumOffload === undefined ? {} : { txChecksumOffload }),
  });

  before(async () => {
    cluster = await createCluster(1);
    node = cluster.nodes[0]!;
  });
  after(async () => {
    for (const created of backends) await created.close();
    await cluster?.remove();
  });

  describe("the ethtool layer", () => {
    before(async () => {
      await node.ip("link", "add", "vx9", "type", "vxlan", "id", "9", "dev", "eth0", "local", node.address, "nolearning", "dstport", "0");
    });
    after(async () => {
      await node.ip("link", "del", "vx9");
    });

    test("reads drivers: veth under the underlay, vxlan for the device, nothing for a device that is not there", async () => {
      assert.equal(await readDriverName(node.kernel.runner, "eth0"), "veth");
      assert.equal(await readDriverName(node.kernel.runner, "vx9"), "vxlan");
      assert.equal(await readDriverName(node.kernel.runner, "nosuch0"), undefined);
    });

    test("reads a new vxlan device's tx-checksum-ip-generic as on and changeable", async () => {
      const features = await readFeatures(node.kernel.runner, "vx9");
      assert.deepEqual(features.get("tx-checksum-ip-generic"), { active: true, fixed: false });
      assert.equal(await offloadOf("vx9"), "on");
    });

    test("switches it off and on, as ethtool -k then shows", async () => {
      await setFeature(node.kernel.runner, "vx9", "tx-checksum-ip-generic", false);
      assert.equal(await offloadOf("vx9"), "off");
      // With it the kernel drops TSO on the device too: why the workaround costs so much.
      assert.equal((await readFeatures(node.kernel.runner, "vx9")).get("tx-tcp-segmentation")?.active, false);
      await setFeature(node.kernel.runner, "vx9", "tx-checksum-ip-generic", true);
      assert.equal(await offloadOf("vx9"), "on");
    });

    test("ensureTxChecksum applies the workaround, leaves an existing one under auto with a warning, and undoes it only for an explicit on", async () => {
      assert.equal(await ensureTxChecksum(node.kernel.runner, "vx9", autoOldKernel, node.log), false);
      assert.equal(await offloadOf("vx9"), "off");
      assert.equal(await ensureTxChecksum(node.kernel.runner, "vx9", autoNone, node.log), false);
      assert.equal(await offloadOf("vx9"), "off");
      assert.equal(node.log.find("tx-checksum-ip-generic is off on vx9 although no known problem needs it", "warn").length, 1);
      assert.equal(await ensureTxChecksum(node.kernel.runner, "vx9", on, node.log), true);
      assert.equal(await offloadOf("vx9"), "on");
      assert.equal(await ensureTxChecksum(node.kernel.runner, "vx9", autoNone, node.log), true);
      assert.equal(await offloadOf("vx9"), "on");
    });

    test("a failure is fatal only when the flag asked for the setting", async () => {
      await assert.rejects(ensureTxChecksum(node.kernel.runner, "nosuch0", off, node.log), (error) => isFlannelError(error, "kernel-command-failed"));
      assert.equal(await ensureTxChecksum(node.kernel.runner, "nosuch0", autoOldKernel, node.log), undefined);
      assert.equal(node.log.find("could not read or set tx-checksum-ip-generic on nosuch0", "error").length, 1);
    });
  });

  describe("the vxlan backend", () => {
    test("--vxlan-tx-checksum-offload=off: prepare turns the offload off on flannel.1 and reports it", async () => {
      const vxlan = backend();
      await vxlan.prepare(await local({}, "off"), signal());
      assert.equal(await offloadOf("flannel.1"), "off");
      const report = vxlan.txChecksumOffload?.();
      assert.deepEqual({ ...report, reason: undefined }, { setting: "off", workaround: true, basis: "flag", reason: undefined, devices: [{ device: "flannel.1", offloadActive: false }] });
      assert.ok(node.log.find("vxlan TX checksum offload: --vxlan-tx-checksum-offload=off", "warn").length >= 1);
    });

    test("a deleted flannel.1 comes back from reconcile with the workaround applied again", async () => {
      const vxlan = backends.at(-1)!;
      await vxlan.configure({ subnet: node.subnet }, signal());
      await node.ip("link", "del", "flannel.1");
      const report = await vxlan.reconcile([], signal());
      assert.deepEqual(report.errors, []);
      assert.equal(await offloadOf("flannel.1"), "off");
    });

    test("auto on this kernel and veth: adopts flannel.1, leaves the earlier workaround, says so; on turns the offload back on", async () => {
      const auto = backend();
      await auto.prepare(await local({}, "auto"), signal());
      const report = auto.txChecksumOffload?.();
      assert.deepEqual([report?.workaround, report?.basis, report?.devices], [false, "none", [{ device: "flannel.1", offloadActive: false }]]);
      assert.match(report?.reason ?? "", /eth0: veth/);
      assert.equal(await offloadOf("flannel.1"), "off");
      const keep = backend();
      await keep.prepare(await local({}, "on"), signal());
      assert.equal(await offloadOf("flannel.1"), "on");
      assert.deepEqual(keep.txChecksumOffload?.()?.devices, [{ device: "flannel.1", offloadActive: true }]);
    });

    test("without the flag (Flannel's behaviour here) a new device keeps the offload", async () => {
      await node.ip("link", "del", "flannel.1");
      const vxlan = backend();
      await vxlan.prepare(await local(), signal());
      assert.equal(await offloadOf("flannel.1"), "on");
      assert.equal(vxlan.txChecksumOffload?.()?.setting, "auto");
    });

    test("an adopted device too large for the underlay is reported with the numbers, and pods get what fits", async () => {
      await node.ip("link", "del", "flannel.1");
      await node.ip("link", "set", "eth0", "mtu", "9000");
      try {
        await backend().prepare(await local(), signal());
        assert.equal(await mtuOf("flannel.1"), 8950);
      } finally {
        await node.ip("link", "set", "eth0", "mtu", "1500");
      }
      const before = node.log.entries.length;
      const prepared = await backend().prepare(await local(), signal());
      assert.equal(await mtuOf("flannel.1"), 8950); // adopted with its MTU, as Flannel does
      assert.equal(prepared.mtu, 1450);
      const warnings = node.log.entries.slice(before).filter((entry) => entry.level === "warn" && entry.message.includes("flannel.1 has MTU 8950"));
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!.message, /packets are 9000 bytes, more than eth0 carries \(MTU 1500\)/);
      assert.deepEqual(warnings[0]!.fields.interfaceMtu, 1500);
    });

    test("Backend.MTU is honoured: the device gets it minus 50", async () => {
      await node.ip("link", "del", "flannel.1");
      const prepared = await backend().prepare(await local({ MTU: 1400 }), signal());
      assert.equal(await mtuOf("flannel.1"), 1350);
      assert.equal(prepared.mtu, 1350);
    });

    test("Backend.MTU above the underlay's is refused before any device is touched", async () => {
      await node.ip("link", "del", "flannel.1");
      await assert.rejects(backend().prepare(await local({ mtu: 9000 }), signal()), (error) => isFlannelError(error, "netconf-invalid") && error.details.field === "Backend.MTU");
      assert.equal(await mtuOf("flannel.1").catch(() => undefined), undefined);
    });
  });
});

describe("TX checksum offload and MTU on both VTEPs of a dual-stack node", { skip: needsRoot }, () => {
  let cluster: Cluster;
  let node: ClusterNode;
  let vxlan: Backend;
  before(async () => {
    cluster = await createCluster(1, { ipv6: true });
    node = cluster.nodes[0]!;
    vxlan = createVxlanBackend({ kernel: node.kernel, log: node.log });
  });
  after(async () => {
    await vxlan?.close();
    await cluster?.remove();
  });

  test("the workaround goes on flannel.1 and flannel-v6.1; each gets its family's MTU, pods the smaller", async () => {
    const prepared = await vxlan.prepare({ ...(await node.local({ Type: "vxlan" })), txChecksumOffload: "off" }, signal());
    for (const device of ["flannel.1", "flannel-v6.1"]) {
      const { stdout } = await node.ns.exec(["ethtool", "-k", device]);
      assert.match(stdout, /^\s*tx-checksum-ip-generic: off$/m, device);
    }
    assert.deepEqual(vxlan.txChecksumOffload?.()?.devices, [{ device: "flannel.1", offloadActive: false }, { device: "flannel-v6.1", offloadActive: false }]);
    const mtus = await node.json<{ ifname: string; mtu: number }[]>("link", "show");
    assert.deepEqual(mtus.filter((link) => link.ifname.startsWith("flannel")).map((link) => [link.ifname, link.mtu]), [["flannel.1", 1450], ["flannel-v6.1", 1430]]);
    assert.equal(prepared.mtu, 1430);
    assert.equal(node.log.find("has MTU", "warn").length, 0);
  });
});
