// flanneld's command line and FLANNELD_* environment, resolved into one validated, frozen
// FlanneldOptions (reference §2.1, §2.2). Pure: argv and the environment are passed in, nothing
// here reads process globals, prints or exits.
//
// Order, as in Flannel: command line first (Go flag rules, flag-parser.ts), then every flag not
// given on the command line from FLANNELD_<NAME>, then validation. Where Flannel is lax we are
// strict on purpose, because a network agent that starts with a setting other than the one the
// operator wrote is worse than one that refuses to start:
//   - a FLANNELD_* value that does not parse is an error naming the variable (Flannel only logs
//     "Failed to set flag FLANNELD from env" and runs with the default);
//   - positional arguments are an error (Flannel silently ignores them; flanneld takes none);
//   - addresses, ports, the regexes and --iptables-resync are checked here, at start, instead of
//     failing (or, for a resync of 0, panicking) somewhere later.
import { FlannelError } from "../../backends/errors.ts";
import { parseIp, parseIpOfFamily } from "../../backends/net/ip.ts";
import { flanneldFlags, type FlagSpec, type FlanneldOptions } from "./flag-table.ts";
import { parseGoBool, parseGoInt, readGoFlags, type FlagArity } from "./flag-parser.ts";
import { formatGoDuration, parseGoDuration } from "./go-duration.ts";

export type { FlagSpec, FlanneldOptions } from "./flag-table.ts";
export { flanneldFlags } from "./flag-table.ts";

/**
 * What a flag error's `details` hold. `stage` tells the two families apart: "parse" — the text
 * could not be read as a value of the flag (or the command line itself is malformed), "validate"
 * — the value reads fine but is not acceptable. Go's flag package exits 2 for command-line parse
 * errors; Flannel exits 1 for the rest.
 */
export interface FlagErrorDetails {
  readonly flag?: string; // absent only for positional arguments
  readonly value: string | undefined;
  readonly source: "command line" | "environment";
  readonly variable?: string; // the FLANNELD_* name when source is "environment"
  readonly stage: "parse" | "validate";
  readonly arguments?: readonly string[]; // the positional arguments that were rejected
}

/** `--etcd-endpoints` → `FLANNELD_ETCD_ENDPOINTS`, `-log_backtrace_at` → `FLANNELD_LOG_BACKTRACE_AT`. */
export function environmentVariableName(flagName: string): string {
  return `FLANNELD_${flagName.toUpperCase().replaceAll("-", "_")}`;
}

const flagsByName: ReadonlyMap<string, FlagSpec> = new Map(flanneldFlags.map((spec) => [spec.name, spec]));

// Go's flag package answers `-h` (when no flag "h" exists) with the usage text, like -help.
function lookupFlag(name: string): FlagSpec | undefined {
  return flagsByName.get(name === "h" ? "help" : name);
}

type MutableOptions = { -readonly [K in keyof FlanneldOptions]: FlanneldOptions[K] };

interface Origin {
  readonly source: "command line" | "environment";
  readonly variable?: string;
  readonly text: string;
}

/**
 * Resolves flanneld's options from its arguments (without the program name) and environment.
 * Throws FlannelError "flag-unknown" / "flag-invalid" with FlagErrorDetails.
 *
 * @example parseFlanneldArgs(["--kube-subnet-mgr", "--iface=eth1"], { FLANNELD_IP_MASQ: "true" })
 */
export function parseFlanneldArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): FlanneldOptions {
  const options = defaultOptions();
  const origins = new Map<string, Origin>();

  const arityOf = (name: string): FlagArity | undefined => {
    const spec = lookupFlag(name);
    return spec === undefined ? undefined : spec.kind === "bool" ? "bool" : "value";
  };
  const reader = readGoFlags(argv, arityOf);
  let step = reader.next();
  for (; step.done !== true; step = reader.next()) {
    const spec = lookupFlag(step.value.name)!;
    const text = step.value.value;
    // Repeated flags accumulate (repeatable) or the last one wins, as with Go's flag.Value.Set.
    const firstTime = !origins.has(spec.name);
    applyValue(options, spec, text, firstTime, { source: "command line" });
    origins.set(spec.name, { source: "command line", text: text ?? "true" });
  }
  if (step.value.length > 0) {
    const positional = step.value;
    const quoted = positional.map((arg) => JSON.stringify(arg)).join(" ");
    throw new FlannelError(
      "flag-invalid",
      `unexpected argument${positional.length > 1 ? "s" : ""} ${quoted}: flanneld takes no positional arguments` +
        " (flags end at the first argument that is not a flag, or at --)",
      { details: { value: positional.join(" "), arguments: positional, source: "command line", stage: "parse" } satisfies FlagErrorDetails },
    );
  }

  for (const spec of flanneldFlags) {
    if (!spec.fromEnvironment || origins.has(spec.name)) continue;
    const variable = environmentVariableName(spec.name);
    const text = env[variable];
    if (text === undefined || text === "") continue; // Flannel ignores empty variables
    // One variable, one value: a repeatable flag gets exactly this text (no comma splitting).
    applyValue(options, spec, text, true, { source: "environment", variable });
    origins.set(spec.name, { source: "environment", variable, text });
  }

  validateOptions(options, origins);
  for (const list of [options.etcdEndpoints, options.iface, options.ifaceRegex]) Object.freeze(list);
  return Object.freeze(options);
}

