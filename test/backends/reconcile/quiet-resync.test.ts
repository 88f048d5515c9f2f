// The quiet resync's part in a burst: an apply of many lease changes suspends the kernel change
// feed (the monitor reading every entry written slowed the writes by half), a small one does not,
// and either way the next resync reads the kernel. The feed itself is tested in a namespace
// (kernel/change-feed.test.ts); here it is a recording stand-in.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ChangeFeed, FeedStamp } from "../../../backends/kernel/change-feed.ts";
import { burstChanges, quietResync } from "../../../backends/reconcile/quiet-resync.ts";

function recordingFeed(): { feed: ChangeFeed; suspended: () => number } {
  let suspended = 0;
  const stamp: FeedStamp = { generation: 1, sequence: 0, trusted: true };
  const feed: ChangeFeed = {
    stamp: () => stamp,
    changedSince: () => false,
    ready: async () => true,
    drain: async () => {},
    suspend: async () => void (suspended += 1),
    close: async () => {},
  };
  return { feed, suspended: () => suspended };
}

test("an apply of a burst suspends the change feed; a smaller one leaves it running", async () => {
  const { feed, suspended } = recordingFeed();
  const quiet = quietResync(() => feed);
  await quiet.beforeApply(burstChanges - 1);
  assert.equal(suspended(), 0);
  await quiet.beforeApply(burstChanges);
  assert.equal(suspended(), 1);
});

test("after any apply the next resync reads the kernel, even with the feed vouching for everything", async () => {
  const { feed } = recordingFeed();
  const quiet = quietResync(() => feed);
  const peers: never[] = [];
  quiet.clean(quiet.stamp(), peers, "own");
  assert.equal(await quiet.canSkip("resync", peers, "own", []), true);
  await quiet.beforeApply(1);
  assert.equal(await quiet.canSkip("resync", peers, "own", []), false);
});
