// Parsing what `ip -json` and `bridge -json` print, defensively: anything that is not the shape
// the tools print becomes a FlannelError "kernel-output-invalid" naming the command, never a
// TypeError deep inside a backend's diff.
import { FlannelError } from "../errors.ts";
import { parseIp, type IpAddress } from "../net/ip.ts";

export type JsonRecord = Readonly<Record<string, unknown>>;

export function isRecord(value: unknown): value is JsonRecord {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function invalidOutput(argv: readonly string[], reason: string, cause?: unknown): FlannelError {
  return new FlannelError("kernel-output-invalid", `unexpected output from \`${argv.join(" ")}\`: ${reason}`, {
    cause,
    details: { argv: [...argv], reason },
  });
}

/** The tools print nothing at all (not `[]`) for some empty dumps, so empty output is an empty list. */
export function parseRecordArray(argv: readonly string[], stdout: string): JsonRecord[] {
  if (stdout.trim() === "") return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch (error) {
    throw invalidOutput(argv, "not JSON", error);
  }
  if (!Array.isArray(parsed)) throw invalidOutput(argv, "not a JSON array");
  return parsed.map((item, i) => {
    if (!isRecord(item)) throw invalidOutput(argv, `entry ${i} is not an object`);
    return item;
  });
}

/** Field readers bound to one command, so every complaint names it. */
export interface RecordReader {
  string(record: JsonRecord, key: string): string;
  optionalString(record: JsonRecord, key: string): string | undefined;
  integer(record: JsonRecord, key: string): number;
  optionalInteger(record: JsonRecord, key: string): number | undefined;
  optionalIp(record: JsonRecord, key: string): IpAddress | undefined;
  stringList(record: JsonRecord, key: string): string[];
  fail(reason: string): FlannelError;
}

export function recordReader(argv: readonly string[]): RecordReader {
  const fail = (reason: string): FlannelError => invalidOutput(argv, reason);
  const optionalString = (record: JsonRecord, key: string): string | undefined => {
    const value = record[key];
    if (value === undefined) return undefined;
    if (typeof value !== "string") throw fail(`"${key}" is not a string`);
    return value;
  };
  const optionalInteger = (record: JsonRecord, key: string): number | undefined => {
    const value = record[key];
    if (value === undefined) return undefined;
    if (typeof value !== "number" || !Number.isSafeInteger(value)) throw fail(`"${key}" is not an integer`);
    return value;
  };
  return {
    fail,
    optionalString,
    optionalInteger,
    string(record, key) {
      const value = optionalString(record, key);
      if (value === undefined || value === "") throw fail(`"${key}" is missing`);
      return value;
    },
    integer(record, key) {
      const value = optionalInteger(record, key);
      if (value === undefined) throw fail(`"${key}" is missing`);
      return value;
    },
    optionalIp(record, key) {
      const text = optionalString(record, key);
      if (text === undefined) return undefined;
      const ip = parseIp(text);
      if (ip === undefined) throw fail(`"${key}" is not an address: ${text}`);
      return ip;
    },
    stringList(record, key) {
      const value = record[key];
      if (value === undefined) return [];
      if (!Array.isArray(value)) throw fail(`"${key}" is not a list`);
      return value.filter((item): item is string => typeof item === "string");
    },
  };
}

/**
 * The last answer of one dump and what it parsed to. A dump whose text is the same as last time
 * parses to the same entries: handing back the same array skips the parse, and lets a caller
 * that already diffed that array skip the diff too (a periodic resync of thousands of entries
 * then costs a string comparison). Holds one dump's text and entries: bounded by the table.
 */
export interface DumpMemo<T> {
  stdout?: string;
  entries?: readonly T[];
}

export function memoParse<T>(memo: DumpMemo<T> | undefined, stdout: string, parse: () => T[]): readonly T[] {
  if (memo !== undefined && memo.entries !== undefined && memo.stdout === stdout) return memo.entries;
  const entries = parse();
  if (memo !== undefined) {
    memo.stdout = stdout;
    memo.entries = entries;
  }
  return entries;
}
