// The pure parts of the vxlan backend, table-tested: the desired neighbours, FDB entries and
// routes for a set of peers (with and without DirectRouting), the reachability test behind
// DirectRouting, the compatibility rule for an existing device, and the VTEP's address plan.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Peer } from "../../../backends/backend.ts";
import type { KernelLink } from "../../../backends/kernel/link.ts";
import type { LinkAddress } from "../../../backends/kernel/link-query.ts";
import type { KernelRoute } from "../../../backends/kernel/route.ts";
import { formatCidr, formatIp, parseCidr, parseIp, type Cidr, type IpAddress } from "../../../backends/net/ip.ts";
import { vxlanDesiredState, type DirectLinkOf, type VtepView } from "../../../backends/vxlan/desired.ts";
import { bestRoute, directLinkFromRoutes } from "../../../backends/vxlan/direct-routing.ts";
import { fdbEntryKind, isVxlanRoute, neighbourEntryKind, type DeviceFdbEntry } from "../../../backends/vxlan/entries.ts";
import { vtepAddressPlan, vtepIncompatibility, type VtepSpec } from "../../../backends/vxlan/vtep-device.ts";
import { parseMac } from "../../../backends/kernel/mac.ts";

const ip = (text: string): IpAddress => parseIp(text) ?? assert.fail(text);
const cidr = (text: string): Cidr => parseCidr(text) ?? assert.fail(text);

function peer(n: number, mac: unknown = `0a:00:00:00:00:0${n}`, extra: Partial<Peer> = {}): Peer {
  return { subnet: cidr(`10.244.${n}.0/24`), publicIP: ip(`198.18.0.${n}`), backendType: "vxlan", backendData: { VNI: 1, VtepMAC: mac }, ...extra };
}

const v4: VtepView = { family: 4, device: "flannel.1", ownSubnet: cidr("10.244.1.0/24"), directRouting: false };
const nothingDirect: DirectLinkOf = () => undefined;

/** The desired state as the text `ip`/`bridge` would be given, plus the skipped peers. */
function show(view: VtepView, peers: Peer[], direct: DirectLinkOf = nothingDirect) {
  const state = vxlanDesiredState(view, peers, direct);
  return {
    neighbours: state.neighbours.map((n) => `${formatIp(n.ip)} lladdr ${n.lladdr} dev ${n.device}`),
    fdb: state.fdb.map((f) => `${f.mac} dst ${formatIp(f.dst)} dev ${f.device}`),
    routes: state.routes.map((r) => `${formatCidr(r.dst)} via ${formatIp(r.gateway)} dev ${r.device}${r.onlink === true ? " onlink" : ""}`),
    skipped: state.errors.map((e) => [e.code, e.details.peer]),
  };
}

