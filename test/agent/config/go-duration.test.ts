// Go's time.ParseDuration and Duration.String, in milliseconds, for flannel-ts' duration flags.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatGoDuration, parseGoDuration } from "../../../agent/config/go-duration.ts";

const ms = (text: string): number | string => {
  const result = parseGoDuration(text);
  return result.ok ? result.ms : result.reason;
};

test("reads what Go reads: units from ns to h, fractions, sequences, a sign, and a bare 0", () => {
  assert.equal(ms("10s"), 10_000);
  assert.equal(ms("1m30s"), 90_000);
  assert.equal(ms("1.5h"), 5_400_000);
  assert.equal(ms("250ms"), 250);
  assert.equal(ms(".5s"), 500);
  assert.equal(ms("1.s"), 1000);
  assert.equal(ms("1500us"), 1.5);
  assert.equal(ms("2000000ns"), 2);
  assert.equal(ms("3µs"), 0.003);
  assert.equal(ms("+2s"), 2000);
  assert.equal(ms("-2s"), -2000);
  assert.equal(ms("0"), 0);
  assert.equal(ms("0s"), 0);
});

test("refuses what Go refuses, with Go's reasons", () => {
  assert.equal(ms(""), "invalid duration");
  assert.equal(ms("."), "invalid duration");
  assert.equal(ms("s"), "invalid duration");
  assert.equal(ms("10"), "missing unit in duration");
  assert.equal(ms("1m30"), "missing unit in duration");
  assert.match(String(ms("10d")), /^unknown unit "d"/);
  assert.match(String(ms("10 s")), /^unknown unit " s"/);
});

test("prints as Go's Duration.String", () => {
  assert.deepEqual([0, 250, 1500, 10_000, 30_000, 90_000, 3_600_000, 5_430_000].map(formatGoDuration), ["0s", "250ms", "1.5s", "10s", "30s", "1m30s", "1h0m0s", "1h30m30s"]);
});
