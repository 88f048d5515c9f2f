// flanneld flags + the pod's environment → kube manager options.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isFlannelError } from "../../../../backends/errors.ts";
import { parseFlanneldArgs } from "../../../../agent/config/flags.ts";
import { kubeManagerOptions } from "../../../../agent/subnet/kube/kube-options.ts";

const flags = parseFlanneldArgs(["--kube-subnet-mgr", "--kube-api-url=https://10.0.0.1:6443", "--kube-annotation-prefix=example.com/x"], {});

describe("kube manager options", () => {
  test("flags and NODE_NAME are carried over with Flannel's defaults", () => {
    const o = kubeManagerOptions(flags, { NODE_NAME: "n1" });
    assert.equal(o.apiUrl, "https://10.0.0.1:6443");
    assert.equal(o.annotationPrefix, "example.com/x");
    assert.equal(o.netConfigPath, "/etc/kube-flannel/net-conf.json");
    assert.equal(o.setNodeNetworkUnavailable, true);
    assert.equal(o.nodeName, "n1");
    assert.equal(o.eventQueueDepth, 5000);
    assert.equal(o.continueWhenCacheNotReady, false);
  });

  test("without NODE_NAME, POD_NAME and POD_NAMESPACE are needed", () => {
    assert.equal(kubeManagerOptions(flags, { POD_NAME: "p", POD_NAMESPACE: "kube-flannel" }).podName, "p");
    assert.throws(
      () => kubeManagerOptions(flags, { POD_NAME: "p" }),
      (error) => isFlannelError(error, "kube-config-invalid") && error.message === "env variables POD_NAME and POD_NAMESPACE must be set",
    );
  });

  test("EVENT_QUEUE_DEPTH must be a positive integer", () => {
    assert.equal(kubeManagerOptions(flags, { NODE_NAME: "n", EVENT_QUEUE_DEPTH: "12" }).eventQueueDepth, 12);
    assert.throws(() => kubeManagerOptions(flags, { NODE_NAME: "n", EVENT_QUEUE_DEPTH: "abc" }), (error) => isFlannelError(error, "kube-config-invalid") && error.message.startsWith("env EVENT_QUEUE_DEPTH=abc format error"));
  });

  test("CONT_WHEN_CACHE_NOT_READY is read as Go's ParseBool", () => {
    for (const [text, expected] of [["true", true], ["1", true], ["T", true], ["yes", false], ["", false]] as const) {
      assert.equal(kubeManagerOptions(flags, { NODE_NAME: "n", CONT_WHEN_CACHE_NOT_READY: text }).continueWhenCacheNotReady, expected, text);
    }
  });

  test("the in-cluster variables are picked up", () => {
    const o = kubeManagerOptions(flags, { NODE_NAME: "n", KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" });
    assert.equal(o.serviceHost, "10.96.0.1");
    assert.equal(o.servicePort, "443");
  });
});
