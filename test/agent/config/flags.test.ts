// flanneld's flags and FLANNELD_* variables: Flannel's defaults (reference §2.1), Go flag syntax,
// the environment rules of §2.2, and the checks flannel-ts adds on top (named in each test).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isFlannelError, type FlannelErrorCode } from "../../../backends/errors.ts";
import {
  environmentVariableName,
  flanneldFlags,
  formatHelp,
  parseFlanneldArgs,
  type FlagErrorDetails,
  type FlanneldOptions,
} from "../../../agent/config/flags.ts";

const parse = (argv: readonly string[], env: Record<string, string | undefined> = {}): FlanneldOptions =>
  parseFlanneldArgs(argv, env);

function assertFlagError(
  run: () => unknown,
  code: FlannelErrorCode,
  details: Partial<FlagErrorDetails>,
  ...messageParts: string[]
): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(isFlannelError(error, code), `expected FlannelError ${code}, got ${String(error)}`);
    for (const [key, value] of Object.entries(details)) {
      assert.deepEqual((error.details as Record<string, unknown>)[key], value, `details.${key}`);
    }
    for (const part of messageParts) assert.ok(error.message.includes(part), `message ${JSON.stringify(error.message)} lacks ${JSON.stringify(part)}`);
    return true;
  });
}

