// A Log that keeps every line in memory, so a test can assert what the agent told the operator.
import type { Log, LogFields, LogLevel } from "../../agent/ops/log.ts";

export interface LogEntry {
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: LogFields;
}

export interface MemoryLog extends Log {
  readonly entries: LogEntry[];
  /** Entries whose message contains `text` (any level unless given). */
  find(text: string, level?: LogLevel): LogEntry[];
}

export function createMemoryLog(): MemoryLog {
  const entries: LogEntry[] = [];
  const make = (base: LogFields): Log => {
    const write = (level: LogLevel) => (message: string, fields?: LogFields) =>
      void entries.push({ level, message, fields: { ...base, ...fields } });
    return { error: write("error"), warn: write("warn"), info: write("info"), debug: write("debug"), child: (fields) => make({ ...base, ...fields }) };
  };
  return Object.assign(make({}), {
    entries,
    find: (text: string, level?: LogLevel) => entries.filter((entry) => entry.message.includes(text) && (level === undefined || entry.level === level)),
  });
}
