// Start-up progress: each step says what it is doing when it begins and how long it took when
// it ends ("etcd in lab3f9a-fabric (198.18.0.254:2379) … 1.07 s"). The timings are kept so the
// lab (and its tests) can report them.
import { performance } from "node:perf_hooks";

export interface StepTiming {
  readonly step: string;
  readonly ms: number;
  readonly ok: boolean;
}

export interface Progress {
  step<T>(title: string, work: () => Promise<T>): Promise<T>;
  readonly timings: readonly StepTiming[];
}

export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

/** `write` receives the text to show (nothing is shown without it). */
export function createProgress(write: (text: string) => void = () => {}): Progress {
  const timings: StepTiming[] = [];
  return {
    timings,
    async step(title, work) {
      write(`  ${title} … `);
      const start = performance.now();
      try {
        const value = await work();
        const ms = performance.now() - start;
        timings.push({ step: title, ms, ok: true });
        write(`${formatSeconds(ms)}\n`);
        return value;
      } catch (error) {
        const ms = performance.now() - start;
        timings.push({ step: title, ms, ok: false });
        write(`failed after ${formatSeconds(ms)}\n`);
        throw error;
      }
    },
  };
}
