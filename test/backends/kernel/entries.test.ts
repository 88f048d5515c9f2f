// Per-peer kernel entries — neighbours, FDB entries, routes — written with the production line
// builders through the coprocesses and read back, inside a node namespace with a flannel.1
// device. Replace twice = same state; deleting what is already gone is a value, not an error.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { fdbDeleteLine, fdbReplaceLine, listFdb } from "../../../backends/kernel/fdb.ts";
import { linkUpLine, vxlanCreateLine } from "../../../backends/kernel/link.ts";
import { parseMac, type MacAddress } from "../../../backends/kernel/mac.ts";
import type { Kernel } from "../../../backends/kernel/kernel.ts";
import { isPermanent, listNeighbours, neighbourDeleteLine, neighbourReplaceLine } from "../../../backends/kernel/neighbour.ts";
import { listRoutes, routeDeleteLine, routeMatches, routeReplaceLine, type RouteSpec } from "../../../backends/kernel/route.ts";
import { formatCidr, formatIp, parseCidr, parseIp, type Cidr, type IpAddress } from "../../../backends/net/ip.ts";
import { needsRoot } from "../../support/root.ts";
import { createKernelNode, type KernelNode } from "./kernel-fixture.ts";

const ip = (text: string): IpAddress => parseIp(text) ?? assert.fail(text);
const cidr = (text: string): Cidr => parseCidr(text) ?? assert.fail(text);
const mac = (text: string): MacAddress => parseMac(text) ?? assert.fail(text);