// Every flag taken from the environment: Flannel's default (written out here from §2.1, not
// read from the table under test), a sample value and what that value resolves to.
interface FlagCase {
  readonly flag: string;
  readonly field: keyof FlanneldOptions;
  readonly flannelDefault: unknown;
  readonly sample: string;
  readonly resolved: unknown;
  /** How --help shows the default when not as JSON/String (durations: Go's "10s"). */
  readonly shownDefault?: string;
}
const flagCases: readonly FlagCase[] = [
  { flag: "etcd-endpoints", field: "etcdEndpoints", flannelDefault: ["http://127.0.0.1:4001", "http://127.0.0.1:2379"],
    sample: "https://10.0.0.1:2379,https://10.0.0.2:2379", resolved: ["https://10.0.0.1:2379", "https://10.0.0.2:2379"] },
  { flag: "etcd-prefix", field: "etcdPrefix", flannelDefault: "/coreos.com/network", sample: "/lab/network", resolved: "/lab/network" },
  { flag: "etcd-keyfile", field: "etcdKeyfile", flannelDefault: "", sample: "/pki/client.key", resolved: "/pki/client.key" },
  { flag: "etcd-certfile", field: "etcdCertfile", flannelDefault: "", sample: "/pki/client.crt", resolved: "/pki/client.crt" },
  { flag: "etcd-cafile", field: "etcdCafile", flannelDefault: "", sample: "/pki/ca.crt", resolved: "/pki/ca.crt" },
  { flag: "etcd-username", field: "etcdUsername", flannelDefault: "", sample: "flannel", resolved: "flannel" },
  { flag: "etcd-password", field: "etcdPassword", flannelDefault: "", sample: "s3cret", resolved: "s3cret" },
  { flag: "kube-subnet-mgr", field: "kubeSubnetMgr", flannelDefault: false, sample: "true", resolved: true },
  { flag: "kube-api-url", field: "kubeApiUrl", flannelDefault: "", sample: "https://10.96.0.1:443", resolved: "https://10.96.0.1:443" },
  { flag: "kubeconfig-file", field: "kubeconfigFile", flannelDefault: "", sample: "/etc/kubeconfig", resolved: "/etc/kubeconfig" },
  { flag: "kube-annotation-prefix", field: "kubeAnnotationPrefix", flannelDefault: "flannel.alpha.coreos.com",
    sample: "flannel.example.com", resolved: "flannel.example.com" },
  { flag: "net-config-path", field: "netConfigPath", flannelDefault: "/etc/kube-flannel/net-conf.json",
    sample: "/etc/flannel/net.json", resolved: "/etc/flannel/net.json" },
  { flag: "set-node-network-unavailable", field: "setNodeNetworkUnavailable", flannelDefault: true, sample: "false", resolved: false },
  { flag: "iface", field: "iface", flannelDefault: [], sample: "eth1", resolved: ["eth1"] },
  { flag: "iface-regex", field: "ifaceRegex", flannelDefault: [], sample: "^en[op]", resolved: ["^en[op]"] },
  { flag: "iface-can-reach", field: "ifaceCanReach", flannelDefault: "", sample: "10.0.0.1", resolved: "10.0.0.1" },
  { flag: "public-ip", field: "publicIp", flannelDefault: "", sample: "192.0.2.10", resolved: "192.0.2.10" },
  { flag: "public-ipv6", field: "publicIpv6", flannelDefault: "", sample: "2001:db8::10", resolved: "2001:db8::10" },
  { flag: "subnet-file", field: "subnetFile", flannelDefault: "/run/flannel/subnet.env", sample: "/tmp/subnet.env", resolved: "/tmp/subnet.env" },
  { flag: "subnet-lease-renew-margin", field: "subnetLeaseRenewMargin", flannelDefault: 60, sample: "30", resolved: 30 },
  { flag: "ip-masq", field: "ipMasq", flannelDefault: false, sample: "1", resolved: true },
  { flag: "ip-masq-fully-random-disable", field: "ipMasqFullyRandomDisable", flannelDefault: false, sample: "T", resolved: true },
  { flag: "iptables-resync", field: "iptablesResync", flannelDefault: 5, sample: "10", resolved: 10 },
  { flag: "iptables-forward-rules", field: "iptablesForwardRules", flannelDefault: true, sample: "F", resolved: false },
  { flag: "ip-blackhole-route", field: "ipBlackholeRoute", flannelDefault: false, sample: "TRUE", resolved: true },
  { flag: "healthz-ip", field: "healthzIp", flannelDefault: "0.0.0.0", sample: "127.0.0.1", resolved: "127.0.0.1" },
  { flag: "healthz-port", field: "healthzPort", flannelDefault: 0, sample: "8081", resolved: 8081 },
  { flag: "v", field: "verbosity", flannelDefault: 0, sample: "4", resolved: 4 },
  { flag: "vmodule", field: "vmodule", flannelDefault: "", sample: "vxlan=4,main=2", resolved: "vxlan=4,main=2" },
  { flag: "vxlan-tx-checksum-offload", field: "vxlanTxChecksumOffload", flannelDefault: "auto", sample: "off", resolved: "off" },
  { flag: "peer-probe-interval", field: "peerProbeInterval", flannelDefault: 10_000, sample: "1m30s", resolved: 90_000, shownDefault: "10s" },
  { flag: "peer-probe-unreachable-after", field: "peerProbeUnreachableAfter", flannelDefault: 30_000, sample: "45s", resolved: 45_000, shownDefault: "30s" },
  { flag: "log_backtrace_at", field: "logBacktraceAt", flannelDefault: "", sample: "main.go:120", resolved: "main.go:120" },
];
const actionFlags = ["help", "version", "check-config"];
const boolFlags = new Set(flanneldFlags.filter((spec) => spec.kind === "bool").map((spec) => spec.name));

describe("flanneld flags: defaults", () => {
  test("the table holds exactly Flannel's flags, klog's three and --check-config", () => {
    const expected = [...flagCases.map((c) => c.flag), ...actionFlags].sort();
    assert.deepEqual(flanneldFlags.map((spec) => spec.name).sort(), expected);
  });

  for (const c of flagCases) {
    test(`--${c.flag} defaults to ${JSON.stringify(c.flannelDefault)} as in Flannel`, () => {
      assert.deepEqual(parse([])[c.field], c.flannelDefault);
    });
  }

  test("--help, --version and --check-config default to false", () => {
    const options = parse([]);
    assert.deepEqual([options.help, options.version, options.checkConfig], [false, false, false]);
  });

  test("the result is frozen, lists included", () => {
    const options = parse(["--iface=eth0"]);
    assert.ok(Object.isFrozen(options) && Object.isFrozen(options.iface) && Object.isFrozen(options.etcdEndpoints));
  });

  test("it reads only the environment it is given, never process.env", () => {
    process.env.FLANNELD_IFACE = "from-process-env";
    try {
      assert.deepEqual(parse([], {}).iface, []);
    } finally {
      delete process.env.FLANNELD_IFACE;
    }
  });
});

