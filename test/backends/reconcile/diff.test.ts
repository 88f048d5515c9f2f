// The shared desired-vs-actual diff and the step bookkeeping built on it, table-tested with
// plain data: no kernel involved.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { KernelBatch } from "../../../backends/kernel/batch-coprocess.ts";
import { KernelBatchError } from "../../../backends/kernel/batch-error.ts";
import { batchLine, type IpLine } from "../../../backends/kernel/batch-line.ts";
import { diffEntries } from "../../../backends/reconcile/diff.ts";
import { applySteps, newTally, planEntries, tallyReport, type EntryKind, type Step } from "../../../backends/reconcile/steps.ts";

interface Entry {
  readonly key: string;
  readonly value: string;
  readonly mine?: boolean;
}

const entry = (key: string, value: string, mine = true): Entry => ({ key, value, mine });

function diff(desired: Entry[], actual: Entry[]) {
  const result = diffEntries({
    desired,
    actual,
    desiredKey: (e) => e.key,
    actualKey: (e) => e.key,
    matches: (d, a) => d.value === a.value,
    owned: (a) => a.mine === true,
  });
  const show = (e: Entry): string => `${e.key}=${e.value}`;
  return {
    create: result.create.map(show),
    replace: result.replace.map(({ desired: d, actual: a }) => `${show(a)}->${d.value}`),
    remove: result.remove.map(show),
    unchanged: result.unchanged.map(show),
  };
}

describe("diffEntries", () => {
  const cases: { name: string; desired: Entry[]; actual: Entry[]; expected: ReturnType<typeof diff> }[] = [
    { name: "nothing wanted, nothing there", desired: [], actual: [], expected: { create: [], replace: [], remove: [], unchanged: [] } },
    {
      name: "creates what is missing",
      desired: [entry("a", "1"), entry("b", "2")],
      actual: [],
      expected: { create: ["a=1", "b=2"], replace: [], remove: [], unchanged: [] },
    },
    {
      name: "keeps what matches",
      desired: [entry("a", "1")],
      actual: [entry("a", "1")],
      expected: { create: [], replace: [], remove: [], unchanged: ["a=1"] },
    },
    {
      name: "replaces what differs under the same key",
      desired: [entry("a", "1")],
      actual: [entry("a", "9")],
      expected: { create: [], replace: ["a=9->1"], remove: [], unchanged: [] },
    },
    {
      name: "removes owned entries nobody wants, leaves the others alone",
      desired: [],
      actual: [entry("a", "1"), entry("b", "2", false)],
      expected: { create: [], replace: [], remove: ["a=1"], unchanged: [] },
    },
    {
      name: "keeps the matching one of several under a key and removes the rest, owned or not",
      desired: [entry("a", "1")],
      actual: [entry("a", "9"), entry("a", "1"), entry("a", "8", false)],
      expected: { create: [], replace: [], remove: ["a=9", "a=8"], unchanged: ["a=1"] },
    },
    {
      name: "replaces the first of several differing entries and removes the others",
      desired: [entry("a", "1")],
      actual: [entry("a", "9"), entry("a", "8")],
      expected: { create: [], replace: ["a=9->1"], remove: ["a=8"], unchanged: [] },
    },
    {
      name: "a second desired entry under a taken key is ignored",
      desired: [entry("a", "1"), entry("a", "2")],
      actual: [],
      expected: { create: ["a=1"], replace: [], remove: [], unchanged: [] },
    },
  ];
  for (const { name, desired, actual, expected } of cases) {
    test(name, () => assert.deepEqual(diff(desired, actual), expected));
  }
});

const kind: EntryKind<Entry & { peer: string }, Entry, "ip"> = {
  name: "thing",
  desiredKey: (e) => e.key,
  actualKey: (e) => e.key,
  matches: (d, a) => d.value === a.value,
  owned: (a) => a.mine === true,
  writeLine: (e) => batchLine("ip", ["thing", "replace", e.key, e.value]),
  deleteLine: (e) => batchLine("ip", ["thing", "del", e.key]),
  peerOf: (e) => e.peer,
};

describe("planEntries", () => {
  test("a missing entry is added the first time and repaired once it had been in place", () => {
    const desired = [{ ...entry("a", "1"), peer: "p" }];
    assert.equal(planEntries(kind, desired, [], new Set()).writes[0]?.effect, "added");
    assert.equal(planEntries(kind, desired, [], new Set(["thing:a"])).writes[0]?.effect, "repaired");
  });

  test("a differing entry is repaired, a stale one removed, a matching one reported in place", () => {
    const plan = planEntries(
      kind,
      [{ ...entry("a", "1"), peer: "p" }, { ...entry("b", "2"), peer: "q" }],
      [entry("a", "9"), entry("b", "2"), entry("z", "0")],
      new Set(),
    );
    assert.deepEqual(plan.writes.map((s) => [s.line, s.effect, s.key, s.peer]), [["thing replace a 1", "repaired", "thing:a", "p"]]);
    assert.deepEqual(plan.removals.map((s) => [s.line, s.effect]), [["thing del z", "removed"]]);
    assert.deepEqual(plan.inPlace, ["thing:b"]);
  });
});

function fakeBatch(failAt: readonly number[], goneAt: readonly number[]): KernelBatch<"ip"> & { seen: string[][] } {
  const seen: string[][] = [];
  return {
    tool: "ip",
    pid: undefined,
    seen,
    apply: async (lines) => {
      seen.push([...lines]);
      return {
        errors: failAt.map((index) => new KernelBatchError("ip", lines[index] ?? "", index, "RTNETLINK answers: Invalid argument", "rejected")),
        alreadyGone: [...goneAt],
      };
    },
    recycle: async () => {},
    close: async () => {},
    [Symbol.asyncDispose]: async () => {},
  };
}

describe("applySteps", () => {
  const line = (text: string): IpLine => batchLine("ip", text.split(" "));
  const steps: Step<"ip">[] = [
    { line: line("thing del z"), effect: "removed" },
    { line: line("thing del y"), effect: "removed" },
    { line: line("thing replace a 1"), effect: "added", key: "thing:a", peer: "p" },
    { line: line("thing replace b 2"), effect: "repaired", key: "thing:b", peer: "q" },
  ];

  test("books each line's outcome: already gone is no removal, a failure is an error that holds its peer back", async () => {
    const batch = fakeBatch([3], [1]);
    const tally = newTally();
    await applySteps(batch, steps, tally);
    assert.deepEqual(batch.seen, [steps.map((s) => s.line)]);
    assert.deepEqual({ ...tallyReport(tally), errors: tally.errors.map((e) => e.code) }, { added: 1, removed: 1, repaired: 0, errors: ["kernel-command-failed"] });
    assert.deepEqual([...tally.failedPeers], ["q"]);
    assert.deepEqual([...tally.inPlace], ["thing:a"]);
  });

  test("no steps, no request", async () => {
    const batch = fakeBatch([], []);
    await applySteps(batch, [], newTally());
    assert.deepEqual(batch.seen, []);
  });
});