describe("vxlanDesiredState", () => {
  test("per peer: a permanent neighbour, an FDB entry to its PublicIP and an onlink route", () => {
    assert.deepEqual(show(v4, [peer(2), peer(3)]), {
      neighbours: ["10.244.2.0 lladdr 0a:00:00:00:00:02 dev flannel.1", "10.244.3.0 lladdr 0a:00:00:00:00:03 dev flannel.1"],
      fdb: ["0a:00:00:00:00:02 dst 198.18.0.2 dev flannel.1", "0a:00:00:00:00:03 dst 198.18.0.3 dev flannel.1"],
      routes: ["10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink", "10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink"],
      skipped: [],
    });
  });

  test("no peers, nothing wanted", () => {
    assert.deepEqual(show(v4, []), { neighbours: [], fdb: [], routes: [], skipped: [] });
  });

  test("this node's own subnet is never a peer", () => {
    assert.deepEqual(show(v4, [peer(1), peer(2)]).routes, ["10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink"]);
  });

  test("a peer with unusable backend data is skipped with an error, the others are programmed", () => {
    const result = show(v4, [peer(2, "nope"), peer(3), { ...peer(4), backendData: undefined }]);
    assert.deepEqual(result.routes, ["10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink"]);
    assert.deepEqual(result.skipped, [["lease-invalid", "10.244.2.0/24"], ["lease-invalid", "10.244.4.0/24"]]);
  });

  test("a second peer claiming the same VTEP MAC is skipped", () => {
    const result = show(v4, [peer(2, "0a:00:00:00:00:02"), peer(3, "0a:00:00:00:00:02")]);
    assert.deepEqual(result.fdb, ["0a:00:00:00:00:02 dst 198.18.0.2 dev flannel.1"]);
    assert.deepEqual(result.skipped, [["lease-invalid", "10.244.3.0/24"]]);
  });

  test("a peer without an IPv4 public address (Flannel's 0.0.0.0) or with an overlapping subnet is skipped", () => {
    const result = show(v4, [peer(2, undefined, { publicIP: ip("0.0.0.0") }), peer(3), peer(4, undefined, { subnet: cidr("10.244.3.128/25") }), peer(5, undefined, { subnet: cidr("10.244.1.0/25") })]);
    assert.deepEqual(result.routes, ["10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink"]);
    assert.deepEqual(result.skipped.map(([, p]) => p), ["10.244.2.0/24", "10.244.3.128/25", "10.244.1.0/25"]);
  });

  test("of overlapping peer subnets the first wins, whichever side the later one lies on", () => {
    const result = show(v4, [peer(3), peer(4), peer(9, undefined, { subnet: cidr("10.244.0.0/22") }), peer(5, undefined, { subnet: cidr("10.244.4.0/24") }), peer(6)]);
    assert.deepEqual(result.routes, ["10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink", "10.244.4.0/24 via 10.244.4.0 dev flannel.1 onlink", "10.244.6.0/24 via 10.244.6.0 dev flannel.1 onlink"]);
    assert.deepEqual(result.skipped.map(([, p]) => p), ["10.244.0.0/22", "10.244.4.0/24"]);
  });

  test("DirectRouting: a directly reachable peer gets only a route via its PublicIP on that link", () => {
    const direct: DirectLinkOf = (address) => (formatIp(address) === "198.18.0.2" ? "eth0" : undefined);
    assert.deepEqual(show({ ...v4, directRouting: true }, [peer(2), peer(3)], direct), {
      neighbours: ["10.244.3.0 lladdr 0a:00:00:00:00:03 dev flannel.1"],
      fdb: ["0a:00:00:00:00:03 dst 198.18.0.3 dev flannel.1"],
      routes: ["10.244.2.0/24 via 198.18.0.2 dev eth0", "10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink"],
      skipped: [],
    });
  });

  test("DirectRouting needs no backend data for a direct peer; without DirectRouting the predicate is not asked", () => {
    const everything: DirectLinkOf = () => "eth0";
    assert.deepEqual(show({ ...v4, directRouting: true }, [peer(2, "nope")], everything).routes, ["10.244.2.0/24 via 198.18.0.2 dev eth0"]);
    assert.deepEqual(show(v4, [peer(2)], everything).routes, ["10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink"]);
  });

  test("IPv6 uses the v6 subnet, PublicIPv6 and BackendV6Data on flannel-v6.<VNI>, and skips v4-only peers", () => {
    const v6: VtepView = { family: 6, device: "flannel-v6.1", ownSubnet: cidr("fd00:1::/64"), directRouting: false };
    const dual: Peer = { ...peer(2), subnetV6: cidr("fd00:2::/64"), publicIPv6: ip("2001:db8::2"), backendV6Data: { VNI: 1, VtepMAC: "0a:00:00:00:06:02" } };
    assert.deepEqual(show(v6, [dual, peer(3)]), {
      neighbours: ["fd00:2:: lladdr 0a:00:00:00:06:02 dev flannel-v6.1"],
      fdb: ["0a:00:00:00:06:02 dst 2001:db8::2 dev flannel-v6.1"],
      routes: ["fd00:2::/64 via fd00:2:: dev flannel-v6.1 onlink"],
      skipped: [],
    });
  });
});

function route(dst: string, fields: Partial<KernelRoute> = {}): KernelRoute {
  return { dst: cidr(dst), type: "unicast", gateway: undefined, device: "eth0", onlink: false, scope: "global", protocol: "boot", metric: undefined, ...fields };
}

