// The agent's log: one JSON line per event on stderr (where Flannel's klog writes), with
// structured fields (`subnet`, `peer`, `backend` …). Modules receive a `Log` and never build
// their own, so tests can capture what the agent says and the daemon decides where it goes.
import winston from "winston";
import type { Writable } from "node:stream";

export type LogFields = Readonly<Record<string, unknown>>;
export type LogLevel = "error" | "warn" | "info" | "debug";

export interface Log {
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  /** A log whose every line carries `fields` too (e.g. { component: "subnet" }). */
  child(fields: LogFields): Log;
}

export interface LogOptions {
  readonly level?: LogLevel;
  /** Where lines go; stderr by default. */
  readonly stream?: Writable;
}

/** Flannel's klog verbosity (-v) mapped onto levels: -v 0 logs info and up, -v ≥ 1 adds debug. */
export function levelForVerbosity(verbosity: number): LogLevel {
  return verbosity >= 1 ? "debug" : "info";
}

function wrap(logger: winston.Logger): Log {
  const write = (level: LogLevel) => (message: string, fields?: LogFields) => logger.log(level, message, fields ?? {});
  return {
    error: write("error"),
    warn: write("warn"),
    info: write("info"),
    debug: write("debug"),
    child: (fields) => wrap(logger.child(fields)),
  };
}

export function createLog(options: LogOptions = {}): Log {
  const transport =
    options.stream === undefined
      ? new winston.transports.Console({ stderrLevels: ["error", "warn", "info", "debug"] })
      : new winston.transports.Stream({ stream: options.stream });
  return wrap(
    winston.createLogger({
      level: options.level ?? "info",
      format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
      transports: [transport],
    }),
  );
}

/** A log that drops everything (for tools and tests that do not care). */
export const silentLog: Log = {
  error: () => {},
  warn: () => {},
  info: () => {},
  debug: () => {},
  child: () => silentLog,
};