describe("per-peer entries", { skip: needsRoot }, () => {
  let node: KernelNode;
  let kernel: Kernel;
  before(async () => {
    node = await createKernelNode();
    kernel = node.open();
    const setup = await kernel.ip.apply([
      vxlanCreateLine({ name: "flannel.1", vni: 1, underlay: node.device, local: ip(node.address), learning: false }),
      linkUpLine("flannel.1"),
    ]);
    assert.deepEqual(setup.errors, []);
  });
  after(async () => {
    await kernel?.close();
    await node?.remove();
  });

  test("neighbour: replace twice is one permanent entry; delete twice is 'already gone' the second time", async () => {
    const entries = [
      { ip: ip("10.244.2.0"), lladdr: mac("0e:aa:00:00:00:02"), device: "flannel.1" },
      { ip: ip("fd10:244:2::"), lladdr: mac("0e:aa:00:00:00:12"), device: "flannel.1" },
    ];
    for (let i = 0; i < 2; i++) assert.deepEqual((await kernel.ip.apply(entries.map(neighbourReplaceLine))).errors, []);
    const listed = await listNeighbours(kernel.runner, "flannel.1");
    assert.deepEqual(
      listed.map((n) => [formatIp(n.ip), n.lladdr, isPermanent(n)]).sort(),
      [["10.244.2.0", "0e:aa:00:00:00:02", true], ["fd10:244:2::", "0e:aa:00:00:00:12", true]],
    );
    assert.deepEqual((await listNeighbours(kernel.runner, "flannel.1", { family: 6 })).length, 1);
    // A new MAC for the same peer replaces the entry in place.
    await kernel.ip.apply([neighbourReplaceLine({ ...entries[0]!, lladdr: mac("0e:aa:00:00:00:03") })]);
    assert.equal((await listNeighbours(kernel.runner, "flannel.1", { family: 4 }))[0]?.lladdr, "0e:aa:00:00:00:03");
    const deletes = entries.map(neighbourDeleteLine);
    assert.deepEqual(await kernel.ip.apply(deletes), { errors: [], alreadyGone: [] });
    assert.deepEqual(await kernel.ip.apply(deletes), { errors: [], alreadyGone: [0, 1] });
    assert.deepEqual(await listNeighbours(kernel.runner, "flannel.1"), []);
    assert.deepEqual(await listNeighbours(kernel.runner, "nosuch0"), []);
  });

  test("FDB: replace twice is one permanent self entry; a new destination replaces it; delete twice is 'already gone'", async () => {
    const entry = { mac: mac("0e:aa:00:00:00:02"), device: "flannel.1", dst: ip("198.18.0.2") };
    for (let i = 0; i < 2; i++) assert.deepEqual((await kernel.bridge.apply([fdbReplaceLine(entry)])).errors, []);
    const summary = async (): Promise<unknown[]> =>
      (await listFdb(kernel.runner, "flannel.1")).map((e) => [e.mac, e.dst && formatIp(e.dst), e.self, e.permanent]);
    assert.deepEqual(await summary(), [["0e:aa:00:00:00:02", "198.18.0.2", true, true]]);
    await kernel.bridge.apply([fdbReplaceLine({ ...entry, dst: ip("198.18.0.3") })]);
    assert.deepEqual(await summary(), [["0e:aa:00:00:00:02", "198.18.0.3", true, true]]);
    const remove = fdbDeleteLine({ mac: entry.mac, device: "flannel.1", dst: ip("198.18.0.3") });
    assert.deepEqual(await kernel.bridge.apply([remove]), { errors: [], alreadyGone: [] });
    assert.deepEqual(await kernel.bridge.apply([remove, fdbDeleteLine({ mac: entry.mac, device: "flannel.1" })]), {
      errors: [],
      alreadyGone: [0, 1],
    });
    assert.deepEqual(await summary(), []);
    assert.deepEqual(await listFdb(kernel.runner, "nosuch0"), []);
  });

  test("bridge errors carry the exact line and message", async () => {
    const line = fdbReplaceLine({ mac: mac("0e:aa:00:00:00:09"), device: "nosuch0", dst: ip("198.18.0.9") });
    const result = await kernel.bridge.apply([line]);
    assert.deepEqual(result.errors.map((e) => [e.tool, e.command, e.kernelMessage, e.failure]), [
      ["bridge", line, 'Cannot find device "nosuch0"', "rejected"],
    ]);
  });

  test("routes: vxlan onlink, host-gw and blackhole routes replace idempotently and read back as written", async () => {
    const wanted: RouteSpec[] = [
      { dst: cidr("10.244.2.0/24"), gateway: ip("10.244.2.0"), device: "flannel.1", onlink: true },
      { dst: cidr("10.244.3.0/24"), gateway: ip(node.gateway), device: node.device },
      { dst: cidr("10.244.0.0/16"), type: "blackhole" },
      { dst: cidr("fd10:244:2::/64"), gateway: ip("fd10:244:2::"), device: "flannel.1", onlink: true },
    ];
    for (let i = 0; i < 2; i++) assert.deepEqual((await kernel.ip.apply(wanted.map(routeReplaceLine))).errors, []);
    const routes = [...(await listRoutes(kernel.runner, 4)), ...(await listRoutes(kernel.runner, 6))];
    for (const route of wanted) {
      const found = routes.filter((r) => formatCidr(r.dst) === formatCidr(route.dst));
      assert.equal(found.length, 1, formatCidr(route.dst));
      assert.ok(found[0] !== undefined && routeMatches(route, found[0]), `${formatCidr(route.dst)} reads back as written`);
    }
    const vxlanRoute = routes.find((r) => formatCidr(r.dst) === "10.244.2.0/24");
    assert.deepEqual(
      vxlanRoute && { ...vxlanRoute, dst: formatCidr(vxlanRoute.dst), gateway: vxlanRoute.gateway && formatIp(vxlanRoute.gateway) },
      { dst: "10.244.2.0/24", type: "unicast", gateway: "10.244.2.0", device: "flannel.1", onlink: true, scope: "global", protocol: "boot", metric: undefined },
    );
    assert.deepEqual(
      (await listRoutes(kernel.runner, 4, { device: "flannel.1" })).map((r) => formatCidr(r.dst)),
      ["10.244.2.0/24"],
    );
    assert.deepEqual(await listRoutes(kernel.runner, 4, { device: "nosuch0" }), []);
    const deletes = wanted.map(routeDeleteLine);
    assert.deepEqual(await kernel.ip.apply(deletes), { errors: [], alreadyGone: [] });
    assert.deepEqual(await kernel.ip.apply(deletes), { errors: [], alreadyGone: [0, 1, 2, 3] });
  });

  test("a /32 host route and the default route parse into CIDRs", async () => {
    await kernel.ip.apply([routeReplaceLine({ dst: cidr("10.244.9.7/32"), gateway: ip(node.gateway), device: node.device })]);
    const routes = (await listRoutes(kernel.runner, 4)).map((r) => formatCidr(r.dst));
    assert.ok(routes.includes("10.244.9.7/32"));
    assert.ok(routes.includes("0.0.0.0/0"));
  });
});
