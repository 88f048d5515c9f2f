// A strict reader of the Prometheus text exposition format for tests: HELP/TYPE lines and
// samples, grouped by metric family (a histogram's _bucket/_sum/_count under its own name). A
// line that is neither fails loudly. Not a test file itself.

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  help?: string;
  type?: string;
  readonly samples: Sample[];
}

export type Exposition = Map<string, Family>;

export function parseExposition(text: string): Exposition {
  const families: Exposition = new Map();
  const family = (name: string): Family => {
    let found = families.get(name);
    if (found === undefined) families.set(name, (found = { samples: [] }));
    return found;
  };
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta !== null) {
      if (meta[1] === "HELP") family(meta[2]!).help = meta[3]!;
      else family(meta[2]!).type = meta[3]!;
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (sample === null) throw new Error(`not a line of the text exposition format: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const pair of (sample[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    const name = sample[1]!;
    const suffix = /_(bucket|sum|count)$/.exec(name);
    const base = suffix !== null && families.get(name.slice(0, suffix.index))?.type === "histogram" ? name.slice(0, suffix.index) : name;
    family(base).samples.push({ name, labels, value: Number(sample[3]) });
  }
  return families;
}

/** The value of the first sample named `name` whose labels include `labels`; undefined if none. */
export function sampleValue(exposition: Exposition, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  const suffix = /_(bucket|sum|count)$/.exec(name);
  const family = exposition.get(name) ?? (suffix === null ? undefined : exposition.get(name.slice(0, suffix.index)));
  return family?.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

/** Sum of every sample named `name` whose labels include `labels` (0 when none). */
export function sampleSum(exposition: Exposition, name: string, labels: Readonly<Record<string, string>> = {}): number {
  const family = exposition.get(name);
  return (family?.samples ?? []).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);
}
