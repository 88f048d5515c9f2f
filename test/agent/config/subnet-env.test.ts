// subnet.env: Flannel's exact bytes on write, atomic replacement, and the CNI plugin's parsing
// rules on read (including the restart hints flanneld takes from an old file).
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { isFlannelError } from "../../../backends/errors.ts";
import { formatCidr, formatIp, parseCidr, type Cidr } from "../../../backends/net/ip.ts";
import {
  formatSubnetEnv,
  parseSubnetEnv,
  readPreviousSubnetEnv,
  readSubnetEnv,
  writeSubnetEnv,
} from "../../../agent/config/subnet-env.ts";

const cidr = (text: string): Cidr => parseCidr(text)!;
const scratch = mkdtempSync(join(tmpdir(), "flannel-ts-subnet-env-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe("formatSubnetEnv writes Flannel's bytes", () => {
  test("IPv4: Flannel's dist/sample_subnet.env exactly", () => {
    const text = formatSubnetEnv({ network: cidr("10.1.0.0/16"), subnet: cidr("10.1.74.0/24"), mtu: 1472, ipMasq: false });
    assert.equal(text, "FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.74.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n");
  });

  test("dual-stack: the four CIDR keys in Flannel's order, v6 gateway is subnet + 1", () => {
    const text = formatSubnetEnv({
      network: cidr("10.42.0.0/16"),
      subnet: cidr("10.42.0.0/24"),
      ipv6Network: cidr("2001:cafe:42::/56"),
      ipv6Subnet: cidr("2001:cafe:42::/64"),
      mtu: 1450,
      ipMasq: true,
    });
    assert.equal(
      text,
      "FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=10.42.0.1/24\n" +
        "FLANNEL_IPV6_NETWORK=2001:cafe:42::/56\nFLANNEL_IPV6_SUBNET=2001:cafe:42::1/64\n" +
        "FLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
    );
  });

  test("IPv6 only: no FLANNEL_NETWORK / FLANNEL_SUBNET lines", () => {
    const text = formatSubnetEnv({ ipv6Network: cidr("2001:cafe:22::/56"), ipv6Subnet: cidr("2001:cafe:22:5::/64"), mtu: 1400, ipMasq: false });
    assert.equal(text, "FLANNEL_IPV6_NETWORK=2001:cafe:22::/56\nFLANNEL_IPV6_SUBNET=2001:cafe:22:5::1/64\nFLANNEL_MTU=1400\nFLANNEL_IPMASQ=false\n");
  });
});

describe("writeSubnetEnv", () => {
  test("creates the parent directory 0755 and the file 0644 whatever the umask", async () => {
    const file = join(scratch, "deep", "run", "flannel", "subnet.env");
    const oldUmask = process.umask(0o077);
    try {
      await writeSubnetEnv(file, { network: cidr("10.5.0.0/16"), subnet: cidr("10.5.72.0/24"), mtu: 1450, ipMasq: true });
    } finally {
      process.umask(oldUmask);
    }
    assert.equal(statSync(file).mode & 0o777, 0o644);
    assert.equal(statSync(join(scratch, "deep", "run", "flannel")).mode & 0o777, 0o755);
    assert.equal(readFileSync(file, "utf8"), "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.72.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n");
  });

  test("replaces the file atomically: a concurrent reader only ever sees a whole old or new file", async () => {
    const file = join(scratch, "atomic.env");
    const versions = [1, 2].map((n) => ({ network: cidr("10.5.0.0/16"), subnet: cidr(`10.5.${n}.0/24`), mtu: 1450, ipMasq: false }));
    const wholeFiles = new Set(versions.map(formatSubnetEnv));
    await writeSubnetEnv(file, versions[0]!);
    let writing = true;
    const seen = new Set<string>();
    const reader = (async () => {
      while (writing) seen.add(await readFile(file, "utf8"));
    })();
    for (let i = 0; i < 200; i++) await writeSubnetEnv(file, versions[i % 2]!);
    writing = false;
    await reader;
    for (const content of seen) assert.ok(wholeFiles.has(content), `reader saw a partial file: ${JSON.stringify(content)}`);
    assert.equal(seen.size, 2, "the reader should have seen both versions");
  });

  test("an unwritable location is a subnet-env-io error naming the file", async () => {
    const blocker = join(scratch, "not-a-directory");
    writeFileSync(blocker, "x");
    const file = join(blocker, "subnet.env");
    await assert.rejects(
      writeSubnetEnv(file, { network: cidr("10.5.0.0/16"), subnet: cidr("10.5.1.0/24"), mtu: 1450, ipMasq: false }),
      (error) => isFlannelError(error, "subnet-env-io") && error.message.includes(file),
    );
  });

  test("a failed rename leaves no temporary file behind", async () => {
    const directory = join(scratch, "rename-fails");
    const file = join(directory, "subnet.env");
    mkdirSync(join(file, "occupied"), { recursive: true }); // a non-empty directory where the file should go
    await assert.rejects(
      writeSubnetEnv(file, { network: cidr("10.5.0.0/16"), subnet: cidr("10.5.1.0/24"), mtu: 1450, ipMasq: false }),
      (error) => isFlannelError(error, "subnet-env-io"),
    );
    assert.deepEqual(readdirSync(directory), ["subnet.env"]);
  });
});