describe("flanneld flags: Go flag syntax", () => {
  for (const c of flagCases.filter((c) => !boolFlags.has(c.flag))) {
    test(`--${c.flag} is read in all four forms: -name v, --name v, -name=v, --name=v`, () => {
      for (const argv of [[`-${c.flag}`, c.sample], [`--${c.flag}`, c.sample], [`-${c.flag}=${c.sample}`], [`--${c.flag}=${c.sample}`]]) {
        assert.deepEqual(parse(argv)[c.field], c.resolved, argv.join(" "));
      }
    });
  }

  for (const c of flagCases.filter((c) => boolFlags.has(c.flag))) {
    test(`--${c.flag} is set by the bare flag and cleared only by an explicit false`, () => {
      for (const argv of [[`-${c.flag}`], [`--${c.flag}`], [`--${c.flag}=true`]]) assert.equal(parse(argv)[c.field], true, argv.join(" "));
      for (const argv of [[`-${c.flag}=false`], [`--${c.flag}=0`]]) assert.equal(parse(argv)[c.field], false, argv.join(" "));
    });
  }

  test("booleans take exactly Go's strconv.ParseBool spellings", () => {
    for (const text of ["1", "t", "T", "TRUE", "true", "True"]) assert.equal(parse([`--ip-masq=${text}`]).ipMasq, true, text);
    for (const text of ["0", "f", "F", "FALSE", "false", "False"]) {
      assert.equal(parse([`--iptables-forward-rules=${text}`]).iptablesForwardRules, false, text);
    }
    for (const text of ["yes", "no", "on", "tRUE", " true", ""]) {
      assertFlagError(() => parse([`--ip-masq=${text}`]), "flag-invalid",
        { flag: "ip-masq", value: text, source: "command line", stage: "parse" }, `invalid boolean value ${JSON.stringify(text)} for -ip-masq`);
    }
  });

  test("a boolean never consumes the next argument: `--ip-masq false` leaves a positional \"false\"", () => {
    assertFlagError(() => parse(["--ip-masq", "false"]), "flag-invalid", { arguments: ["false"] }, '"false"');
  });

  test("a value flag takes the next argument even when it starts with a dash, as Go does", () => {
    const options = parse(["--iface", "--ip-masq"]);
    assert.deepEqual([options.iface, options.ipMasq], [["--ip-masq"], false]);
  });

  test("--iface and --iface-regex accumulate in the order given; other flags keep the last value", () => {
    const options = parse(["--iface", "eth0", "-iface=10.0.0.5", "--iface-regex", "^en", "--iface", "bond0", "-iface-regex=^wl",
      "--etcd-prefix=/a", "--etcd-prefix=/b", "--ip-masq", "--ip-masq=false"]);
    assert.deepEqual(options.iface, ["eth0", "10.0.0.5", "bond0"]);
    assert.deepEqual(options.ifaceRegex, ["^en", "^wl"]);
    assert.equal(options.etcdPrefix, "/b");
    assert.equal(options.ipMasq, false);
  });

  test("--etcd-endpoints is split on commas exactly like Go's strings.Split, empty pieces kept", () => {
    assert.deepEqual(parse(["--etcd-endpoints=http://a:2379"]).etcdEndpoints, ["http://a:2379"]);
    assert.deepEqual(parse(["--etcd-endpoints=http://a:2379,,http://b:2379"]).etcdEndpoints, ["http://a:2379", "", "http://b:2379"]);
  });

  test("integers follow Go's flag.Int: base prefixes and digit separators, nothing else", () => {
    const accepted: [string, number][] = [["60", 60], ["+60", 60], ["0x3c", 60], ["0X3C", 60], ["074", 60], ["0o74", 60],
      ["0b111100", 60], ["6_0", 60], ["0x_3c", 60]];
    for (const [text, value] of accepted) assert.equal(parse([`--subnet-lease-renew-margin=${text}`]).subnetLeaseRenewMargin, value, text);
    const rejected = ["5s", "1.5", "", " 5", "5 ", "0x", "08", "_60", "60_", "6__0", "1e3", "sixty"];
    for (const text of rejected) {
      assertFlagError(() => parse(["--iptables-resync", text]), "flag-invalid",
        { flag: "iptables-resync", value: text, source: "command line", stage: "parse" },
        `invalid value ${JSON.stringify(text)} for flag -iptables-resync: parse error`);
    }
    assertFlagError(() => parse(["--healthz-port=9223372036854775808"]), "flag-invalid", { stage: "parse" }, "value out of range");
  });

  test("-v is klog's level: plain decimal int32", () => {
    assert.equal(parse(["-v=2"]).verbosity, 2);
    assert.equal(parse(["-v", "10"]).verbosity, 10);
    assertFlagError(() => parse(["-v=0x2"]), "flag-invalid", { flag: "v" }, "parse error");
    assertFlagError(() => parse(["-v=2147483648"]), "flag-invalid", { flag: "v" }, "value out of range");
  });

  test("-vmodule and -log_backtrace_at are accepted as text", () => {
    const options = parse(["-vmodule=vxlan=4", "-log_backtrace_at", "main.go:12"]);
    assert.deepEqual([options.vmodule, options.logBacktraceAt], ["vxlan=4", "main.go:12"]);
  });

  test("-h, -help and --help ask for the usage text; --version and --check-config are plain booleans", () => {
    for (const argv of [["-h"], ["-help"], ["--help"]]) assert.equal(parse(argv).help, true, argv.join(" "));
    assert.equal(parse(["--version"]).version, true);
    assert.equal(parse(["--check-config"]).checkConfig, true);
  });

  test("an unknown flag is refused with Go's message and its name", () => {
    assertFlagError(() => parse(["--ip-masq", "--bogus"]), "flag-unknown",
      { flag: "bogus", value: undefined, source: "command line", stage: "parse" }, "flag provided but not defined: -bogus");
    assertFlagError(() => parse(["-bogus=1"]), "flag-unknown", { flag: "bogus", value: "1" }, "-bogus");
    // Flannel copies only -v, -vmodule and -log_backtrace_at from klog.
    assertFlagError(() => parse(["-logtostderr"]), "flag-unknown", { flag: "logtostderr" });
  });

  test("a flag without its value is refused, naming the flag", () => {
    assertFlagError(() => parse(["--iface"]), "flag-invalid", { flag: "iface", source: "command line", stage: "parse" },
      "flag needs an argument: -iface");
    assertFlagError(() => parse(["--ip-masq", "-etcd-endpoints"]), "flag-invalid", { flag: "etcd-endpoints" }, "-etcd-endpoints");
  });

  test("malformed flags are refused as Go does (bad flag syntax)", () => {
    for (const arg of ["---iface", "-=eth0", "--=eth0"]) {
      assertFlagError(() => parse([arg]), "flag-invalid", { source: "command line", stage: "parse" }, `bad flag syntax: ${arg}`);
    }
  });

  // Flannel ignores positional arguments; flanneld takes none, so flannel-ts refuses them: a
  // stray word usually means a flag lost its dashes or a bool was given its value with a space.
  test("positional arguments are refused, naming them (Flannel would silently ignore them)", () => {
    assertFlagError(() => parse(["eth0"]), "flag-invalid", { arguments: ["eth0"], source: "command line", stage: "parse" }, '"eth0"');
    assertFlagError(() => parse(["--iface", "eth0", "extra", "--ip-masq"]), "flag-invalid", { arguments: ["extra", "--ip-masq"] },
      '"extra" "--ip-masq"');
    assertFlagError(() => parse(["--", "--ip-masq"]), "flag-invalid", { arguments: ["--ip-masq"] });
    assertFlagError(() => parse(["-"]), "flag-invalid", { arguments: ["-"] });
  });

  test("a lone -- just ends the flags", () => {
    assert.equal(parse(["--ip-masq", "--"]).ipMasq, true);
  });
});

