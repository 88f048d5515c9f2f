// Interface and public-IP selection against real links, addresses and routes inside network
// namespaces. The production query runs unchanged; only its CommandRunner differs: it prefixes
// every command with `ip netns exec NS`, so the selection sees the test namespace.
import assert from "node:assert/strict";
import { describe, test, type TestContext } from "node:test";
import {
  selectExternalInterface,
  type ExternalInterface,
  type InterfaceSelectionRequest,
} from "../../../agent/config/interface.ts";
import { isFlannelError } from "../../../backends/errors.ts";
import { execCommandRunner, KernelCommandError, type CommandRunner } from "../../../backends/kernel/command-runner.ts";
import { createLinkQuery, type AddressFlags, type LinkQuery } from "../../../backends/kernel/link-query.ts";
import { formatIp, parseIp, type IpAddress } from "../../../backends/net/ip.ts";
import { createNamespace, type Namespace } from "../../support/netns.ts";
import { needsRoot } from "../../support/root.ts";

function inNamespace(name: string): CommandRunner {
  return (argv, options) => execCommandRunner(["ip", "netns", "exec", name, ...argv], options);
}

function request(overrides: Partial<InterfaceSelectionRequest> = {}): InterfaceSelectionRequest {
  return { iface: [], ifaceRegex: [], ifaceCanReach: "", publicIp: "", publicIpv6: "", enableIPv4: true, enableIPv6: false, ...overrides };
}

const text = (ip: IpAddress | undefined): string | undefined => (ip === undefined ? undefined : formatIp(ip));

/** The result with addresses as text, for readable assertions. */
function summary(result: ExternalInterface): Record<string, unknown> {
  return {
    name: result.name,
    ifaceAddr: text(result.ifaceAddr),
    ifaceV6Addr: text(result.ifaceV6Addr),
    extAddr: text(result.extAddr),
    extV6Addr: text(result.extV6Addr),
  };
}

interface Node {
  readonly ns: Namespace;
  readonly query: LinkQuery;
  /** Adds a veth pair NAME / pNAME (both up, both in this namespace). */
  veth(name: string): Promise<void>;
  ip(...args: string[]): Promise<void>;
}

/** A fresh namespace, removed when the test ends whatever its outcome. */
async function node(t: TestContext): Promise<Node> {
  const ns = await createNamespace("if");
  t.after(() => ns.remove());
  // No automatic IPv6 link-local addresses: every address a test sees is one it added.
  await ns.exec(["sysctl", "-qw", "net.ipv6.conf.default.addr_gen_mode=1"]);
  const ip = async (...args: string[]): Promise<void> => {
    await ns.ip(...args);
  };
  return {
    ns,
    query: createLinkQuery(inNamespace(ns.name)),
    ip,
    veth: async (name) => {
      await ip("link", "add", "name", name, "type", "veth", "peer", "name", `p${name}`);
      await ip("link", "set", name, "up");
      await ip("link", "set", `p${name}`, "up");
    },
  };
}

