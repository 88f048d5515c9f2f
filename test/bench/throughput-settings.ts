// How long a throughput comparison runs: BENCH_REPS interleaved repetitions of BENCH_SECONDS
// each (defaults 7 and 10; at 5 × 5 s the 4-stream baseline alone spread 16–31 Gbit/s here).
// Smaller values are for trying a bench out, and the output says such a run measures nothing.
export interface ThroughputSettings {
  readonly reps: number;
  readonly seconds: number;
  /** False when either value is below the default: a trial run, not a measurement. */
  readonly full: boolean;
}

export const defaultReps = 7;
export const defaultSeconds = 10;

function positiveInteger(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new Error(`${name}=${JSON.stringify(text)}: a whole number ≥ 1`);
  return Number(text);
}

export function throughputSettings(): ThroughputSettings {
  const reps = positiveInteger("BENCH_REPS", defaultReps);
  const seconds = positiveInteger("BENCH_SECONDS", defaultSeconds);
  return { reps, seconds, full: reps >= defaultReps && seconds >= defaultSeconds };
}

export function describeSettings(settings: ThroughputSettings): string {
  const base = `${settings.reps} interleaved reps × ${settings.seconds} s`;
  return settings.full ? base : `${base} — TRIAL RUN (BENCH_REPS/BENCH_SECONDS below ${defaultReps} × ${defaultSeconds} s): figures are not a measurement`;
}