describe("flanneld flags: FLANNELD_* environment", () => {
  test("the variable name is FLANNELD_ + the flag upper-cased with - turned into _", () => {
    const names: [string, string][] = [["etcd-endpoints", "FLANNELD_ETCD_ENDPOINTS"], ["ip-masq", "FLANNELD_IP_MASQ"],
      ["iface", "FLANNELD_IFACE"], ["v", "FLANNELD_V"], ["log_backtrace_at", "FLANNELD_LOG_BACKTRACE_AT"]];
    for (const [flag, variable] of names) assert.equal(environmentVariableName(flag), variable);
  });

  for (const c of flagCases) {
    const variable = environmentVariableName(c.flag);
    test(`${variable} sets --${c.flag}`, () => {
      assert.deepEqual(parse([], { [variable]: c.sample })[c.field], c.resolved);
    });
  }

  test("a flag on the command line beats its variable, even when the flag says false", () => {
    const env = { FLANNELD_IFACE: "eth0", FLANNELD_IP_MASQ: "true", FLANNELD_HEALTHZ_PORT: "junk", FLANNELD_ETCD_PREFIX: "/env" };
    const options = parse(["--iface=eth9", "--ip-masq=false", "--healthz-port=8081"], env);
    assert.deepEqual(options.iface, ["eth9"]);
    assert.equal(options.ipMasq, false);
    assert.equal(options.healthzPort, 8081); // the bad variable is never even read
    assert.equal(options.etcdPrefix, "/env"); // flags not on the command line still come from env
  });

  test("empty variables are ignored", () => {
    const env = Object.fromEntries(flagCases.map((c) => [environmentVariableName(c.flag), ""]));
    assert.deepEqual(parse([], env), parse([]));
  });

  test("a repeatable flag takes its variable's whole text as one value (no comma splitting)", () => {
    assert.deepEqual(parse([], { FLANNELD_IFACE: "eth0,eth1" }).iface, ["eth0,eth1"]);
  });

  test("FLANNELD_HELP, FLANNELD_VERSION and FLANNELD_CHECK_CONFIG have no effect", () => {
    const options = parse([], { FLANNELD_HELP: "true", FLANNELD_VERSION: "true", FLANNELD_CHECK_CONFIG: "true" });
    assert.deepEqual([options.help, options.version, options.checkConfig], [false, false, false]);
  });

  test("variables are matched case-sensitively and unknown FLANNELD_* names are ignored", () => {
    assert.deepEqual(parse([], { flanneld_iface: "eth0", FLANNELD_IFACES: "eth1", FLANNELD_NO_SUCH_FLAG: "x" }), parse([]));
  });

  // Flannel only logs "Failed to set flag FLANNELD from env" and carries on with the default;
  // an operator should learn at start that the setting they wrote is not the one in force.
  test("a variable that does not parse is an error naming the variable and its value (Flannel only logs it)", () => {
    assertFlagError(() => parse([], { FLANNELD_IP_MASQ: "yes" }), "flag-invalid",
      { flag: "ip-masq", value: "yes", source: "environment", variable: "FLANNELD_IP_MASQ", stage: "parse" },
      "FLANNELD_IP_MASQ", '"yes"');
    assertFlagError(() => parse([], { FLANNELD_IPTABLES_RESYNC: "5s" }), "flag-invalid",
      { flag: "iptables-resync", value: "5s", source: "environment", variable: "FLANNELD_IPTABLES_RESYNC" },
      "FLANNELD_IPTABLES_RESYNC", '"5s"');
  });
});