/** Flannel's defaults for every flag (reference §2.1), as fresh mutable copies. */
function defaultOptions(): MutableOptions {
  const options: Partial<Record<keyof FlanneldOptions, unknown>> = {};
  for (const spec of flanneldFlags) options[spec.field] = Array.isArray(spec.default) ? [...spec.default] : spec.default;
  return options as MutableOptions;
}

function applyValue(
  options: MutableOptions,
  spec: FlagSpec,
  text: string | undefined,
  firstTime: boolean,
  where: { readonly source: "command line" | "environment"; readonly variable?: string },
): void {
  const fail = (reason: string, isBool = false): never => {
    const subject = where.variable === undefined ? `-${spec.name}` : `${where.variable} (flag -${spec.name})`;
    const message = isBool
      ? `invalid boolean value ${JSON.stringify(text)} for ${subject}: ${reason}`
      : `invalid value ${JSON.stringify(text)} for ${where.variable === undefined ? "flag " : ""}${subject}: ${reason}`;
    throw new FlannelError("flag-invalid", message, {
      details: { flag: spec.name, value: text, ...where, stage: "parse" } satisfies FlagErrorDetails,
    });
  };
  switch (spec.kind) {
    case "bool": {
      const value = text === undefined ? true : parseGoBool(text);
      if (value === undefined) return fail("parse error", true);
      options[spec.field] = value;
      return;
    }
    case "int": {
      const parsed = parseGoInt(text ?? "", spec.syntax === "klog-level" ? { base: 10, bits: 32 } : { base: 0, bits: 64 });
      if (!parsed.ok) return fail(parsed.reason);
      options[spec.field] = parsed.value;
      return;
    }
    case "string":
      options[spec.field] = text ?? "";
      return;
    case "comma-list":
      // Go's strings.Split: "" gives [""] and "a,,b" keeps the empty middle, exactly as Flannel.
      options[spec.field] = (text ?? "").split(",");
      return;
    case "repeatable":
      // The first occurrence replaces the (empty) default; later ones append.
      options[spec.field] = firstTime ? [text ?? ""] : [...options[spec.field], text ?? ""];
      return;
    case "duration": {
      const parsed = parseGoDuration(text ?? "");
      if (!parsed.ok) return fail(parsed.reason);
      options[spec.field] = parsed.ms;
      return;
    }
    case "choice": {
      const choice = spec.choices.find((word) => word === text);
      if (choice === undefined) return fail(`must be one of ${spec.choices.join(", ")}`);
      options[spec.field] = choice;
      return;
    }
  }
}