describe("parseSubnetEnv reads as the flannel CNI plugin does", () => {
  test("round trip of what flanneld writes; FLANNEL_SUBNET gives gateway and masked subnet", () => {
    const env = parseSubnetEnv("FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.74.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n", "f");
    assert.deepEqual(env.networks.map(formatCidr), ["10.1.0.0/16"]);
    assert.equal(formatIp(env.subnet!.gateway), "10.1.74.1");
    assert.equal(formatCidr(env.subnet!.cidr), "10.1.74.0/24");
    assert.equal(env.mtu, 1472);
    assert.equal(env.ipMasq, false);
    assert.equal(env.ipv6Subnet, undefined);
  });

  test("comma-separated network lists, duplicates dropped; unknown lines and lines without '=' ignored", () => {
    const env = parseSubnetEnv(
      "# written by hand\nFOO=bar\nFLANNEL_NETWORK=10.1.0.0/16,10.2.0.0/16,10.1.0.0/16\nFLANNEL_IPV6_NETWORK=fd00::/48\n" +
        "FLANNEL_IPV6_SUBNET=fd00:0:0:7::1/64\nFLANNEL_MTU=1400\nFLANNEL_IPMASQ=true\n",
      "f",
    );
    assert.deepEqual(env.networks.map(formatCidr), ["10.1.0.0/16", "10.2.0.0/16"]);
    assert.deepEqual(env.ipv6Networks.map(formatCidr), ["fd00::/48"]);
    assert.equal(formatCidr(env.ipv6Subnet!.cidr), "fd00:0:0:7::/64");
    assert.equal(env.subnet, undefined);
    assert.equal(env.ipMasq, true);
  });

  test("FLANNEL_IPMASQ is true only for the exact text 'true'", () => {
    for (const [value, expected] of [["true", true], ["True", false], ["1", false], ["", false]] as const) {
      const env = parseSubnetEnv(`FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=${value}\n`, "f");
      assert.equal(env.ipMasq, expected, `FLANNEL_IPMASQ=${value}`);
    }
  });

  test("missing groups are listed together, in the plugin's words", () => {
    assert.throws(
      () => parseSubnetEnv("FLANNEL_MTU=1450\n", "/run/flannel/subnet.env"),
      (error) =>
        isFlannelError(error, "subnet-env-invalid") &&
        error.message === "/run/flannel/subnet.env is missing FLANNEL_NETWORK, FLANNEL_IPV6_NETWORK, FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET, FLANNEL_IPMASQ",
    );
    assert.throws(
      () => parseSubnetEnv("FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n", "s.env"),
      (error) => isFlannelError(error, "subnet-env-invalid") && error.message === "s.env is missing FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET",
    );
  });

  for (const [line, key] of [
    ["FLANNEL_SUBNET=10.1.1.1", "FLANNEL_SUBNET"],
    ["FLANNEL_SUBNET=10.1.1.300/24", "FLANNEL_SUBNET"],
    ["FLANNEL_NETWORK=10.1.0.0/16,bogus", "FLANNEL_NETWORK"],
    ["FLANNEL_MTU=-1", "FLANNEL_MTU"],
    ["FLANNEL_MTU=1450x", "FLANNEL_MTU"],
  ] as const) {
    test(`a bad value is an error naming the key: ${line}`, () => {
      const base: Record<string, string> = {
        FLANNEL_NETWORK: "10.1.0.0/16",
        FLANNEL_SUBNET: "10.1.1.1/24",
        FLANNEL_MTU: "1450",
        FLANNEL_IPMASQ: "false",
      };
      const [name, value] = line.split(/=(.*)/s) as [string, string];
      base[name] = value;
      const text = Object.entries(base).map(([k, v]) => `${k}=${v}`).join("\n");
      assert.throws(
        () => parseSubnetEnv(text, "f"),
        (error) => isFlannelError(error, "subnet-env-invalid") && error.details.key === key && error.message.includes(value),
      );
    });
  }

  test("readSubnetEnv: a missing file is a subnet-env-io error naming it", async () => {
    const file = join(scratch, "absent.env");
    await assert.rejects(readSubnetEnv(file), (error) => isFlannelError(error, "subnet-env-io") && error.message.includes(file));
  });
});

describe("readPreviousSubnetEnv (flanneld's restart hints)", () => {
  test("takes single values, masked; a list of more than one entry means no hint", async () => {
    const file = join(scratch, "previous.env");
    writeFileSync(file, "FLANNEL_NETWORK=10.1.0.0/16,10.9.0.0/16\nFLANNEL_SUBNET=10.1.74.1/24\nFLANNEL_IPV6_SUBNET=fd00:0:0:7::1/64\nFLANNEL_MTU=1450\n");
    const hints = await readPreviousSubnetEnv(file);
    assert.equal(hints.network, undefined);
    assert.equal(formatCidr(hints.subnet!), "10.1.74.0/24");
    assert.equal(formatCidr(hints.ipv6Subnet!), "fd00:0:0:7::/64");
    assert.equal(hints.ipv6Network, undefined);
  });

  test("a missing or garbled file gives no hints and no error", async () => {
    assert.deepEqual(await readPreviousSubnetEnv(join(scratch, "nope.env")), {});
    const file = join(scratch, "garbled.env");
    writeFileSync(file, "FLANNEL_SUBNET=not-a-cidr\n\0\0\0");
    assert.deepEqual(await readPreviousSubnetEnv(file), {});
  });
});