describe("flanneld flags: validation", () => {
  test("--subnet-lease-renew-margin must be more than 0 and less than 1440 minutes (Flannel's message)", () => {
    for (const margin of [1, 1439]) assert.equal(parse([`--subnet-lease-renew-margin=${margin}`]).subnetLeaseRenewMargin, margin);
    for (const margin of [0, 1440, -1, 100000]) {
      assertFlagError(() => parse(["--subnet-lease-renew-margin", String(margin)]), "flag-invalid",
        { flag: "subnet-lease-renew-margin", value: String(margin), source: "command line", stage: "validate" },
        "Invalid subnet-lease-renew-margin option, out of acceptable range");
    }
  });

  test("an out-of-range value from the environment names its variable", () => {
    assertFlagError(() => parse([], { FLANNELD_SUBNET_LEASE_RENEW_MARGIN: "1440" }), "flag-invalid",
      { flag: "subnet-lease-renew-margin", value: "1440", source: "environment", variable: "FLANNELD_SUBNET_LEASE_RENEW_MARGIN", stage: "validate" },
      "out of acceptable range", "FLANNELD_SUBNET_LEASE_RENEW_MARGIN");
  });

  test("--healthz-port is 0..65535", () => {
    for (const port of [0, 1, 65535]) assert.equal(parse([`--healthz-port=${port}`]).healthzPort, port);
    for (const port of [-1, 65536]) {
      assertFlagError(() => parse([`--healthz-port=${port}`]), "flag-invalid", { flag: "healthz-port", stage: "validate" }, String(port));
    }
  });

  // Flannel feeds this to time.NewTicker, which panics for a period of 0 or less.
  test("--iptables-resync must be at least one second (Flannel would panic later)", () => {
    assert.equal(parse(["--iptables-resync=1"]).iptablesResync, 1);
    for (const seconds of ["0", "-5", "2147484"]) {
      assertFlagError(() => parse([`--iptables-resync=${seconds}`]), "flag-invalid", { flag: "iptables-resync", stage: "validate" });
    }
  });

  test("addresses must be addresses of the right family", () => {
    const bad: [string, string][] = [["healthz-ip", "localhost"], ["healthz-ip", ""], ["healthz-ip", "10.0.0.256"],
      ["public-ip", "2001:db8::1"], ["public-ip", "10.0.0"], ["public-ipv6", "10.0.0.1"], ["public-ipv6", "fe80::1%eth0"],
      ["iface-can-reach", "gateway"]];
    for (const [flag, value] of bad) {
      assertFlagError(() => parse([`--${flag}=${value}`]), "flag-invalid", { flag, value, stage: "validate" }, `--${flag}`);
    }
    const good = parse(["--healthz-ip=::", "--public-ip=10.1.2.3", "--public-ipv6=fe80::1", "--iface-can-reach=2001:db8::1"]);
    assert.deepEqual([good.healthzIp, good.publicIp, good.publicIpv6, good.ifaceCanReach], ["::", "10.1.2.3", "fe80::1", "2001:db8::1"]);
  });

  test("--iface-regex values must compile as regular expressions", () => {
    assert.deepEqual(parse(["--iface-regex=^eth[0-9]+$", "--iface-regex=10\\.0\\..*"]).ifaceRegex, ["^eth[0-9]+$", "10\\.0\\..*"]);
    for (const source of ["(", "[a-", "(?P<name>eth)"]) {
      assertFlagError(() => parse(["--iface-regex", source]), "flag-invalid", { flag: "iface-regex", value: source, stage: "validate" });
    }
    assertFlagError(() => parse([], { FLANNELD_IFACE_REGEX: "(" }), "flag-invalid",
      { source: "environment", variable: "FLANNELD_IFACE_REGEX" }, "FLANNELD_IFACE_REGEX");
  });
});

