// Reading `ethtool -k` listings (backends/kernel/ethtool.ts): every "name: on|off" line, with its
// [fixed] and [requested …] annotations, in the text form every ethtool release prints.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isFlannelError } from "../../../backends/errors.ts";
import { parseFeatures } from "../../../backends/kernel/ethtool.ts";

// ethtool 6.1 on a vxlan device after `-K flannel.1 tx-checksum-ip-generic off` (trimmed).
const listing = `Features for flannel.1:
rx-checksumming: on
tx-checksumming: off
\ttx-checksum-ipv4: off [fixed]
\ttx-checksum-ip-generic: off
\ttx-checksum-ipv6: off [fixed]
scatter-gather: on
\ttx-scatter-gather: on
tcp-segmentation-offload: on
\ttx-tcp-segmentation: off [requested on]
large-receive-offload: off [fixed]
`;

describe("parseFeatures", () => {
  const argv = ["ethtool", "-k", "flannel.1"];
  test("reads each feature's state and whether it is fixed", () => {
    const features = parseFeatures(argv, listing);
    assert.deepEqual(features.get("tx-checksum-ip-generic"), { active: false, fixed: false });
    assert.deepEqual(features.get("tx-checksum-ipv4"), { active: false, fixed: true });
    assert.deepEqual(features.get("rx-checksumming"), { active: true, fixed: false });
    assert.deepEqual(features.get("tx-tcp-segmentation"), { active: false, fixed: false });
    assert.equal(features.has("Features for flannel.1"), false);
    assert.equal(features.size, 10);
  });
  test("output without a single feature line is an error naming the command", () => {
    assert.throws(() => parseFeatures(argv, "something else\n"), (error) => isFlannelError(error, "kernel-output-invalid") && error.message.includes("ethtool -k flannel.1"));
  });
});
