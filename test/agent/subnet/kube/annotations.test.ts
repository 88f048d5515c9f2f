// Node annotations in kube mode: Flannel's prefix rules (F:pkg/subnet/kube/annotations_test.go),
// what a node publishes and the patch that carries only what changed (kube-api.md §5.5), and
// what is read back at start (node-public-ip, VTEP MACs).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isFlannelError } from "../../../../backends/errors.ts";
import { formatIp, parseIp } from "../../../../backends/net/ip.ts";
import {
  annotationPatch,
  backendDataText,
  kubeAnnotations,
  nodeHintsFrom,
  storedVtepMac,
  wantedAnnotations,
} from "../../../../agent/subnet/kube/annotations.ts";
import type { LeaseAttrs } from "../../../../agent/subnet/manager.ts";

const p = "flannel.alpha.coreos.com/";
const names = kubeAnnotations("flannel.alpha.coreos.com");

describe("annotation prefix", () => {
  const accepted: Array<[string, string]> = [
    ["flannel.alpha.coreos.com", "flannel.alpha.coreos.com/kube-subnet-manager"],
    ["flannel.alpha.coreos.com/", "flannel.alpha.coreos.com/kube-subnet-manager"],
    ["flannel.alpha.coreos.com/prefix", "flannel.alpha.coreos.com/prefix-kube-subnet-manager"],
    ["flannel.alpha.coreos.com/prefix-", "flannel.alpha.coreos.com/prefix-kube-subnet-manager"],
    ["org.flannel", "org.flannel/kube-subnet-manager"],
    ["org.flannel/pre_fix", "org.flannel/pre_fix-kube-subnet-manager"],
    ["a.b.c.d.e", "a.b.c.d.e/kube-subnet-manager"],
    // Flannel's regexp is not anchored at the start: only the tail is checked.
    ["Flannel.Alpha.coreos.com", "Flannel.Alpha.coreos.com/kube-subnet-manager"],
  ];
  for (const [prefix, expected] of accepted) {
    test(`${JSON.stringify(prefix)} names the managed marker ${expected}`, () => {
      assert.equal(kubeAnnotations(prefix).kubeSubnetManager, expected);
    });
  }

  const refused: Array<[string, string]> = [
    ["flannel.alpha.coreos.com/prefix/", "prefix can contain at most single slash"],
    ["a/b/c", "prefix can contain at most single slash"],
    ["org", "prefix must be in a format: fqdn/[0-9a-z-_]*"],
    ["org/", "prefix must be in a format: fqdn/[0-9a-z-_]*"],
    ["flannel_org/prefix", "prefix must be in a format: fqdn/[0-9a-z-_]*"],
    ["org.flannel/-", "prefix must be in a format: fqdn/[0-9a-z-_]*"],
    ["org.flannel/Prefix", "prefix must be in a format: fqdn/[0-9a-z-_]*"],
    ["org.Flannel", "prefix must be in a format: fqdn/[0-9a-z-_]*"],
  ];
  for (const [prefix, message] of refused) {
    test(`${JSON.stringify(prefix)} is refused with "${message}"`, () => {
      assert.throws(
        () => kubeAnnotations(prefix),
        (error) => isFlannelError(error, "kube-config-invalid") && error.message.includes(`subnet/kube: ${message}`) && error.details.flag === "kube-annotation-prefix",
      );
    });
  }

  test("every name carries the normalised prefix", () => {
    const n = kubeAnnotations("example.com/x");
    assert.deepEqual(
      [n.backendType, n.backendData[4], n.backendData[6], n.publicIP[4], n.publicIP[6], n.publicIPOverwrite[4], n.publicIPOverwrite[6], n.nodePublicIP[4], n.nodePublicIP[6]],
      [
        "example.com/x-backend-type",
        "example.com/x-backend-data",
        "example.com/x-backend-v6-data",
        "example.com/x-public-ip",
        "example.com/x-public-ipv6",
        "example.com/x-public-ip-overwrite",
        "example.com/x-public-ipv6-overwrite",
        "example.com/x-node-public-ip",
        "example.com/x-node-public-ipv6",
      ],
    );
  });
});

const vxlanAttrs: LeaseAttrs = { publicIP: parseIp("198.18.0.1")!, backendType: "vxlan", backendData: { VNI: 1, VtepMAC: "9e:ce:eb:12:a5:35" } };

