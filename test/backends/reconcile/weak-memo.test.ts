import assert from "node:assert/strict";
import { test } from "node:test";
import { weakMemo } from "../../../backends/reconcile/weak-memo.ts";

test("an answer is computed once per object, also when it is undefined, and separately per object", () => {
  const calls: object[] = [];
  const memo = weakMemo((key: { n: number }) => {
    calls.push(key);
    return key.n > 0 ? `n=${key.n}` : undefined;
  });
  const one = { n: 1 };
  const zero = { n: 0 };
  assert.equal(memo(one), "n=1");
  assert.equal(memo(one), "n=1");
  assert.equal(memo(zero), undefined);
  assert.equal(memo(zero), undefined);
  assert.equal(memo({ n: 1 }), "n=1", "an equal but distinct object is another key");
  assert.equal(calls.length, 3);
  assert.deepEqual(calls.slice(0, 2), [one, zero]);
});