function validateOptions(options: FlanneldOptions, origins: ReadonlyMap<string, Origin>): void {
  const reject = (flag: string, message: string): never => {
    const origin = origins.get(flag);
    // Defaults always pass, so a failing value came from the command line or the environment.
    const source = origin?.source ?? "command line";
    const where = origin?.variable === undefined ? "" : ` (from ${origin.variable})`;
    throw new FlannelError("flag-invalid", `${message}${where}`, {
      details: { flag, value: origin?.text, source, ...(origin?.variable === undefined ? {} : { variable: origin.variable }),
        stage: "validate" } satisfies FlagErrorDetails,
    });
  };

  const margin = options.subnetLeaseRenewMargin;
  if (!(margin > 0 && margin < 1440)) {
    // Flannel's words (F:main.go), so existing runbooks still match; it exits 1 here.
    reject("subnet-lease-renew-margin",
      `Invalid subnet-lease-renew-margin option, out of acceptable range: ${margin} (minutes; must be more than 0 and less than 1440)`);
  }
  if (options.healthzPort < 0 || options.healthzPort > 65535) {
    reject("healthz-port", `invalid --healthz-port ${options.healthzPort}: a port is 0..65535 (0 = no health server)`);
  }
  // Flannel hands this to time.NewTicker, which panics for 0 or less. The upper bound is Node's:
  // timers hold at most 2^31-1 ms, and a longer period would silently become 1 ms.
  if (options.iptablesResync < 1 || options.iptablesResync > 2_147_483) {
    reject("iptables-resync", `invalid --iptables-resync ${options.iptablesResync}: seconds must be 1..2147483`);
  }
  // Node's timers hold at most 2^31-1 ms; below 100 ms a "probe" is a flood.
  const probeInterval = options.peerProbeInterval;
  if (probeInterval !== 0 && !(probeInterval >= 100 && probeInterval <= 2_147_483_647)) {
    reject("peer-probe-interval", `invalid --peer-probe-interval ${formatGoDuration(probeInterval)}: 0 (off) or from 100ms to 596h`);
  }
  const unreachableAfter = options.peerProbeUnreachableAfter;
  if (!(unreachableAfter >= 1 && unreachableAfter <= 2_147_483_647)) {
    reject("peer-probe-unreachable-after", `invalid --peer-probe-unreachable-after ${formatGoDuration(unreachableAfter)}: from 1ms to 596h`);
  }
  if (parseIp(options.healthzIp) === undefined) {
    reject("healthz-ip", `invalid --healthz-ip ${JSON.stringify(options.healthzIp)}: not an IP address`);
  }
  if (options.publicIp !== "" && parseIpOfFamily(options.publicIp, 4) === undefined) {
    reject("public-ip", `invalid --public-ip ${JSON.stringify(options.publicIp)}: not an IPv4 address`);
  }
  if (options.publicIpv6 !== "" && parseIpOfFamily(options.publicIpv6, 6) === undefined) {
    reject("public-ipv6", `invalid --public-ipv6 ${JSON.stringify(options.publicIpv6)}: not an IPv6 address`);
  }
  if (options.ifaceCanReach !== "" && parseIp(options.ifaceCanReach) === undefined) {
    reject("iface-can-reach", `invalid --iface-can-reach ${JSON.stringify(options.ifaceCanReach)}: not an IP address`);
  }
  for (const source of options.ifaceRegex) {
    // Flannel compiles these with Go's RE2. JavaScript's syntax covers the forms used for
    // interface matching (classes, anchors, alternation, repetition); RE2-only syntax such as
    // (?P<name>…) or a leading (?i) is rejected here rather than silently meaning something else.
    try {
      new RegExp(source);
    } catch (error) {
      reject("iface-regex", `invalid --iface-regex ${JSON.stringify(source)}: ${(error as Error).message}`);
    }
  }
}

/** The usage text for `flanneld --help`, in the layout of Go's flag.PrintDefaults. */
export function formatHelp(programName = "flanneld"): string {
  const lines = [`Usage: ${programName} [OPTION]...`];
  for (const spec of flanneldFlags) {
    lines.push(`  -${spec.name}${spec.valueName === undefined ? "" : ` ${spec.valueName}`}`);
    const extension = spec.extension === true ? " (flannel-ts extension)" : "";
    lines.push(`    \t${spec.description}${formatDefault(spec)}${extension}`);
  }
  lines.push(
    "",
    "Every flag can also be set in the environment as FLANNELD_<NAME>: the flag name upper-cased",
    "with '-' turned into '_' (for example FLANNELD_IFACE=eth1, FLANNELD_IP_MASQ=true). A flag given",
    "on the command line wins over its variable; empty variables are ignored; -help, -version and",
    "-check-config are never read from the environment.",
  );
  return `${lines.join("\n")}\n`;
}

function formatDefault(spec: FlagSpec): string {
  switch (spec.kind) {
    case "bool":
    case "int":
      return ` (default ${spec.default})`;
    case "choice":
      return ` (default ${JSON.stringify(spec.default)})`;
    case "duration":
      return ` (default ${formatGoDuration(spec.default)})`;
    case "string":
      return spec.default === "" ? "" : ` (default ${JSON.stringify(spec.default)})`;
    case "comma-list":
    case "repeatable":
      return spec.default.length === 0 ? "" : ` (default ${JSON.stringify(spec.default.join(","))})`;
  }
}