describe("flanneld flags: the peer-probe durations (flannel-ts extensions)", () => {
  test("take Go duration syntax, held in milliseconds; 0 turns the probes off", () => {
    assert.equal(parse(["--peer-probe-interval=0"]).peerProbeInterval, 0);
    assert.equal(parse(["--peer-probe-interval=2.5s"]).peerProbeInterval, 2500);
    assert.equal(parse(["--peer-probe-interval", "500ms"]).peerProbeInterval, 500);
    assert.equal(parse([], { FLANNELD_PEER_PROBE_UNREACHABLE_AFTER: "1m" }).peerProbeUnreachableAfter, 60_000);
  });

  test("a number without a unit or an unknown unit is a parse error, as with Go's flag.Duration", () => {
    assertFlagError(() => parse(["--peer-probe-interval=10"]), "flag-invalid", { flag: "peer-probe-interval", stage: "parse" }, "missing unit");
    assertFlagError(() => parse(["--peer-probe-interval=10x"]), "flag-invalid", { flag: "peer-probe-interval" }, "unknown unit");
    assertFlagError(() => parse([], { FLANNELD_PEER_PROBE_INTERVAL: "soon" }), "flag-invalid",
      { source: "environment", variable: "FLANNELD_PEER_PROBE_INTERVAL" }, "FLANNELD_PEER_PROBE_INTERVAL");
  });

  test("a negative or flooding interval and a zero threshold are refused at start", () => {
    assertFlagError(() => parse(["--peer-probe-interval=-1s"]), "flag-invalid", { flag: "peer-probe-interval", stage: "validate" }, "0 (off) or from 100ms");
    assertFlagError(() => parse(["--peer-probe-interval=50ms"]), "flag-invalid", { flag: "peer-probe-interval", stage: "validate" });
    assertFlagError(() => parse(["--peer-probe-interval=600h"]), "flag-invalid", { flag: "peer-probe-interval", stage: "validate" });
    assertFlagError(() => parse(["--peer-probe-unreachable-after=0"]), "flag-invalid", { flag: "peer-probe-unreachable-after", stage: "validate" });
  });
});

