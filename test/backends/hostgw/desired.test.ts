// host-gw's desired routes, table-tested, and its refusal to run behind NAT (which it reaches
// before touching the kernel).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { LocalNode, Peer } from "../../../backends/backend.ts";
import { isFlannelError } from "../../../backends/errors.ts";
import { hostGwDesiredState, type HostGwView } from "../../../backends/hostgw/desired.ts";
import { createHostGwBackend, hostGwNatRefusal } from "../../../backends/hostgw/hostgw-backend.ts";
import type { Kernel } from "../../../backends/kernel/kernel.ts";
import { formatCidr, formatIp, parseCidr, parseIp, type Cidr, type IpAddress } from "../../../backends/net/ip.ts";
import { createMemoryLog } from "../../support/memory-log.ts";

const ip = (text: string): IpAddress => parseIp(text) ?? assert.fail(text);
const cidr = (text: string): Cidr => parseCidr(text) ?? assert.fail(text);

const peer = (n: number, extra: Partial<Peer> = {}): Peer => ({ subnet: cidr(`10.244.${n}.0/24`), publicIP: ip(`198.18.0.${n}`), backendType: "host-gw", ...extra });

function show(view: HostGwView, peers: Peer[]) {
  const state = hostGwDesiredState(view, peers);
  return {
    routes: state.routes.map((r) => `${formatCidr(r.dst)} via ${formatIp(r.gateway)} dev ${r.device}${r.onlink === true ? " onlink" : ""}`),
    skipped: state.errors.map((e) => e.details.peer),
  };
}

describe("hostGwDesiredState", () => {
  const v4: HostGwView = { family: 4, externalLink: "eth0", ownSubnet: cidr("10.244.1.0/24") };

  test("one route per peer via its PublicIP on the external link, no onlink", () => {
    assert.deepEqual(show(v4, [peer(2), peer(3)]), { routes: ["10.244.2.0/24 via 198.18.0.2 dev eth0", "10.244.3.0/24 via 198.18.0.3 dev eth0"], skipped: [] });
  });

  test("its own subnet is not a peer; a peer without a usable public address or subnet is skipped with an error", () => {
    assert.deepEqual(show(v4, [peer(1), peer(2, { publicIP: ip("0.0.0.0") }), peer(3), peer(4, { subnet: cidr("10.244.3.0/25") })]), {
      routes: ["10.244.3.0/24 via 198.18.0.3 dev eth0"],
      skipped: ["10.244.2.0/24", "10.244.3.0/25"],
    });
  });

  test("IPv6 routes via PublicIPv6; v4-only peers have no v6 route, a v6 subnet without PublicIPv6 is an error", () => {
    const v6: HostGwView = { family: 6, externalLink: "eth0", ownSubnet: cidr("fd00:1::/64") };
    const dual = peer(2, { subnetV6: cidr("fd00:2::/64"), publicIPv6: ip("2001:db8::2") });
    const noAddress = peer(4, { subnetV6: cidr("fd00:4::/64") });
    assert.deepEqual(show(v6, [dual, peer(3), noAddress]), { routes: ["fd00:2::/64 via 2001:db8::2 dev eth0"], skipped: ["fd00:4::/64"] });
  });
});

describe("host-gw prepare", () => {
  // A kernel that must not be touched: the refusal comes first.
  const untouchable = new Proxy({}, { get: () => assert.fail("the kernel was used") }) as Kernel;
  const local = (extAddr: string, ifaceAddr: string): LocalNode => ({
    link: { name: "eth0", index: 2, mtu: 1500 },
    ifaceAddr: ip(ifaceAddr),
    extAddr: ip(extAddr),
    network: cidr("10.244.0.0/16"),
    backendConfig: { Type: "host-gw" },
  });

  test("refuses a PublicIP that differs from the interface address, with Flannel's reason", async () => {
    const backend = createHostGwBackend({ kernel: untouchable, log: createMemoryLog() });
    await assert.rejects(backend.prepare(local("203.0.113.7", "198.18.0.1"), AbortSignal.timeout(5000)), (error) => {
      assert.ok(isFlannelError(error, "interface-invalid"));
      assert.equal(error.message, hostGwNatRefusal);
      assert.equal(error.message, "your PublicIP differs from interface IP, meaning that probably you're on a NAT, which is not supported by host-gw backend");
      return true;
    });
  });

  test("has no backend data and the external link's MTU", async () => {
    const backend = createHostGwBackend({ kernel: untouchable, log: createMemoryLog() });
    assert.deepEqual(await backend.prepare(local("198.18.0.1", "198.18.0.1"), AbortSignal.timeout(5000)), { mtu: 1500 });
  });
});