describe("DirectRouting reachability from the main table", () => {
  const table = [
    route("0.0.0.0/0", { gateway: ip("198.18.0.254") }),
    route("198.18.0.0/24", { protocol: "kernel", scope: "link" }),
    route("198.18.0.128/25", { gateway: ip("198.18.0.254"), metric: 10 }),
    route("198.18.0.128/25", { device: "eth1", metric: 5, protocol: "kernel" }),
    route("203.0.113.0/24", { type: "blackhole", device: undefined }),
  ];
  const cases: [string, string | undefined][] = [
    ["198.18.0.2", "eth0"], //       on the connected /24
    ["198.18.0.200", "eth1"], //     the longer /25 wins, the lower metric among equals
    ["192.0.2.7", undefined], //     only the default route: through a gateway
    ["203.0.113.5", undefined], //   a blackhole is no way to a peer; the default route has a gateway
  ];
  for (const [address, expected] of cases) {
    test(`${address} → ${expected ?? "through a gateway"}`, () => assert.equal(directLinkFromRoutes(table)(ip(address)), expected));
  }

  test("no route at all means not reachable", () => {
    assert.equal(bestRoute([], ip("198.18.0.2")), undefined);
    assert.equal(directLinkFromRoutes([])(ip("198.18.0.2")), undefined);
  });
});

function vxlanLink(fields: Partial<NonNullable<KernelLink["vxlan"]>> = {}, link: Partial<KernelLink> = {}): KernelLink {
  return {
    name: "flannel.1",
    index: 9,
    mtu: 1450,
    mac: undefined,
    operState: "UNKNOWN",
    flags: ["UP"],
    up: true,
    kind: "vxlan",
    vxlan: {
      id: 1,
      local: ip("198.18.0.1"),
      group: undefined,
      underlay: { name: "eth0", index: 2 },
      port: 8472,
      learning: false,
      gbp: false,
      proxy: false,
      rsc: false,
      l2miss: false,
      l3miss: false,
      ttl: 0,
      tos: 0,
      ...fields,
    },
    ...link,
  };
}

describe("vtepIncompatibility (Flannel's rule for adopting an existing device)", () => {
  const spec: VtepSpec = { name: "flannel.1", vni: 1, underlay: { name: "eth0", index: 2, mtu: 1500 }, local: ip("198.18.0.1"), learning: false, port: 0, gbp: false, mtu: 1450 };
  const cases: [string, KernelLink, Partial<VtepSpec>, string | undefined][] = [
    ["the device Flannel would create", vxlanLink(), {}, undefined],
    ["learning and MTU are not compared", vxlanLink({ learning: true }, { mtu: 1300 }), {}, undefined],
    ["Port 0 accepts any port", vxlanLink({ port: 4789 }), {}, undefined],
    ["a given port must match", vxlanLink({ port: 4789 }), { port: 8472 }, "port 4789"],
    ["an unset local address is a wildcard", vxlanLink({ local: undefined }), {}, undefined],
    ["an unknown underlay is a wildcard", vxlanLink({ underlay: undefined }), {}, undefined],
    ["another kind of link", vxlanLink({}, { kind: "bridge", vxlan: undefined }), {}, "link type bridge"],
    ["another VNI", vxlanLink({ id: 2 }), {}, "vni 2"],
    ["another underlay", vxlanLink({ underlay: { name: "eth1", index: 3 } }), {}, "vtep (external) interface eth1"],
    ["another local address", vxlanLink({ local: ip("198.18.0.9") }), {}, "vtep (external) IP 198.18.0.9"],
    ["l2miss on", vxlanLink({ l2miss: true }), {}, "l2miss"],
    ["gbp differs", vxlanLink({ gbp: true }), {}, "gbp true"],
  ];
  for (const [name, link, changes, expected] of cases) {
    test(`${name}: ${expected ?? "compatible"}`, () => assert.equal(vtepIncompatibility(link, { ...spec, ...changes }), expected));
  }
});