describe("flanneld flags: help text", () => {
  const help = formatHelp();

  test("lists every flag as a Go-style `-name value` line, in Go's sorted order", () => {
    const listed = help.split("\n").filter((line) => /^  -\S/.test(line)).map((line) => line.trim().split(" ")[0]!.slice(1));
    assert.deepEqual(listed, flanneldFlags.map((spec) => spec.name));
    assert.deepEqual(listed, [...listed].sort());
    assert.match(help, /^ {2}-iface name-or-ip$/m);
    assert.match(help, /^ {2}-ip-masq$/m);
  });

  test("shows each flag's default as Flannel has it", () => {
    for (const c of flagCases) {
      const at = help.indexOf(`\n  -${c.flag}`);
      const entry = help.slice(at, help.indexOf("\n  -", at + 1));
      const shown = c.shownDefault ?? (typeof c.flannelDefault === "string" ? JSON.stringify(c.flannelDefault)
        : Array.isArray(c.flannelDefault) ? JSON.stringify(c.flannelDefault.join(",")) : String(c.flannelDefault));
      if (c.flannelDefault === "" || (Array.isArray(c.flannelDefault) && c.flannelDefault.length === 0)) {
        assert.doesNotMatch(entry, /\(default/, c.flag); // Go leaves empty defaults out
      } else {
        assert.ok(entry.includes(`(default ${shown})`), `${c.flag}: ${entry}`);
      }
    }
  });

  test("says every flag can be set as FLANNELD_<NAME> and marks --check-config as a flannel-ts extension", () => {
    assert.ok(help.includes("FLANNELD_<NAME>"));
    assert.match(help, /-check-config\n.*\(flannel-ts extension\)/);
  });
});
