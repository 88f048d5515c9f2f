// Monotonic counts keyed by a fixed set of label names, e.g. { kind: "resync", outcome: "success" }:
// the plain-number side of a Prometheus counter with labels. Label values come from small closed
// sets (error codes, run kinds, watch names), so the table stays a handful of entries.

export type Labels = Readonly<Record<string, string>>;

export class LabelledCounts {
  readonly labelNames: readonly string[];
  readonly #counts = new Map<string, { readonly labels: Labels; value: number }>();

  constructor(labelNames: readonly string[]) {
    this.labelNames = labelNames;
  }

  add(labels: Labels, amount = 1): void {
    if (!(amount >= 0)) throw new RangeError(`a count only grows, got ${amount}`);
    const key = this.labelNames.map((name) => labels[name] ?? "").join("\u0000");
    const entry = this.#counts.get(key);
    if (entry !== undefined) entry.value += amount;
    else this.#counts.set(key, { labels: Object.fromEntries(this.labelNames.map((name) => [name, labels[name] ?? ""])), value: amount });
  }

  /** The count for exactly these labels (0 when never added). */
  get(labels: Labels): number {
    return this.#counts.get(this.labelNames.map((name) => labels[name] ?? "").join("\u0000"))?.value ?? 0;
  }

  /** Sum over every entry whose labels include `match`. */
  sum(match: Labels = {}): number {
    let total = 0;
    for (const { labels, value } of this.#counts.values()) {
      if (Object.entries(match).every(([name, wanted]) => labels[name] === wanted)) total += value;
    }
    return total;
  }

  entries(): Iterable<{ readonly labels: Labels; readonly value: number }> {
    return this.#counts.values();
  }
}
