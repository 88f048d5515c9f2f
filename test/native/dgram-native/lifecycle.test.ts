// dgram-native's life cycle in a namespace: the TUN device appears with Flannel's flags and goes
// (or stays, when persistent) on close; refusals come back as FlannelErrors naming the syscall
// and errno; a multi-queue device has a pair of threads per queue; a second data plane on the
// device is kept off by the namespace's lock; a thousand open/close cycles (and 200 with four
// queues) leave no fd and no thread behind.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createNamespace, type Namespace } from "../../support/netns.ts";
import { needsRoot } from "../../support/root.ts";
import { startPlaneProcess, type ChildFailure, type PlaneProcess } from "./plane-process.ts";

interface LinkInfo {
  readonly ifname: string;
  readonly mtu: number;
  readonly flags: string[];
  readonly linkinfo?: { info_kind?: string; info_data?: { type?: string; pi?: boolean; vnet_hdr?: boolean; multi_queue?: boolean; persist?: boolean } };
}

const options = {
  tunName: "flannel0",
  bindAddress: "0.0.0.0",
  port: 8285,
  mtu: 1472,
  ownSubnet: "10.244.1.0/24",
  network: "10.244.0.0/16",
};

describe("dgram-native life cycle", { skip: needsRoot }, () => {
  let ns: Namespace;
  let child: PlaneProcess;

  before(async () => {
    ns = await createNamespace("dgn");
    child = startPlaneProcess(ns.name);
  });
  after(async () => {
    await child?.stop();
    await ns?.remove();
  });

  async function tunLinks(): Promise<LinkInfo[]> {
    const links = await ns.ipJson<LinkInfo[]>("-details", "link", "show");
    return links.filter((link) => link.linkinfo?.info_kind === "tun");
  }

  test("opens flannel0 as a TUN device without packet info, and removes it on close", async () => {
    const features = await child.request<Record<string, unknown>>("open", { options: { ...options, offloads: "off" } });
    assert.deepEqual(features, { vnetHdr: false, tunOffload: false, udpGso: false, udpGro: false, threads: 2 });
    const [tun] = await tunLinks();
    assert.equal(tun?.ifname, "flannel0");
    assert.equal(tun?.linkinfo?.info_data?.type, "tun");
    assert.equal(tun?.linkinfo?.info_data?.pi, false);
    await child.request("close");
    await child.request("close"); // idempotent
    assert.deepEqual(await tunLinks(), []);
  });

  test("with offloads auto, reads and writes carry a vnet header and the UDP offloads are on", async () => {
    const features = await child.request<Record<string, unknown>>("open", { options: { ...options, offloads: "auto" } });
    assert.deepEqual(features, { vnetHdr: true, tunOffload: true, udpGso: true, udpGro: true, threads: 2 });
    const [tun] = await tunLinks();
    assert.equal(tun?.linkinfo?.info_data?.vnet_hdr, true);
    await child.request("close");
  });

  test("a persistent device outlives the data plane, and the next one re-attaches to it", async () => {
    await child.request("open", { options: { ...options, persist: true } });
    await ns.ip("addr", "add", "10.244.1.0/32", "dev", "flannel0");
    await child.request("close");
    const [kept] = await tunLinks();
    assert.equal(kept?.linkinfo?.info_data?.persist, true);
    await child.request("open", { options: { ...options, persist: false } });
    const addresses = await ns.ipJson<{ addr_info: { local: string }[] }[]>("addr", "show", "dev", "flannel0");
    assert.deepEqual(addresses[0]?.addr_info.map((a) => a.local), ["10.244.1.0"]);
    await child.request("close");
    assert.deepEqual(await tunLinks(), []);
  });

  test("a device deleted under a running data plane leaves its threads idle, and close still works", async () => {
    await child.request("open", { options: { ...options, offloads: "auto" } });
    await ns.ip("link", "set", "flannel0", "up");
    await ns.ip("link", "del", "flannel0");
    const before = await child.request<number>("cpuMs");
    await new Promise((done) => setTimeout(done, 1000));
    const used = (await child.request<number>("cpuMs")) - before;
    assert.ok(used < 200, `the process used ${used.toFixed(0)} ms of CPU in 1 s with its device gone`);
    await child.request("close");
  });

  test("a bad device name fails with the syscall and errno", async () => {
    const error = (await child.request("open", { options: { ...options, tunName: "a-name-far-too-long-for-linux" } }).catch((e: unknown) => e)) as ChildFailure;
    assert.equal(error.code, "udp-dataplane-failed");
    assert.equal(error.details?.syscall, "TUNSETIFF");
    assert.equal(error.details?.errno, "EINVAL");
  });

  test("a port in use fails with EADDRINUSE and leaves no device", async () => {
    await child.request("udpSink", { address: "0.0.0.0", port: 8299 });
    const error = (await child.request("open", { options: { ...options, port: 8299 } }).catch((e: unknown) => e)) as ChildFailure;
    assert.equal(error.code, "udp-dataplane-failed");
    assert.deepEqual([error.details?.syscall, error.details?.errno], ["bind", "EADDRINUSE"]);
    assert.deepEqual(await tunLinks(), []);
  });

  test("with 2 queues, flannel0 is a multi-queue TUN and the data plane runs a pair of threads per queue", async () => {
    const features = await child.request<Record<string, unknown>>("open", { options: { ...options, offloads: "auto", queues: 2 } });
    assert.deepEqual(features, { vnetHdr: true, tunOffload: true, udpGso: true, udpGro: true, threads: 4 });
    const [tun] = await tunLinks();
    assert.equal(tun?.linkinfo?.info_data?.multi_queue, true);
    await child.request("close");
    assert.deepEqual(await tunLinks(), []);
  });

  test("a device made with one queue mode cannot be attached in the other (TUNSETIFF EINVAL), which the backend answers by making it anew", async () => {
    await child.request("open", { options: { ...options, persist: true } });
    await child.request("close");
    const error = (await child.request("open", { options: { ...options, queues: 2 } }).catch((e: unknown) => e)) as ChildFailure;
    assert.deepEqual([error.code, error.details?.syscall, error.details?.errno], ["udp-dataplane-failed", "TUNSETIFF", "EINVAL"]);
    await child.request("open", { options: { ...options, persist: false } });
    await child.request("close");
    assert.deepEqual(await tunLinks(), []);
  });

  test("queues out of range are refused before anything is opened", async () => {
    for (const queues of [0, 17, 1.5]) {
      const error = (await child.request("open", { options: { ...options, queues } }).catch((e: unknown) => e)) as ChildFailure;
      assert.match(String(error.message), /queues out of range/);
    }
    assert.deepEqual(await tunLinks(), []);
  });

  for (const queues of [1, 2]) {
    test(`a second data plane on the device in this namespace is refused while the first runs (${queues} queue${queues === 1 ? "" : "s"}), and can open once it closed`, async () => {
      const other = startPlaneProcess(ns.name);
      try {
        await child.request("open", { options: { ...options, queues } });
        const error = (await other.request("open", { options: { ...options, queues } }).catch((e: unknown) => e)) as ChildFailure;
        assert.deepEqual([error.code, error.details?.syscall, error.details?.errno], ["udp-dataplane-failed", "lock", "EADDRINUSE"]);
        assert.match(String(error.message), /another data plane in this network namespace holds the device/);
        await child.request("close");
        await other.request("open", { options: { ...options, queues } });
        await other.request("close");
      } finally {
        await other.stop();
      }
      assert.deepEqual(await tunLinks(), []);
    });
  }

  test("1000 open/close cycles leave no fd and no thread behind", async () => {
    // A persistent device: the cycles then measure the data plane, not the kernel's slow netdev
    // teardown (~20 ms each); the last cycle drops persistence and with it the device.
    const cycle = { ...options, port: 8286, tunName: "flcycle0", persist: true };
    const warm = await child.request<{ fds: number; threads: number }>("cycles", { count: 5, options: cycle });
    const afterCycles = await child.request<{ fds: number; threads: number }>("cycles", { count: 1000, options: cycle });
    assert.deepEqual(afterCycles, warm);
    await child.request("cycles", { count: 1, options: { ...cycle, persist: false } });
    assert.deepEqual(await tunLinks(), []);
  });

  test("200 open/close cycles with 4 queues leave no fd and no thread behind", async () => {
    const cycle = { ...options, port: 8287, tunName: "flcycleq0", persist: true, queues: 4 };
    const warm = await child.request<{ fds: number; threads: number }>("cycles", { count: 5, options: cycle });
    const afterCycles = await child.request<{ fds: number; threads: number }>("cycles", { count: 200, options: cycle });
    assert.deepEqual(afterCycles, warm);
    await child.request("cycles", { count: 1, options: { ...cycle, persist: false } });
    assert.deepEqual(await tunLinks(), []);
  });
});