/** Two uplinks: ea 198.18.1.1/24 (+ fd00:198:18:1::1/64), eb 198.18.2.1/24 (+ fd00:198:18:2::1/64). */
async function twoUplinks(t: TestContext): Promise<Node> {
  const n = await node(t);
  for (const [name, i] of [["ea", 1], ["eb", 2]] as const) {
    await n.veth(name);
    await n.ip("addr", "add", `198.18.${i}.1/24`, "dev", name);
    await n.ip("addr", "add", `fd00:198:18:${i}::1/64`, "dev", name, "nodad");
  }
  return n;
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<Error & { details: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isFlannelError(error), `expected a FlannelError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error as Error & { details: Record<string, unknown> };
  }
  assert.fail(`expected a rejection with ${code}`);
}

describe("selectExternalInterface in a namespace", { skip: needsRoot }, () => {
  describe("without --iface flags", () => {
    test("uses the interface of the IPv4 default route", async (t) => {
      const n = await twoUplinks(t);
      await n.ip("route", "add", "default", "via", "198.18.2.254", "dev", "eb");
      const result = await selectExternalInterface(request(), n.query);
      assert.deepEqual(summary(result), { name: "eb", ifaceAddr: "198.18.2.1", ifaceV6Addr: undefined, extAddr: "198.18.2.1", extV6Addr: undefined });
    });

    test("uses the interface of the IPv6 default route when only IPv6 is enabled", async (t) => {
      const n = await twoUplinks(t);
      await n.ip("route", "add", "default", "via", "198.18.1.254", "dev", "ea");
      await n.ip("-6", "route", "add", "default", "via", "fd00:198:18:2::fe", "dev", "eb");
      const result = await selectExternalInterface(request({ enableIPv4: false, enableIPv6: true }), n.query);
      assert.deepEqual(summary(result), {
        name: "eb",
        ifaceAddr: undefined,
        ifaceV6Addr: "fd00:198:18:2::1",
        extAddr: undefined,
        extV6Addr: "fd00:198:18:2::1",
      });
    });

    test("dual-stack: uses the interface both default routes share, with an address of each family", async (t) => {
      const n = await twoUplinks(t);
      await n.ip("route", "add", "default", "via", "198.18.2.254", "dev", "eb");
      await n.ip("-6", "route", "add", "default", "via", "fd00:198:18:2::fe", "dev", "eb");
      const result = await selectExternalInterface(request({ enableIPv6: true }), n.query);
      assert.deepEqual(summary(result), {
        name: "eb",
        ifaceAddr: "198.18.2.1",
        ifaceV6Addr: "fd00:198:18:2::1",
        extAddr: "198.18.2.1",
        extV6Addr: "fd00:198:18:2::1",
      });
    });

    test("dual-stack: fails when the IPv4 and IPv6 default routes use different interfaces", async (t) => {
      const n = await twoUplinks(t);
      await n.ip("route", "add", "default", "via", "198.18.1.254", "dev", "ea");
      await n.ip("-6", "route", "add", "default", "via", "fd00:198:18:2::fe", "dev", "eb");
      const error = await rejectsWith(selectExternalInterface(request({ enableIPv6: true }), n.query), "interface-not-found");
      assert.match(error.message, /eb.*must be the same.*ea/);
    });

    test("fails when there is no default route", async (t) => {
      const n = await twoUplinks(t);
      const error = await rejectsWith(selectExternalInterface(request(), n.query), "interface-not-found");
      assert.match(error.message, /default IPv4 route/);
    });

    test("--public-ip alone selects the interface that owns it, not the default route's", async (t) => {
      const n = await twoUplinks(t);
      await n.ip("route", "add", "default", "via", "198.18.1.254", "dev", "ea");
      const result = await selectExternalInterface(request({ publicIp: "198.18.2.1" }), n.query);
      assert.deepEqual(summary(result), { name: "eb", ifaceAddr: "198.18.2.1", ifaceV6Addr: undefined, extAddr: "198.18.2.1", extV6Addr: undefined });
    });

    test("--public-ip alone fails when no local interface owns it (a NAT address needs --iface)", async (t) => {
      const n = await twoUplinks(t);
      await n.ip("route", "add", "default", "via", "198.18.1.254", "dev", "ea");
      const error = await rejectsWith(selectExternalInterface(request({ publicIp: "203.0.113.5" }), n.query), "interface-not-found");
      assert.deepEqual(error.details, { flag: "--public-ip", value: "203.0.113.5" });
    });

    test("--public-ipv6 alone selects its owner when only IPv6 is enabled", async (t) => {
      const n = await twoUplinks(t);
      const result = await selectExternalInterface(request({ enableIPv4: false, enableIPv6: true, publicIpv6: "fd00:198:18:1::1" }), n.query);
      assert.equal(result.name, "ea");
      assert.equal(text(result.extV6Addr), "fd00:198:18:1::1");
    });
  });

  describe("--iface", () => {
    test("selects an interface by name, over the default route's", async (t) => {
      const n = await twoUplinks(t);
      await n.ip("route", "add", "default", "via", "198.18.2.254", "dev", "eb");
      const result = await selectExternalInterface(request({ iface: ["ea"] }), n.query);
      assert.deepEqual(summary(result), { name: "ea", ifaceAddr: "198.18.1.1", ifaceV6Addr: undefined, extAddr: "198.18.1.1", extV6Addr: undefined });
    });

    test("selects the interface holding an IPv4 address, and uses that very address", async (t) => {
      const n = await twoUplinks(t);
      await n.ip("addr", "add", "198.18.22.7/24", "dev", "eb");
      const result = await selectExternalInterface(request({ iface: ["198.18.22.7"] }), n.query);
      assert.equal(result.name, "eb");
      assert.equal(text(result.ifaceAddr), "198.18.22.7");
      assert.equal(text(result.extAddr), "198.18.22.7");
    });

    test("selects the interface holding an IPv6 address", async (t) => {
      const n = await twoUplinks(t);
      await n.ip("addr", "add", "2001:db8:2::7/64", "dev", "eb", "nodad");
      const result = await selectExternalInterface(request({ enableIPv4: false, enableIPv6: true, iface: ["2001:db8:2::7"] }), n.query);
      assert.equal(result.name, "eb");
      assert.equal(text(result.ifaceV6Addr), "2001:db8:2::7");
      assert.equal(result.ifaceAddr, undefined);
    });

    test("dual-stack with an IPv6 --iface still gets the interface's IPv4 address", async (t) => {
      const n = await twoUplinks(t);
      const result = await selectExternalInterface(request({ enableIPv6: true, iface: ["fd00:198:18:2::1"] }), n.query);
      assert.deepEqual(summary(result), {
        name: "eb",
        ifaceAddr: "198.18.2.1",
        ifaceV6Addr: "fd00:198:18:2::1",
        extAddr: "198.18.2.1",
        extV6Addr: "fd00:198:18:2::1",
      });
    });

    test("moves on from values that fail (missing name, unknown IP, no IPv4 address) to the first that works", async (t) => {
      const n = await twoUplinks(t);
      await n.veth("ec"); // up, but without an IPv4 address
      const logged: Array<Record<string, unknown> | undefined> = [];
      const log = { info: (_message: string, fields?: Record<string, unknown>) => void logged.push(fields) };
      const result = await selectExternalInterface(request({ iface: ["nosuch0", "198.18.99.1", "ec", "eb", "ea"] }), n.query, { log });
      assert.equal(result.name, "eb");
      assert.deepEqual(
        logged.filter((fields) => fields?.flag === "--iface").map((fields) => fields?.value),
        ["nosuch0", "198.18.99.1", "ec"],
      );
    });

    test("--public-ip overrides the advertised address but not the interface address", async (t) => {
      const n = await twoUplinks(t);
      const result = await selectExternalInterface(request({ iface: ["ea"], publicIp: "203.0.113.5" }), n.query);
      assert.deepEqual(summary(result), { name: "ea", ifaceAddr: "198.18.1.1", ifaceV6Addr: undefined, extAddr: "203.0.113.5", extV6Addr: undefined });
    });

    test("reads the MTU from the link", async (t) => {
      const n = await twoUplinks(t);
      await n.ip("link", "set", "eb", "mtu", "1400");
      const eb = await selectExternalInterface(request({ iface: ["eb"] }), n.query);
      const ea = await selectExternalInterface(request({ iface: ["ea"] }), n.query);
      assert.equal(eb.mtu, 1400);
      assert.equal(ea.mtu, 1500);
      const links = await n.ns.ipJson<Array<{ ifname: string; ifindex: number }>>("link", "show", "eb");
      assert.equal(eb.index, links[0]?.ifindex);
    });
  });

  describe("--iface-regex", () => {
    test("matches an interface's IP before any interface name", async (t) => {
      const n = await node(t);
      // x2 comes first and its name matches "2"; xa does not, but its address does.
      await n.veth("x2");
      await n.ip("addr", "add", "198.18.3.1/24", "dev", "x2");
      await n.veth("xa");
      await n.ip("addr", "add", "198.18.31.1/24", "dev", "xa");
      await n.ip("addr", "add", "198.18.2.9/24", "dev", "xa");
      const result = await selectExternalInterface(request({ ifaceRegex: ["\\.2\\."] }), n.query);
      assert.equal(result.name, "xa");
      assert.equal(text(result.ifaceAddr), "198.18.2.9", "the matching address, not the interface's first");
    });

    test("matches an interface name when no IP matches", async (t) => {
      const n = await twoUplinks(t);
      const result = await selectExternalInterface(request({ ifaceRegex: ["^10\\.", "^e[b]$"] }), n.query);
      assert.equal(result.name, "eb");
      assert.equal(text(result.ifaceAddr), "198.18.2.1");
    });

    test("takes --iface first, then the regexes, and the first regex that works", async (t) => {
      const n = await twoUplinks(t);
      const result = await selectExternalInterface(request({ iface: ["nosuch0"], ifaceRegex: ["^198\\.18\\.1\\.", "^eb$"] }), n.query);
      assert.equal(result.name, "ea");
    });

    test("fails with Flannel's message, what was tried and the interfaces available", async (t) => {
      const n = await twoUplinks(t);
      const error = await rejectsWith(
        selectExternalInterface(request({ iface: ["nosuch0"], ifaceRegex: ["^nomatch$", "(unclosed"] }), n.query),
        "interface-not-found",
      );
      assert.match(error.message, /^Failed to find interface to use that matches the interfaces and\/or regexes provided/);
      assert.match(error.message, /nosuch0/);
      assert.match(error.message, /\^nomatch\$/);
      assert.match(error.message, /ea:\[198\.18\.1\.1\]/);
      assert.match(error.message, /eb:\[198\.18\.2\.1\]/);
      const tried = error.details.tried as Array<{ flag: string; value: string }>;
      assert.deepEqual(tried.map((attempt) => `${attempt.flag} ${attempt.value}`), ["--iface nosuch0", "--iface-regex ^nomatch$", "--iface-regex (unclosed"]);
      const available = error.details.available as Array<{ name: string; addresses: string[] }>;
      assert.deepEqual(available.find((link) => link.name === "eb")?.addresses, ["198.18.2.1"]);
    });
  });

  describe("--iface-can-reach", () => {
    test("uses the interface and preferred source the kernel routes the address through", async (t) => {
      const n = await twoUplinks(t);
      await n.ip("route", "add", "default", "via", "198.18.1.254", "dev", "ea");
      await n.ip("addr", "add", "198.18.2.9/24", "dev", "eb");
      await n.ip("route", "add", "203.0.113.0/24", "via", "198.18.2.254", "dev", "eb", "src", "198.18.2.9");
      const result = await selectExternalInterface(request({ ifaceCanReach: "203.0.113.77" }), n.query);
      assert.equal(result.name, "eb");
      assert.equal(text(result.ifaceAddr), "198.18.2.9", "the route's source, not the interface's first address");
    });

    test("fails when the address is unreachable", async (t) => {
      const n = await twoUplinks(t);
      const error = await rejectsWith(selectExternalInterface(request({ ifaceCanReach: "203.0.113.77" }), n.query), "interface-not-found");
      assert.match(error.message, /203\.0\.113\.77/);
    });
  });

  describe("usable addresses on a real link", () => {
    test("skips a deprecated address (preferred_lft 0)", async (t) => {
      const n = await node(t);
      await n.veth("ea");
      await n.ip("addr", "add", "198.18.4.1/24", "dev", "ea", "preferred_lft", "0");
      await n.ip("addr", "add", "198.18.5.1/24", "dev", "ea");
      const result = await selectExternalInterface(request({ iface: ["ea"] }), n.query);
      assert.equal(text(result.ifaceAddr), "198.18.5.1");
    });

    test("prefers the primary address over a secondary one of the same subnet", async (t) => {
      const n = await node(t);
      await n.veth("ea");
      await n.ip("addr", "add", "198.18.1.1/24", "dev", "ea");
      await n.ip("addr", "add", "198.18.1.2/24", "dev", "ea");
      const result = await selectExternalInterface(request({ iface: ["ea"] }), n.query);
      assert.equal(text(result.ifaceAddr), "198.18.1.1");
    });

    test("prefers a permanent address over an earlier dynamic one", async (t) => {
      const n = await node(t);
      await n.veth("ea");
      await n.ip("addr", "add", "198.18.6.1/24", "dev", "ea", "valid_lft", "600", "preferred_lft", "600");
      await n.ip("addr", "add", "198.18.7.1/24", "dev", "ea");
      const links = await n.query.listLinks();
      const ea = links.find((link) => link.name === "ea");
      assert.deepEqual(ea?.addresses.filter((a) => a.ip.family === 4).map((a) => [formatIp(a.ip), a.flags.permanent]), [
        ["198.18.6.1", false],
        ["198.18.7.1", true],
      ]);
      const result = await selectExternalInterface(request({ iface: ["ea"] }), n.query);
      assert.equal(text(result.ifaceAddr), "198.18.7.1");
    });

    test("uses a link-local address when it is all an interface has", async (t) => {
      const n = await node(t);
      await n.veth("ea");
      await n.ip("addr", "add", "169.254.7.1/16", "dev", "ea");
      await n.ip("addr", "add", "fe80::7/64", "dev", "ea", "nodad");
      const result = await selectExternalInterface(request({ enableIPv6: true, iface: ["ea"] }), n.query);
      assert.deepEqual(summary(result), {
        name: "ea",
        ifaceAddr: "169.254.7.1",
        ifaceV6Addr: "fe80::7",
        extAddr: "169.254.7.1",
        extV6Addr: "fe80::7",
      });
    });

    test("prefers a global address over a link-local one added before it", async (t) => {
      const n = await node(t);
      await n.veth("ea");
      await n.ip("addr", "add", "169.254.7.1/16", "dev", "ea");
      await n.ip("addr", "add", "198.18.8.1/24", "dev", "ea");
      const result = await selectExternalInterface(request({ iface: ["ea"] }), n.query);
      assert.equal(text(result.ifaceAddr), "198.18.8.1");
    });
  });
});

const plainAddressFlags: AddressFlags = {
  permanent: true,
  deprecated: false,
  temporary: false,
  secondary: false,
  tentative: false,
  dadFailed: false,
  optimistic: false,
  noDad: false,
  manageTempAddr: false,
  noPrefixRoute: false,
};

describe("selectExternalInterface input checks", () => {
  const noKernel: LinkQuery = {
    listLinks: () => Promise.reject(new Error("must not be called")),
    defaultRoute: () => Promise.reject(new Error("must not be called")),
    routeTo: () => Promise.reject(new Error("must not be called")),
  };

  test("rejects a --public-ip that is not an IPv4 address, naming the flag", async () => {
    const error = await rejectsWith(selectExternalInterface(request({ iface: ["eth0"], publicIp: "2001:db8::1" }), noKernel), "interface-invalid");
    assert.deepEqual(error.details, { flag: "--public-ip", value: "2001:db8::1" });
  });

  test("rejects a --public-ipv6 that does not parse", async () => {
    const error = await rejectsWith(selectExternalInterface(request({ publicIpv6: "fd00::zz" }), noKernel), "interface-invalid");
    assert.deepEqual(error.details, { flag: "--public-ipv6", value: "fd00::zz" });
  });

  test("rejects a configuration with neither family enabled", async () => {
    await rejectsWith(selectExternalInterface(request({ enableIPv4: false }), noKernel), "netconf-invalid");
  });

  test("rejects an MTU of 0", async () => {
    const query: LinkQuery = {
      ...noKernel,
      listLinks: async () => [
        {
          index: 2,
          name: "eth0",
          mtu: 0,
          flags: ["UP"],
          operState: "UP",
          addresses: [{ ip: parseIp("198.18.0.1")!, prefixLength: 24, scope: "global", flags: plainAddressFlags }],
        },
      ],
    };
    const error = await rejectsWith(selectExternalInterface(request({ publicIp: "198.18.0.1" }), query), "interface-invalid");
    assert.match(error.message, /MTU/);
  });

  test("stops at once when the signal is already aborted", async () => {
    await assert.rejects(selectExternalInterface(request(), noKernel, { signal: AbortSignal.abort() }), { name: "AbortError" });
  });
});

describe("link query output handling", () => {
  const printing = (stdout: string, code = 0, stderr = ""): CommandRunner => async () => ({ stdout, stderr, code });

  test("raises kernel-output-invalid naming the command when ip prints something else", async () => {
    const outputs = [
      "not json",
      '{"ifname":"x"}',
      '[{"ifname":"eth0","ifindex":2}]',
      '[{"ifname":"eth0","ifindex":2,"mtu":1500,"addr_info":[{"family":"inet","local":"nope","prefixlen":24}]}]',
    ];
    for (const stdout of outputs) {
      const error = await rejectsWith(createLinkQuery(printing(stdout)).listLinks(), "kernel-output-invalid");
      assert.match(error.message, /ip -json address show/);
    }
  });

  test("turns a non-zero exit into a KernelCommandError with argv, exit code and stderr", async () => {
    const query = createLinkQuery(printing("", 2, "RTNETLINK answers: Network is unreachable\n"));
    const error = await rejectsWith(query.routeTo({ family: 4, value: 0xcb007101n }), "kernel-command-failed");
    assert.ok(error instanceof KernelCommandError);
    assert.deepEqual(error.details, {
      argv: ["ip", "-json", "route", "get", "203.0.113.1"],
      exitCode: 2,
      stderr: "RTNETLINK answers: Network is unreachable\n",
    });
  });

  test("reads an empty route dump as no default route", async () => {
    assert.equal(await createLinkQuery(printing("")).defaultRoute(4), undefined);
    assert.equal(await createLinkQuery(printing("[]")).defaultRoute(6), undefined);
  });

  test("reports a default route without a device (unreachable, multipath) as such", async () => {
    const route = await createLinkQuery(printing('[{"type":"unreachable","dst":"default","flags":[]}]')).defaultRoute(4);
    assert.deepEqual(route, { type: "unreachable", device: undefined });
  });
});