describe("vtepAddressPlan", () => {
  const address = (text: string, prefixLength: number): LinkAddress => ({
    ip: ip(text),
    prefixLength,
    scope: text.startsWith("fe80") ? "link" : "global",
    flags: { permanent: true, deprecated: false, temporary: false, secondary: false, tentative: false, dadFailed: false, optimistic: false, noDad: false, manageTempAddr: false, noPrefixRoute: false },
  });
  const plan = (addresses: LinkAddress[], own: string) => {
    const result = vtepAddressPlan(addresses, ip(own));
    return { addOwn: result.addOwn, remove: result.remove.map((a) => `${formatIp(a.ip)}/${a.prefixLength}`) };
  };

  test("adds <subnet address>/32 to a bare device", () => assert.deepEqual(plan([], "10.244.1.0"), { addOwn: true, remove: [] }));
  test("keeps the device as it is when right", () => {
    assert.deepEqual(plan([address("10.244.1.0", 32), address("fe80::1", 64)], "10.244.1.0"), { addOwn: false, remove: [] });
  });
  test("removes any other address of the family, also the own one with another prefix, and leaves link-local and the other family", () => {
    assert.deepEqual(plan([address("10.244.7.0", 32), address("10.244.1.0", 24), address("192.0.2.1", 24), address("fd00::1", 64), address("fe80::1", 64)], "10.244.1.0"), {
      addOwn: true,
      remove: ["10.244.7.0/32", "10.244.1.0/24", "192.0.2.1/24"],
    });
  });
  test("IPv6: <v6 subnet address>/128, other non-link-local addresses removed", () => {
    assert.deepEqual(plan([address("fd00:1::", 128), address("fd00:9::", 128), address("fe80::1", 64)], "fd00:1::"), { addOwn: false, remove: ["fd00:9::/128"] });
  });
});

describe("which kernel entries are flannel's to delete as stale", () => {
  const network = cidr("10.244.0.0/16");
  const cases: [string, KernelRoute, boolean][] = [
    ["an onlink peer route on the VTEP", route("10.244.9.0/24", { device: "flannel.1", gateway: ip("10.244.9.0"), onlink: true }), true],
    ["an old whole-network route on the VTEP", route("10.244.0.0/16", { device: "flannel.1", scope: "link" }), true],
    ["a direct route on the external link", route("10.244.9.0/24", { gateway: ip("198.18.0.9") }), true],
    ["cni0's connected route", route("10.244.1.0/24", { device: "cni0", protocol: "kernel", scope: "link" }), false],
    ["a connected route on the external link inside the network", route("10.244.200.0/24", { protocol: "kernel", scope: "link" }), false],
    ["a route outside the cluster network", route("192.0.2.0/24", { gateway: ip("198.18.0.254") }), false],
    ["the default route", route("0.0.0.0/0", { gateway: ip("198.18.0.254") }), false],
    ["a route on another link", route("10.244.9.0/24", { device: "eth1", gateway: ip("192.0.2.9") }), false],
    ["a blackhole for the own subnet", route("10.244.1.0/24", { type: "blackhole", device: undefined }), false],
  ];
  for (const [name, candidate, expected] of cases) {
    test(`${name}: ${expected ? "flannel's" : "not flannel's"}`, () => assert.equal(isVxlanRoute(candidate, "flannel.1", "eth0", network), expected));
  }

  const neighbours = neighbourEntryKind(network);
  const neighbour = (address: string, state: string[]) => ({ ip: ip(address), lladdr: undefined, state, device: "flannel.1" });
  test("neighbours: permanent ones inside the network only", () => {
    assert.equal(neighbours.owned(neighbour("10.244.9.0", ["PERMANENT"])), true);
    assert.equal(neighbours.owned(neighbour("10.244.9.0", ["STALE"])), false);
    assert.equal(neighbours.owned(neighbour("192.0.2.9", ["PERMANENT"])), false);
  });

  const fdb = (mac: string, fields: Partial<DeviceFdbEntry> = {}): DeviceFdbEntry => ({ mac: parseMac(mac)!, dst: ip("198.18.0.9"), self: true, permanent: true, device: "flannel.1", ...fields });
  test("FDB entries: permanent unicast self entries with a remote only", () => {
    assert.equal(fdbEntryKind.owned(fdb("0a:00:00:00:00:09")), true);
    assert.equal(fdbEntryKind.owned(fdb("0a:00:00:00:00:09", { permanent: false })), false, "learned");
    assert.equal(fdbEntryKind.owned(fdb("00:00:00:00:00:00")), false, "the default (flooding) remote");
    assert.equal(fdbEntryKind.owned(fdb("01:00:5e:00:00:01")), false, "multicast");
    assert.equal(fdbEntryKind.owned(fdb("0a:00:00:00:00:09", { dst: undefined })), false);
  });
});
