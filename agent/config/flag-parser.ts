// How Go's `flag` package reads a command line, and Go's spelling of booleans and integers.
// flanneld is a Go program, so scripts and manifests written for it rely on these exact rules;
// commander-style parsers differ (a bool never consumes the next argument here, a value flag
// always does, even when that argument starts with a dash).
//
// This module knows nothing about flanneld's flags: it is handed a lookup for the kind of a name
// and yields what was written, one flag at a time, in order. Messages copy the wording of Go's
// flag package so an operator searching for them finds Flannel's own answers.
import { FlannelError } from "../../backends/errors.ts";

/** One `-name`, `-name=value` or `-name value` as written; `value` is undefined for a bare bool. */
export interface FlagOccurrence {
  readonly name: string;
  readonly value: string | undefined;
}

export type FlagArity = "bool" | "value";

/**
 * Walks `argv` like Go's FlagSet.Parse: `-name` and `--name` are the same; `--name=value` or,
 * for a non-bool flag, `--name value`; parsing stops at the first non-flag argument (a lone `-`
 * counts as one) or after `--`. Returns the arguments left after the flags (the positional ones).
 * Throws at the first problem, as Go does: an unknown name, bad syntax, a missing value.
 */
export function* readGoFlags(
  argv: readonly string[],
  arityOf: (name: string) => FlagArity | undefined,
): Generator<FlagOccurrence, readonly string[]> {
  let index = 0;
  while (index < argv.length) {
    const arg = argv[index]!;
    if (arg.length < 2 || !arg.startsWith("-")) break;
    index += 1;
    if (arg === "--") break;
    const body = arg.startsWith("--") ? arg.slice(2) : arg.slice(1);
    if (body === "" || body.startsWith("-") || body.startsWith("=")) {
      throw commandLineError("flag-invalid", `bad flag syntax: ${arg}`, arg, undefined);
    }
    const equals = body.indexOf("=");
    const name = equals < 0 ? body : body.slice(0, equals);
    let value = equals < 0 ? undefined : body.slice(equals + 1);
    const arity = arityOf(name);
    if (arity === undefined) {
      throw commandLineError("flag-unknown", `flag provided but not defined: -${name}`, name, value);
    }
    if (arity === "value" && value === undefined) {
      // Go takes the next argument whatever it looks like: `--iface --ip-masq` sets iface.
      if (index >= argv.length) throw commandLineError("flag-invalid", `flag needs an argument: -${name}`, name, undefined);
      value = argv[index]!;
      index += 1;
    }
    yield { name, value };
  }
  return argv.slice(index);
}

function commandLineError(
  code: "flag-unknown" | "flag-invalid",
  message: string,
  flag: string,
  value: string | undefined,
): FlannelError {
  return new FlannelError(code, message, { details: { flag, value, source: "command line", stage: "parse" } });
}

/** Go's strconv.ParseBool: exactly these spellings, nothing else ("yes", "on", " true" fail). */
export function parseGoBool(text: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  return undefined;
}

export type GoIntResult = { readonly ok: true; readonly value: number } | { readonly ok: false; readonly reason: "parse error" | "value out of range" };

export interface GoIntSyntax {
  /** 0: Go's base-0 rules (0x, 0o, 0b, leading-0 octal, `_` digit separators); 10: plain decimal. */
  readonly base: 0 | 10;
  readonly bits: 32 | 64;
}

// Base-0 spellings after the optional sign. An underscore must sit between two digits (the base
// prefix counts as a digit), as Go's underscoreOK demands.
const base0Patterns: readonly (readonly [RegExp, string])[] = [
  [/^0[xX]((?:_?[0-9a-fA-F])+)$/, "0x"],
  [/^0[bB]((?:_?[01])+)$/, "0b"],
  [/^0[oO]((?:_?[0-7])+)$/, "0o"],
  [/^0((?:_?[0-7])*)$/, "0o"], // "0", "017", "0_7": a leading zero means octal
  [/^([1-9](?:_?[0-9])*)$/, ""],
];

/**
 * Go's strconv.ParseInt(text, base, bits) as flag.Int (base 0, 64 bits) and klog's -v (base 10,
 * 32 bits) use it. "5s", "1.5", " 5" and "" are parse errors.
 */
export function parseGoInt(text: string, syntax: GoIntSyntax): GoIntResult {
  const negative = text.startsWith("-");
  const unsigned = negative || text.startsWith("+") ? text.slice(1) : text;
  let magnitude: bigint | undefined;
  if (syntax.base === 10) {
    if (/^[0-9]+$/.test(unsigned)) magnitude = BigInt(unsigned);
  } else {
    for (const [pattern, prefix] of base0Patterns) {
      const digits = pattern.exec(unsigned)?.[1];
      if (digits === undefined) continue;
      magnitude = BigInt(prefix + (digits.replaceAll("_", "") || "0"));
      break;
    }
  }
  if (magnitude === undefined) return { ok: false, reason: "parse error" };
  const value = negative ? -magnitude : magnitude;
  const limit = 1n << BigInt(syntax.bits - 1);
  if (value < -limit || value >= limit) return { ok: false, reason: "value out of range" };
  // Beyond 2^53 a JS number would silently round; no flanneld setting is anywhere near that.
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    return { ok: false, reason: "value out of range" };
  }
  return { ok: true, value: Number(value) };
}
