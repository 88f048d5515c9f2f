// deploy/kubernetes/kube-flannel.yml, checked offline: every object against its Kubernetes
// schema (kubernetes-models), the RBAC rules against flanneld's calls, and the ConfigMap against
// the product's own readers (net-conf.json, the CNI config), so a manifest that the product would
// refuse or misread fails here. The DaemonSet has its own file, daemonset.test.ts.
import assert from "node:assert/strict";
import { posix } from "node:path";
import { describe, test } from "node:test";
import { parseFlanneldArgs } from "../../../agent/config/flags.ts";
import { parseNetConf } from "../../../agent/config/net-conf.ts";
import { formatCidr } from "../../../backends/net/ip.ts";
import { supportedBackendTypes } from "../../../backends/registry.ts";
import { decodeVxlanOptions, defaultVxlanOptions } from "../../../backends/vxlan/options.ts";
import { checkDelegateDictionary, defaultSubnetFile, parseFlannelNetConf } from "../../../cni-shim/conf.ts";
import { decodeNetworkConfig } from "../../../cni-shim/request.ts";
import { isJsonObject, type JsonObject } from "../../../cni-shim/go-json.ts";
import {
  configMapData,
  containerEnvironment,
  containerNamed,
  loadFlannelManifest,
  loadManifestDocuments,
  loadManifestDocumentsAsKubectl,
  mountFor,
  podSpecOf,
  required,
  validateDocument,
  volumeNamed,
} from "./manifest.ts";

const manifest = loadFlannelManifest();
const spec = podSpecOf(manifest);
const flanneld = containerNamed(spec, "kube-flannel");

/** Flannel's cbr0 conflist (flannel-reference §9.6), the content a Flannel user has on every node. */
const flannelConflist = {
  name: "cbr0",
  cniVersion: "0.3.1",
  plugins: [
    { type: "flannel", delegate: { hairpinMode: true, isDefaultGateway: true } },
    { type: "portmap", capabilities: { portMappings: true } },
  ],
};

const options = parseFlanneldArgs(flanneld.args ?? [], containerEnvironment(flanneld));

describe("kube-flannel.yml: objects and schemas", () => {
  test("holds Flannel's six objects in Flannel's order, each valid for its kind's schema", () => {
    const kinds = manifest.documents.map((d) => `${(d as { kind: string }).kind}/${(d as { metadata: { name: string } }).metadata.name}`);
    assert.deepEqual(kinds, [
      "Namespace/kube-flannel",
      "ClusterRole/flannel",
      "ClusterRoleBinding/flannel",
      "ServiceAccount/flannel",
      "ConfigMap/kube-flannel-cfg",
      "DaemonSet/kube-flannel-ds",
    ]);
  });

  test("the schema check is live: a DaemonSet without its selector, or with hostNetwork as a string, is refused", () => {
    const daemonSet = structuredClone(manifest.daemonSet) as unknown as { spec: Record<string, unknown> & { template: { spec: Record<string, unknown> } } };
    const noSelector = structuredClone(daemonSet);
    delete noSelector.spec.selector;
    assert.throws(() => validateDocument(noSelector), /selector/);
    const badType = structuredClone(daemonSet);
    badType.spec.template.spec.hostNetwork = "yes";
    assert.throws(() => validateDocument(badType), /hostNetwork/);
  });

  test("reads the same under kubectl's YAML 1.1 rules as under YAML 1.2 (no unquoted yes/on/octal)", () => {
    assert.deepEqual(loadManifestDocumentsAsKubectl(), loadManifestDocuments());
  });

  test("everything lives in namespace kube-flannel, which admits privileged pods", () => {
    assert.equal(manifest.namespace.metadata?.name, "kube-flannel");
    assert.equal(manifest.namespace.metadata?.labels?.["pod-security.kubernetes.io/enforce"], "privileged");
    for (const object of [manifest.serviceAccount, manifest.configMap, manifest.daemonSet]) {
      assert.equal(object.metadata?.namespace, "kube-flannel", `${object.kind} ${object.metadata?.name}`);
    }
  });
});

describe("kube-flannel.yml: RBAC", () => {
  test("the ClusterRole grants exactly flanneld's calls: get pods; get/list/watch nodes; patch nodes/status", () => {
    const grants = new Set<string>();
    for (const rule of manifest.clusterRole.rules ?? []) {
      assert.equal(rule.resourceNames, undefined, "no rule is limited to names");
      assert.equal(rule.nonResourceURLs, undefined, "no non-resource URLs");
      for (const group of rule.apiGroups ?? []) {
        for (const resource of rule.resources ?? []) for (const verb of rule.verbs) grants.add(`${group}|${resource}|${verb}`);
      }
    }
    assert.deepEqual([...grants].sort(), ["|nodes/status|patch", "|nodes|get", "|nodes|list", "|nodes|watch", "|pods|get"]);
  });

  test("the binding gives that role to the ServiceAccount the DaemonSet's pods run as", () => {
    const binding = manifest.clusterRoleBinding;
    assert.deepEqual(binding.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: manifest.clusterRole.metadata?.name });
    assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: manifest.serviceAccount.metadata?.name, namespace: manifest.serviceAccount.metadata?.namespace }]);
    assert.equal(spec.serviceAccountName, manifest.serviceAccount.metadata?.name);
    assert.equal(manifest.daemonSet.metadata?.namespace, manifest.serviceAccount.metadata?.namespace);
  });
});

describe("kube-flannel.yml: the ConfigMap", () => {
  test("net-conf.json is read by flanneld's own parser: Network 10.244.0.0/16, vxlan with its defaults, iptables", () => {
    const conf = parseNetConf(configMapData(manifest, "net-conf.json"));
    assert.equal(formatCidr(required(conf.ipv4.network, "Network")), "10.244.0.0/16");
    assert.equal(conf.ipv4.enabled, true);
    assert.equal(conf.ipv6.enabled, false);
    assert.equal(conf.enableNFTables, false);
    assert.equal(conf.backendType, "vxlan");
    assert.ok((supportedBackendTypes as readonly string[]).includes(conf.backendType));
    assert.deepEqual(decodeVxlanOptions(conf.backend?.value), defaultVxlanOptions);
  });

  test("cni-conf.json is Flannel's cbr0 conflist, member for member", () => {
    assert.deepEqual(JSON.parse(configMapData(manifest, "cni-conf.json")), flannelConflist);
  });

  test("the flannel entry, as a runtime hands it to the plugin, passes the plugin's config checks", () => {
    const list = JSON.parse(configMapData(manifest, "cni-conf.json")) as { name: string; cniVersion: string; plugins: JsonObject[] };
    const entry = required(list.plugins.find((plugin) => plugin.type === "flannel"), "flannel plugin entry");
    // libcni injects the list's name and cniVersion into each plugin's config.
    const raw: JsonObject = { ...entry, name: list.name, cniVersion: list.cniVersion };
    const network = decodeNetworkConfig(raw);
    const conf = parseFlannelNetConf(network.raw, network.name);
    assert.ok(isJsonObject(conf.delegate));
    checkDelegateDictionary(conf.delegate);
    // The plugin reads subnet.env where flanneld writes it: both default to the same path, and
    // the agent's directory is the host's (the hostPath volume is mounted at the same path).
    assert.equal(conf.subnetFile, defaultSubnetFile);
    assert.equal(options.subnetFile, conf.subnetFile);
    const { volume, subPath } = mountFor(flanneld, options.subnetFile);
    assert.equal(posix.join(required(volumeNamed(spec, volume).hostPath, `${volume} hostPath`).path, subPath), conf.subnetFile);
  });
});
