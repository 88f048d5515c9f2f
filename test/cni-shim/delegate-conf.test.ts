// The delegate config is Flannel's, byte for byte (C:flannel_linux.go doCmdAdd/getDelegateIPAM and
// the expectations of C:flannel_linux_test.go): defaults, overrides from `delegate`, ipam merging,
// route normalisation through Go's types.Route, and Go's map serialisation.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseSubnetEnv } from "../../agent/config/subnet-env.ts";
import { parseFlannelNetConf } from "../../cni-shim/conf.ts";
import { buildDelegateConf, serialiseDelegateConf } from "../../cni-shim/delegate-conf.ts";
import { CniError } from "../../cni-shim/errors.ts";
import { goJson } from "../../cni-shim/go-json.ts";
import { delegateCniVersion } from "../../cni-shim/versions.ts";

const v4Env = "FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n";

function delegateBytes(conf: Record<string, unknown>, env = v4Env): string {
  const netConf = parseFlannelNetConf(conf as never, String(conf.name));
  return serialiseDelegateConf(buildDelegateConf(netConf, parseSubnetEnv(env, "/run/flannel/subnet.env")));
}

function delegateOf(conf: Record<string, unknown>, env = v4Env): Record<string, unknown> {
  return JSON.parse(delegateBytes(conf, env)) as Record<string, unknown>;
}

describe("the delegate config matches Flannel's", () => {
  test("Flannel's own test expectation, byte for byte (IPv4, no cniVersion)", () => {
    assert.equal(
      delegateBytes({ name: "cni-flannel", type: "flannel", subnetFile: "/x/subnet.env", dataDir: "/x/data" }),
      '{"ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.1.17.0/24"}]],"routes":[{"dst":"10.1.0.0/16"}],"type":"host-local"},' +
        '"isGateway":true,"mtu":1472,"name":"cni-flannel","type":"bridge"}',
    );
  });

  test("the standard cbr0 conflist adds cniVersion, hairpinMode and isDefaultGateway (reference §9.3)", () => {
    const conf = { cniVersion: "0.3.1", name: "cbr0", type: "flannel", delegate: { hairpinMode: true, isDefaultGateway: true } };
    assert.equal(
      delegateBytes(conf),
      '{"cniVersion":"0.3.1","hairpinMode":true,"ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.1.17.0/24"}]],"routes":[{"dst":"10.1.0.0/16"}],' +
        '"type":"host-local"},"isDefaultGateway":true,"isGateway":true,"mtu":1472,"name":"cbr0","type":"bridge"}',
    );
  });

  test("IPv6 only: one range set and the v6 network route", () => {
    const env = "FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:5::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n";
    const delegate = delegateOf({ name: "n", type: "flannel" }, env);
    assert.deepEqual(delegate.ipam, { ranges: [[{ subnet: "fd00:10:244:5::/64" }]], routes: [{ dst: "fd00:10:244::/56" }], type: "host-local" });
    assert.equal(delegate.ipMasq, true, "FLANNEL_IPMASQ=false: the bridge masquerades");
    assert.equal(delegate.mtu, 1450);
  });

  test("dual-stack: IPv4 range set first, then IPv6; v4 network routes before v6 ones", () => {
    const env =
      "FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=10.42.3.1/24\nFLANNEL_IPV6_NETWORK=2001:cafe:42::/56\n" +
      "FLANNEL_IPV6_SUBNET=2001:cafe:42:3::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n";
    assert.equal(
      serialiseDelegateConf(buildDelegateConf(parseFlannelNetConf({ name: "n" }, "n"), parseSubnetEnv(env, "f")).ipam as never),
      '{"ranges":[[{"subnet":"10.42.3.0/24"}],[{"subnet":"2001:cafe:42:3::/64"}]],' +
        '"routes":[{"dst":"10.42.0.0/16"},{"dst":"2001:cafe:42::/56"}],"type":"host-local"}',
    );
  });

  test("several networks (comma lists): one route each, duplicates dropped", () => {
    const env = "FLANNEL_NETWORK=10.1.0.0/16,10.2.0.0/16,10.1.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n";
    assert.deepEqual((delegateOf({ name: "n" }, env).ipam as Record<string, unknown>).routes, [{ dst: "10.1.0.0/16" }, { dst: "10.2.0.0/16" }]);
  });
});