describe("published annotations and the patch", () => {
  test("a first vxlan start patches exactly Flannel's four annotations, sorted", () => {
    const patch = annotationPatch({}, wantedAnnotations(names, {}, vxlanAttrs));
    assert.equal(
      JSON.stringify(patch),
      '{"metadata":{"annotations":{"flannel.alpha.coreos.com/backend-data":"{\\"VNI\\":1,\\"VtepMAC\\":\\"9e:ce:eb:12:a5:35\\"}","flannel.alpha.coreos.com/backend-type":"vxlan","flannel.alpha.coreos.com/kube-subnet-manager":"true","flannel.alpha.coreos.com/public-ip":"198.18.0.1"}}}',
    );
  });

  test("nothing is patched when the node already publishes the same values", () => {
    const current = { ...wantedAnnotations(names, {}, vxlanAttrs), "node.alpha.kubernetes.io/ttl": "0" };
    assert.equal(annotationPatch(current, wantedAnnotations(names, current, vxlanAttrs)), undefined);
  });

  test("only the changed keys travel", () => {
    const current = wantedAnnotations(names, {}, vxlanAttrs);
    const moved = { ...vxlanAttrs, publicIP: parseIp("198.18.0.7")! };
    assert.deepEqual(annotationPatch(current, wantedAnnotations(names, current, moved)), { metadata: { annotations: { [`${p}public-ip`]: "198.18.0.7" } } });
  });

  test("host-gw publishes backend-data null", () => {
    const wanted = wantedAnnotations(names, {}, { publicIP: parseIp("10.0.0.1")!, backendType: "host-gw" });
    assert.equal(wanted[`${p}backend-data`], "null");
    assert.equal(wanted[`${p}public-ip`], "10.0.0.1");
    assert.equal(wanted[`${p}public-ipv6`], undefined);
  });

  test("public-ip-overwrite is what public-ip says", () => {
    const current = { [`${p}public-ip-overwrite`]: "203.0.113.5" };
    const wanted = wantedAnnotations(names, current, vxlanAttrs);
    assert.equal(wanted[`${p}public-ip`], "203.0.113.5");
    assert.equal(annotationPatch(current, wanted)?.metadata.annotations[`${p}public-ip-overwrite`], undefined, "the overwrite itself is never written");
  });

  test("dual-stack vxlan publishes the IPv6 pair, honouring public-ipv6-overwrite", () => {
    const attrs: LeaseAttrs = { ...vxlanAttrs, publicIPv6: parseIp("fd00::1")!, backendV6Data: { VNI: 1, VtepMAC: "aa:bb:cc:dd:ee:ff" } };
    const wanted = wantedAnnotations(names, {}, attrs);
    assert.equal(wanted[`${p}backend-v6-data`], '{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}');
    assert.equal(wanted[`${p}public-ipv6`], "fd00::1");
    assert.equal(wantedAnnotations(names, { [`${p}public-ipv6-overwrite`]: "fd00::99" }, attrs)[`${p}public-ipv6`], "fd00::99");
  });

  test("IPv6-only vxlan (no IPv4 data) leaves the IPv4 keys alone", () => {
    const attrs: LeaseAttrs = { publicIP: parseIp("0.0.0.0")!, publicIPv6: parseIp("fd00::1")!, backendType: "vxlan", backendV6Data: { VNI: 1, VtepMAC: "aa:bb:cc:dd:ee:ff" } };
    const wanted = wantedAnnotations(names, {}, attrs);
    assert.equal(wanted[`${p}backend-data`], undefined);
    assert.equal(wanted[`${p}public-ip`], undefined);
    assert.equal(wanted[`${p}public-ipv6`], "fd00::1");
  });

  test("backend data is compact JSON with Go's HTML escapes", () => {
    assert.equal(backendDataText({ a: "<&>" }), '{"a":"\\u003c\\u0026\\u003e"}');
    assert.equal(backendDataText(undefined), "null");
  });
});

describe("hints read back from the node", () => {
  test("the VTEP MAC is read from backend-data", () => {
    assert.equal(storedVtepMac('{"VNI":1,"VtepMAC":"12:c6:65:89:b4:e3"}'), "12:c6:65:89:b4:e3");
    assert.equal(storedVtepMac('{"VtepMAC":"12:C6:65:89:B4:E3","VNI":1}'), "12:c6:65:89:b4:e3");
    assert.equal(storedVtepMac("null"), undefined);
    assert.equal(storedVtepMac('{"VNI":1,"VtepMAC":"nonsense"}'), undefined);
    assert.equal(storedVtepMac("{not json"), undefined);
    assert.equal(storedVtepMac(undefined), undefined);
  });

  test("node-public-ip(v6) and both MACs become hints", () => {
    const hints = nodeHintsFrom(names, {
      [`${p}node-public-ip`]: "192.0.2.10",
      [`${p}node-public-ipv6`]: "2001:db8::10",
      [`${p}backend-data`]: '{"VNI":1,"VtepMAC":"12:c6:65:89:b4:e3"}',
      [`${p}backend-v6-data`]: '{"VNI":1,"VtepMAC":"22:aa:bb:cc:dd:ee"}',
    });
    assert.equal(formatIp(hints.publicIP!), "192.0.2.10");
    assert.equal(formatIp(hints.publicIPv6!), "2001:db8::10");
    assert.equal(hints.vtepMAC, "12:c6:65:89:b4:e3");
    assert.equal(hints.vtepMACv6, "22:aa:bb:cc:dd:ee");
    assert.deepEqual(nodeHintsFrom(names, {}), {});
  });

  test("an unparsable node-public-ip is refused, naming the annotation", () => {
    assert.throws(
      () => nodeHintsFrom(names, { [`${p}node-public-ip`]: "fd00::1" }),
      (error) => isFlannelError(error, "kube-node-invalid") && error.details.annotation === `${p}node-public-ip`,
    );
  });
});
