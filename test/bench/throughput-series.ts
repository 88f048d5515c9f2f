// Repeated iperf3 samples of one configuration, and what is reported about them: the median (the
// figure compared), min–max and the spread relative to the median, and CPU per Gbit/s — cores
// busy per Gbit/s carried, for the whole machine and for the data-plane processes (cpu-time.ts).
// Two bounds from the same CPU figures, for a configuration with data-plane processes: how fast
// this machine could go if those processes' own code (utime) cost nothing and every core were
// busy — Gbit/s × cores / (machine busy − that utime), optimistic, since it assumes the rest
// scales perfectly over the cores; and how fast one stream could go with a core for each thread
// — Gbit/s / the busiest thread's cores.
// Ratios between two configurations: of their medians, and (as both ran in the same reps,
// back to back) the median and range of the per-rep ratios.
import { availableParallelism } from "node:os";
import type { IperfSample } from "./iperf.ts";
import { median, mean, round } from "./stats.ts";

export type Outcome = IperfSample | { readonly failed: string };

export const isSample = (outcome: Outcome): outcome is IperfSample => !("failed" in outcome);

export interface SeriesSummary {
  readonly runs: number;
  readonly failures: readonly string[];
  readonly medianGbps: number;
  readonly meanGbps: number;
  readonly minGbps: number;
  readonly maxGbps: number;
  /** (max − min) / median, in percent. */
  readonly spreadPercent: number;
  readonly repsGbps: readonly (number | null)[];
  readonly retransmits: readonly (number | null)[];
  readonly medianRetransmits: number;
  /** Median busy cores of the whole machine during the runs. */
  readonly machineCores: number;
  /** Median of machine cores / Gbit/s per run. */
  readonly machineCoresPerGbps: number;
  /** The same for the data-plane processes; null when none (kernel data path). */
  readonly processCores: number | null;
  readonly processCoresPerGbps: number | null;
  /** Median utime of the data-plane processes, cores; null when none. */
  readonly processUserCores: number | null;
  /** Median of Gbit/s × cores / (machine cores − processUserCores) per run (see the header). */
  readonly zeroUserCostCeilingGbps: number | null;
  /** Median of Gbit/s / the busiest data-plane thread's cores per run (see the header). */
  readonly threadPerCoreCeilingGbps: number | null;
  /** Median steal (hypervisor noise), cores. */
  readonly stealCores: number;
}

export function summarizeSeries(outcomes: readonly Outcome[]): SeriesSummary {
  const samples = outcomes.filter(isSample);
  const gbps = samples.map((s) => s.gbps);
  const processCores = samples.map((s) => s.cpu.processCores).filter((c): c is number => c !== undefined);
  const processPerGbps = samples.filter((s) => s.cpu.processCores !== undefined && s.gbps > 0).map((s) => s.cpu.processCores! / s.gbps);
  const med = median(gbps);
  const withUser = samples.filter((s) => s.cpu.processUserCores !== undefined && s.cpu.machineCores > s.cpu.processUserCores);
  const withThreads = samples.filter((s) => s.cpu.busiestThreadCores !== undefined && s.cpu.busiestThreadCores > 0);
  // With no successful run every figure is NaN (null in the JSON), never ±Infinity.
  const [min, max] = gbps.length === 0 ? [Number.NaN, Number.NaN] : [Math.min(...gbps), Math.max(...gbps)];
  return {
    runs: outcomes.length,
    failures: outcomes.filter((o): o is { failed: string } => !isSample(o)).map((o) => o.failed),
    medianGbps: round(med),
    meanGbps: round(mean(gbps)),
    minGbps: round(min),
    maxGbps: round(max),
    spreadPercent: round(((max - min) / med) * 100, 1),
    repsGbps: outcomes.map((o) => (isSample(o) ? round(o.gbps) : null)),
    retransmits: outcomes.map((o) => (isSample(o) ? o.retransmits : null)),
    medianRetransmits: median(samples.map((s) => s.retransmits)),
    machineCores: round(median(samples.map((s) => s.cpu.machineCores))),
    machineCoresPerGbps: round(median(samples.filter((s) => s.gbps > 0).map((s) => s.cpu.machineCores / s.gbps)), 3),
    processCores: processCores.length === 0 ? null : round(median(processCores)),
    processCoresPerGbps: processPerGbps.length === 0 ? null : round(median(processPerGbps), 3),
    processUserCores: withUser.length === 0 ? null : round(median(withUser.map((s) => s.cpu.processUserCores!))),
    zeroUserCostCeilingGbps:
      withUser.length === 0 ? null : round(median(withUser.map((s) => (s.gbps * availableParallelism()) / (s.cpu.machineCores - s.cpu.processUserCores!)))),
    threadPerCoreCeilingGbps: withThreads.length === 0 ? null : round(median(withThreads.map((s) => s.gbps / s.cpu.busiestThreadCores!))),
    stealCores: round(median(samples.map((s) => s.cpu.stealCores)), 3),
  };
}

export interface Ratio {
  /** median(a) / median(b). */
  readonly ofMedians: number;
  /** Per-rep a/b over the reps where both ran: median, min, max. */
  readonly pairedMedian: number;
  readonly pairedMin: number;
  readonly pairedMax: number;
}

export function ratio(a: readonly Outcome[], b: readonly Outcome[]): Ratio {
  const paired: number[] = [];
  a.forEach((outcome, i) => {
    const other = b[i];
    if (other !== undefined && isSample(outcome) && isSample(other) && other.gbps > 0) paired.push(outcome.gbps / other.gbps);
  });
  const gbps = (list: readonly Outcome[]): number[] => list.filter(isSample).map((s) => s.gbps);
  return {
    ofMedians: round(median(gbps(a)) / median(gbps(b)), 3),
    pairedMedian: round(median(paired), 3),
    pairedMin: paired.length === 0 ? Number.NaN : round(Math.min(...paired), 3),
    pairedMax: paired.length === 0 ? Number.NaN : round(Math.max(...paired), 3),
  };
}

/** One line: "12.34 Gbit/s (min 11.9 – max 12.8, spread 7.3 %; reps …)". */
export function describeSeries(summary: SeriesSummary): string {
  const reps = summary.repsGbps.map((g) => (g === null ? "FAIL" : g.toFixed(2))).join(" ");
  return `${summary.medianGbps.toFixed(2)} Gbit/s (min ${summary.minGbps.toFixed(2)} – max ${summary.maxGbps.toFixed(2)}, spread ${summary.spreadPercent} %; reps ${reps})`;
}

export function describeRatio(r: Ratio): string {
  return `${r.ofMedians.toFixed(3)} (per-rep ${r.pairedMedian.toFixed(3)}, ${r.pairedMin.toFixed(3)}–${r.pairedMax.toFixed(3)})`;
}