describe("the delegate dictionary overrides the defaults", () => {
  test("ipMasq, mtu and isGateway given in `delegate` are kept", () => {
    const delegate = delegateOf({ name: "n", delegate: { ipMasq: true, mtu: 1400, isGateway: false } });
    assert.equal(delegate.ipMasq, true);
    assert.equal(delegate.mtu, 1400);
    assert.equal(delegate.isGateway, false);
  });

  test("a non-bridge type gets no isGateway, other keys pass through", () => {
    const delegate = delegateOf({ name: "n", delegate: { type: "ptp", someKey: { b: 1, a: [2] } } });
    assert.equal(delegate.type, "ptp");
    assert.equal("isGateway" in delegate, false);
    assert.deepEqual(delegate.someKey, { b: 1, a: [2] });
  });

  test("the conf's cniVersion wins over the delegate's; runtimeConfig is copied in", () => {
    const delegate = delegateOf({ cniVersion: "0.4.0", name: "n", runtimeConfig: { bandwidth: { ingressRate: 1 } }, delegate: { cniVersion: "0.2.0", runtimeConfig: { x: 1 } } });
    assert.equal(delegate.cniVersion, "0.4.0");
    assert.deepEqual(delegate.runtimeConfig, { bandwidth: { ingressRate: 1 } });
  });

  test("a null value in `delegate` counts as present, as Go's hasKey does", () => {
    assert.equal(delegateOf({ name: "n", delegate: { mtu: null } }).mtu, null);
  });

  test("a 1.1.0 request gives the delegate 1.0.0, which the Debian bridge supports", () => {
    assert.equal(delegateCniVersion("1.1.0"), "1.0.0");
    assert.equal(delegateCniVersion("1.0.0"), "1.0.0");
    assert.equal(delegateCniVersion("0.3.1"), "0.3.1");
    const conf = parseFlannelNetConf({ cniVersion: "1.1.0", name: "n" }, "n");
    const delegate = buildDelegateConf(conf, parseSubnetEnv(v4Env, "f"), delegateCniVersion(conf.cniVersion));
    assert.equal(delegate.cniVersion, "1.0.0");
  });
});

describe("ipam merging (Flannel's ipam tests)", () => {
  test("a custom ipam type is kept, extra keys pass through, ranges are replaced", () => {
    const ipam = delegateOf({ name: "n", ipam: { type: "my-ipam", dataDir: "/d", ranges: [[{ subnet: "192.168.0.0/24" }]] } }).ipam;
    assert.deepEqual(ipam, { dataDir: "/d", ranges: [[{ subnet: "10.1.17.0/24" }]], routes: [{ dst: "10.1.0.0/16" }], type: "my-ipam" });
  });

  test("conf routes come first, normalised as Go's types.Route writes them (field order, zero values dropped)", () => {
    const routes = [
      { dst: "192.168.1.7/24", gw: "10.1.17.254" }, // host bits kept: types.ParseCIDR keeps the address
      { table: 100, dst: "2001:DB8::/64", mtu: 0, priority: 5, unknown: "dropped" },
      { DST: "172.16.0.0/12", scope: 0 }, // Go matches keys case-insensitively; a *int 0 is kept
    ];
    const bytes = delegateBytes({ name: "n", ipam: { routes } });
    assert.match(
      bytes,
      /"routes":\[\{"dst":"192\.168\.1\.7\/24","gw":"10\.1\.17\.254"\},\{"dst":"2001:db8::\/64","priority":5,"table":100\},\{"dst":"172\.16\.0\.0\/12","scope":0\},\{"dst":"10\.1\.0\.0\/16"\}\]/,
    );
  });

  test("a route that Go cannot decode is an invalid network config (code 7)", () => {
    for (const routes of [[{ dst: "not-a-cidr" }], [{ dst: "10.0.0.0/8", gw: "x" }], [{ dst: "10.0.0.0/8", mtu: 1.5 }], { dst: "10.0.0.0/8" }, ["x"]]) {
      assert.throws(
        () => delegateBytes({ name: "n", ipam: { routes } }),
        (error: unknown) => error instanceof CniError && error.code === 7 && /failed to parse ipam\.routes/.test(error.message),
        JSON.stringify(routes),
      );
    }
  });
});

describe("Go's json.Marshal of a map", () => {
  test("keys sorted at every level, arrays kept in order, compact", () => {
    assert.equal(goJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } }), '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  });

  test("a Map is a struct: written in insertion order", () => {
    assert.equal(goJson(new Map<string, number>([["z", 1], ["a", 2]])), '{"z":1,"a":2}');
  });

  test("HTML-significant characters and U+2028/U+2029 are escaped as Go does", () => {
    assert.equal(goJson({ k: "<a&b>\u2028\u2029\"\\\n" }), '{"k":"\\u003ca\\u0026b\\u003e\\u2028\\u2029\\"\\\\\\n"}');
  });

  test("numbers print as Go prints float64", () => {
    assert.equal(goJson([1472, 1.5, 1e21, 1e-7, 0.000001, -3]), "[1472,1.5,1e+21,1e-7,0.000001,-3]");
  });
});
