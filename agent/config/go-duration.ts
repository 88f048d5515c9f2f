// Go's time.ParseDuration and Duration.String for duration flags (flag.Duration), in
// milliseconds: "10s", "1m30s", "1.5h", "250ms", "0". flannel-ts' own duration flags
// (--peer-probe-interval, --peer-probe-unreachable-after) take the syntax a Go operator expects.

export type GoDurationResult = { readonly ok: true; readonly ms: number } | { readonly ok: false; readonly reason: string };

const unitMs: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  "\u00b5s": 1e-3, // µ (micro sign), as Go accepts
  "\u03bcs": 1e-3, // μ (Greek mu)
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** The same strings Go accepts; the value in ms (sub-ms parts kept as fractions). */
export function parseGoDuration(text: string): GoDurationResult {
  const negative = text.startsWith("-");
  let rest = negative || text.startsWith("+") ? text.slice(1) : text;
  if (rest === "0") return { ok: true, ms: 0 };
  if (rest === "") return { ok: false, reason: "invalid duration" };
  let total = 0;
  while (rest !== "") {
    const number = /^([0-9]*)(?:\.([0-9]*))?/.exec(rest)!;
    const [matched, whole = "", fraction] = number;
    if (whole === "" && (fraction === undefined || fraction === "")) return { ok: false, reason: "invalid duration" };
    rest = rest.slice(matched.length);
    const unit = /^[^0-9.]+/.exec(rest)?.[0];
    if (unit === undefined) return { ok: false, reason: "missing unit in duration" };
    const scale = unitMs[unit];
    if (scale === undefined) return { ok: false, reason: `unknown unit ${JSON.stringify(unit)} in duration` };
    rest = rest.slice(unit.length);
    total += Number(`${whole === "" ? "0" : whole}.${fraction ?? ""}0`) * scale;
  }
  if (!Number.isFinite(total) || total > 9.223372036854775e12) return { ok: false, reason: "invalid duration" };
  return { ok: true, ms: negative ? -total : total };
}

/** Go's Duration.String for whole milliseconds: 0 → "0s", 10000 → "10s", 90000 → "1m30s", 1500 → "1.5s", 250 → "250ms". */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return "0s";
  const sign = ms < 0 ? "-" : "";
  let rest = Math.abs(ms);
  if (rest < 1000) return `${sign}${rest}ms`;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = `${Number((rest / 1000).toFixed(3))}s`;
  return `${sign}${hours > 0 ? `${hours}h` : ""}${hours > 0 || minutes > 0 ? `${minutes}m` : ""}${seconds}`;
}
