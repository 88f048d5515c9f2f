// Small statistics and reporting helpers shared by the benchmarks.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { arch, cpus, release } from "node:os";

export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export interface Summary {
  readonly n: number;
  readonly medianMs: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly minMs: number;
  readonly maxMs: number;
}

export function summarize(samplesMs: readonly number[]): Summary {
  const round = (value: number): number => Math.round(value * 1000) / 1000;
  return {
    n: samplesMs.length,
    medianMs: round(percentile(samplesMs, 50)),
    p95Ms: round(percentile(samplesMs, 95)),
    p99Ms: round(percentile(samplesMs, 99)),
    minMs: round(Math.min(...samplesMs)),
    maxMs: round(Math.max(...samplesMs)),
  };
}

/** Writes test/bench/results/<name>.json with the machine it ran on, and returns the path. */
export function writeResults(name: string, figures: Record<string, unknown>): string {
  const directory = join(import.meta.dirname, "results");
  mkdirSync(directory, { recursive: true });
  const path = join(directory, `${name}.json`);
  const record = {
    benchmark: name,
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "unknown", arch: arch(), kernel: release(), node: process.version },
    ...figures,
  };
  writeFileSync(path, `${JSON.stringify(record, null, 2)}\n`);
  return path;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((sum, value) => sum + value, 0) / values.length;
}

/** Rounds to `digits` decimals (for JSON results and printing). */
export function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
