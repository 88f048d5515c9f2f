// dist/bin/flannel with the real delegates (Debian's bridge + host-local from /usr/lib/cni), run
// as a runtime runs it inside a node namespace, wiring pod namespaces: the pod's address, MTU and
// routes come from subnet.env, cni0 is the gateway, the saved delegate config is Flannel's, DEL
// undoes everything (also twice, also without subnet.env), CHECK delegates, every spec version's
// result format, the 1.1.0 relabel, and 20 pods at once.
import assert from "node:assert/strict";
import { rmSync, statSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { callCni, flannelCniPlugin, referenceCniDir } from "../../deploy/lab/tools/cni.ts";
import { createNamespace, type Namespace } from "../support/netns.ts";
import { needsRoot } from "../support/root.ts";
import { uniqueName } from "../support/run-context.ts";
import { allocations, flannelConf, ipv4Of, linksIn, makeScratch, routesOf, savedConf, savedFiles, vethsIn, writeSubnetEnv, type Scratch } from "./fixture.ts";

interface AddResult {
  cniVersion: string;
  interfaces?: Array<{ name: string; sandbox?: string }>;
  ips?: Array<{ version?: string; address: string; gateway: string; interface?: number }>;
  ip4?: { ip: string; gateway: string; routes: Array<{ dst: string }> };
  routes?: Array<{ dst: string; gw?: string }>;
}

describe("flannel CNI plugin with the real bridge and host-local", { skip: needsRoot }, () => {
  let node: Namespace;
  // Every test gets its own third octet, so the node's cni0 is re-addressed never, and
  // addresses from one test cannot be mistaken for another's.
  let third = 20;
  const pods: Namespace[] = [];
  const scratches: Scratch[] = [];

  before(async () => {
    node = await createNamespace("cnibr");
  });
  after(async () => {
    for (const pod of pods) await pod.remove();
    await node?.remove();
    for (const scratch of scratches) scratch.remove();
  });

  async function setUp(hint: string): Promise<{ pod: Namespace; scratch: Scratch; third: number; containerId: string }> {
    third += 1;
    const pod = await createNamespace("pod");
    pods.push(pod);
    const scratch = makeScratch(hint);
    scratches.push(scratch);
    writeSubnetEnv(scratch, third);
    return { pod, scratch, third, containerId: uniqueName("ctr") };
  }

  /** Each test its own bridge, so no bridge carries the gateways of two tests. */
  function bridgeFor(third: number): Record<string, unknown> {
    return { delegate: { hairpinMode: true, isDefaultGateway: true, bridge: `cni${third}` } };
  }

  test("ADD wires the pod from subnet.env; the saved config is Flannel's; DEL undoes it all, twice", async () => {
    const { pod, scratch, third, containerId } = await setUp("add");
    // The standard conflist's flannel entry (bridge named by its default, cni0; no other test here uses it).
    const bridge = "cni0";
    const conf = flannelConf(scratch);
    const add = await callCni({ node: node.name, plugin: flannelCniPlugin, command: "ADD", config: conf, containerId, pod: pod.name });
    assert.equal(add.code, 0, add.stdout + add.stderr);
    const result = add.json<AddResult>();
    const gateway = `10.244.${third}.1`;

    // the result (spec 0.3.1 format)
    assert.equal(result.cniVersion, "0.3.1");
    assert.equal(result.ips?.length, 1);
    const ip = result.ips![0]!;
    assert.match(ip.address, new RegExp(`^10\\.244\\.${third}\\.(\\d+)/24$`));
    assert.notEqual(ip.address, `${gateway}/24`);
    assert.equal(ip.gateway, gateway);
    assert.equal(ip.version, "4");
    assert.equal(result.interfaces?.[ip.interface!]?.name, "eth0");
    assert.equal(result.interfaces?.[ip.interface!]?.sandbox, `/var/run/netns/${pod.name}`);

    // the pod: eth0 with that address and FLANNEL_MTU, routes via the gateway
    const eth0 = await ipv4Of(pod, "eth0");
    assert.deepEqual(eth0, { mtu: 1450, addresses: [ip.address] });
    const routes = await routesOf(pod);
    assert.deepEqual(routes.filter((r) => r.dst === "default").map((r) => r.gateway), [gateway], "default route via the gateway (isDefaultGateway)");
    assert.deepEqual(routes.filter((r) => r.dst === "10.244.0.0/16").map((r) => r.gateway), [gateway], "FLANNEL_NETWORK via the gateway");

    // the node: the bridge holds the gateway address, with the pod's veth plugged in
    assert.deepEqual(await ipv4Of(node, bridge), { mtu: 1450, addresses: [`${gateway}/24`] });
    const ports = (await linksIn(node)).filter((link) => link.master === bridge);
    assert.equal(ports.length, 1);
    assert.equal(ports[0]!.mtu, 1450);

    // host-local reserved the address in our scratch dir, for this container
    const podIp = ip.address.replace("/24", "");
    assert.deepEqual([...allocations(scratch).keys()], [podIp]);
    assert.match(allocations(scratch).get(podIp)!, new RegExp(`^${containerId}`));

    // the saved delegate config: field by field, then byte for byte (Go's sorted map)
    const bytes = savedConf(scratch, containerId);
    const saved = JSON.parse(bytes) as Record<string, unknown>;
    assert.equal(saved.cniVersion, "0.3.1");
    assert.equal(saved.name, "cbr0");
    assert.equal(saved.type, "bridge");
    assert.equal(saved.hairpinMode, true);
    assert.equal(saved.isDefaultGateway, true);
    assert.equal(saved.isGateway, true);
    assert.equal(saved.ipMasq, false, "FLANNEL_IPMASQ=true: the bridge must not masquerade");
    assert.equal(saved.mtu, 1450);
    assert.deepEqual(saved.ipam, {
      dataDir: scratch.ipamDir,
      ranges: [[{ subnet: `10.244.${third}.0/24` }]],
      routes: [{ dst: "10.244.0.0/16" }],
      type: "host-local",
    });
    assert.equal(
      bytes,
      `{"cniVersion":"0.3.1","hairpinMode":true,"ipMasq":false,"ipam":{"dataDir":"${scratch.ipamDir}",` +
        `"ranges":[[{"subnet":"10.244.${third}.0/24"}]],"routes":[{"dst":"10.244.0.0/16"}],"type":"host-local"},` +
        `"isDefaultGateway":true,"isGateway":true,"mtu":1450,"name":"cbr0","type":"bridge"}`,
    );
    assert.equal(statSync(scratch.dataDir).mode & 0o777, 0o700);
    assert.equal(statSync(`${scratch.dataDir}/${containerId}`).mode & 0o777, 0o600);

    // DEL: no output, veth and reservation gone, saved config removed
    const del = await callCni({ node: node.name, plugin: flannelCniPlugin, command: "DEL", config: conf, containerId, pod: pod.name });
    assert.equal(del.code, 0, del.stdout + del.stderr);
    assert.equal(del.stdout, "");
    assert.deepEqual(await vethsIn(node), []);
    assert.deepEqual((await linksIn(pod)).map((link) => link.ifname), ["lo"]);
    assert.deepEqual([...allocations(scratch).keys()], []);
    assert.deepEqual(savedFiles(scratch), []);

    // DEL again: the spec's idempotent DEL
    const again = await callCni({ node: node.name, plugin: flannelCniPlugin, command: "DEL", config: conf, containerId, pod: pod.name });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.equal(again.stdout, "");
  });

  test("without isDefaultGateway the pod routes only FLANNEL_NETWORK via the gateway", async () => {
    const { pod, scratch, third, containerId } = await setUp("nodefault");
    const conf = flannelConf(scratch, { delegate: { bridge: `cni${third}` } });
    const add = await callCni({ node: node.name, plugin: flannelCniPlugin, command: "ADD", config: conf, containerId, pod: pod.name });
    assert.equal(add.code, 0, add.stdout + add.stderr);
    const routes = await routesOf(pod);
    assert.deepEqual(routes.filter((r) => r.dst === "default"), []);
    assert.deepEqual(routes.filter((r) => r.dst === "10.244.0.0/16").map((r) => r.gateway), [`10.244.${third}.1`]);
    assert.equal((await callCni({ node: node.name, plugin: flannelCniPlugin, command: "DEL", config: conf, containerId, pod: pod.name })).code, 0);
  });

  test("DEL needs no subnet.env (the agent may be gone) and succeeds when there is nothing saved", async () => {
    const { pod, scratch, third, containerId } = await setUp("delnoenv");
    const conf = flannelConf(scratch, bridgeFor(third));
    assert.equal((await callCni({ node: node.name, plugin: flannelCniPlugin, command: "ADD", config: conf, containerId, pod: pod.name })).code, 0);
    rmSync(scratch.subnetFile);
    const del = await callCni({ node: node.name, plugin: flannelCniPlugin, command: "DEL", config: conf, containerId, pod: pod.name });
    assert.equal(del.code, 0, del.stdout + del.stderr);
    assert.deepEqual(await vethsIn(node), []);
    assert.deepEqual([...allocations(scratch).keys()], []);

    // a container this network never saw, and no CNI_NETNS (allowed for DEL)
    const unknown = await callCni({ node: node.name, plugin: flannelCniPlugin, command: "DEL", config: conf, containerId: uniqueName("never") });
    assert.equal(unknown.code, 0, unknown.stdout + unknown.stderr);
    assert.equal(unknown.stdout, "");
  });

  test("CHECK hands the saved config and prevResult to bridge, which finds what is broken", async () => {
    const { pod, scratch, third, containerId } = await setUp("check");
    const conf = flannelConf(scratch, { cniVersion: "0.4.0", ...bridgeFor(third) });
    const add = await callCni({ node: node.name, plugin: flannelCniPlugin, command: "ADD", config: conf, containerId, pod: pod.name });
    assert.equal(add.code, 0, add.stdout + add.stderr);
    const check = (config: unknown, id = containerId) => callCni({ node: node.name, plugin: flannelCniPlugin, command: "CHECK", config, containerId: id, pod: pod.name });

    const ok = await check({ ...conf, prevResult: add.json() });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.equal(ok.stdout, "");

    const unknown = await check({ ...conf, prevResult: add.json() }, uniqueName("never"));
    assert.equal(unknown.code, 1);
    assert.equal(unknown.json().code, 3, "container unknown");

    const old = await check({ ...conf, cniVersion: "0.3.1", prevResult: add.json() });
    assert.equal(old.json().code, 1, "CHECK needs cniVersion 0.4.0 or later");

    await pod.ip("route", "del", "10.244.0.0/16");
    const broken = await check({ ...conf, prevResult: add.json() });
    assert.notEqual(broken.code, 0, "a missing route must fail CHECK");
    assert.match(broken.stdout, /10\.244\.0\.0/);

    assert.equal((await callCni({ node: node.name, plugin: flannelCniPlugin, command: "DEL", config: conf, containerId, pod: pod.name })).code, 0);
  });

  test("every supported cniVersion: ADD's result has that version's format, and DEL undoes it", async () => {
    for (const version of ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]) {
      const { pod, scratch, third, containerId } = await setUp(`v${version.replaceAll(".", "")}`);
      const conf = flannelConf(scratch, { cniVersion: version, ...bridgeFor(third) });
      const add = await callCni({ node: node.name, plugin: flannelCniPlugin, command: "ADD", config: conf, containerId, pod: pod.name });
      assert.equal(add.code, 0, `${version}: ${add.stdout}${add.stderr}`);
      const result = add.json<AddResult>();
      assert.equal(result.cniVersion, version);
      const address = (await ipv4Of(pod, "eth0")).addresses[0];
      if (version === "0.1.0" || version === "0.2.0") {
        // spec 0.2.0: a single ip4 block, no interfaces
        assert.equal(result.ip4?.ip, address, version);
        assert.equal(result.ip4?.gateway, `10.244.${third}.1`);
        assert.equal(result.interfaces, undefined);
      } else {
        assert.equal(result.ips?.[0]?.address, address, version);
        assert.equal(result.ips?.[0]?.gateway, `10.244.${third}.1`);
        assert.ok((result.interfaces?.length ?? 0) > 0, version);
        // ips[].version exists from 0.3.0 to 0.4.0 and was dropped in 1.0.0
        assert.equal(result.ips?.[0]?.version, version.startsWith("1.") ? undefined : "4", version);
      }
      const del = await callCni({ node: node.name, plugin: flannelCniPlugin, command: "DEL", config: conf, containerId, pod: pod.name });
      assert.equal(del.code, 0, `${version}: ${del.stdout}${del.stderr}`);
      assert.deepEqual([...allocations(scratch).keys()], [], version);
      assert.deepEqual(savedFiles(scratch), [], version);
    }
  });

  test("1.1.0: the Debian bridge stops at 1.0.0, so it runs at 1.0.0 and the result says 1.1.0", async () => {
    // The premise: what /usr/lib/cni/bridge reports.
    const version = await callCni({ node: node.name, plugin: `${referenceCniDir}/bridge`, command: "VERSION", config: { cniVersion: "1.0.0" } });
    const supported = version.json<{ supportedVersions: string[] }>().supportedVersions;
    assert.ok(supported.includes("1.0.0") && !supported.includes("1.1.0"), `bridge supports ${supported.join(" ")}`);

    const { pod, scratch, third, containerId } = await setUp("v110");
    const conf = flannelConf(scratch, { cniVersion: "1.1.0", ...bridgeFor(third) });
    const add = await callCni({ node: node.name, plugin: flannelCniPlugin, command: "ADD", config: conf, containerId, pod: pod.name });
    assert.equal(add.code, 0, add.stdout + add.stderr);
    const result = add.json<AddResult>();
    assert.equal(result.cniVersion, "1.1.0");
    assert.equal(result.ips?.[0]?.version, undefined);
    assert.equal(JSON.parse(savedConf(scratch, containerId)).cniVersion, "1.0.0", "the delegate was given 1.0.0");

    const check = await callCni({ node: node.name, plugin: flannelCniPlugin, command: "CHECK", config: { ...conf, prevResult: result }, containerId, pod: pod.name });
    assert.equal(check.code, 0, check.stdout + check.stderr);
    const del = await callCni({ node: node.name, plugin: flannelCniPlugin, command: "DEL", config: { ...conf, prevResult: result }, containerId, pod: pod.name });
    assert.equal(del.code, 0, del.stdout + del.stderr);
    assert.deepEqual(savedFiles(scratch), []);
  });

  test("20 ADDs in parallel get 20 distinct addresses; 20 DELs release them all", async () => {
    const { scratch, third } = await setUp("parallel");
    const conf = flannelConf(scratch, bridgeFor(third));
    const podsHere = await Promise.all(Array.from({ length: 20 }, () => createNamespace("pp")));
    pods.push(...podsHere);
    const ids = podsHere.map(() => uniqueName("par"));
    const adds = await Promise.all(
      podsHere.map((pod, i) => callCni({ node: node.name, plugin: flannelCniPlugin, command: "ADD", config: conf, containerId: ids[i], pod: pod.name })),
    );
    for (const add of adds) assert.equal(add.code, 0, add.stdout + add.stderr);
    const addresses = adds.map((add) => add.json<AddResult>().ips![0]!.address);
    assert.equal(new Set(addresses).size, 20, `distinct addresses: ${addresses.join(" ")}`);
    for (const address of addresses) assert.match(address, new RegExp(`^10\\.244\\.${third}\\.\\d+/24$`));
    assert.equal((await linksIn(node)).filter((link) => link.master === `cni${third}`).length, 20);
    assert.equal(allocations(scratch).size, 20);
    assert.equal(savedFiles(scratch).length, 20);

    const dels = await Promise.all(
      podsHere.map((pod, i) => callCni({ node: node.name, plugin: flannelCniPlugin, command: "DEL", config: conf, containerId: ids[i], pod: pod.name })),
    );
    for (const del of dels) assert.equal(del.code, 0, del.stdout + del.stderr);
    assert.deepEqual(await vethsIn(node), []);
    assert.equal(allocations(scratch).size, 0);
    assert.deepEqual(savedFiles(scratch), []);
  });
});
