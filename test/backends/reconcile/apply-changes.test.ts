// How applyPeerChanges hands a burst to the tools: in chunks, each started without waiting for the
// ones before it (so that a backend's route writer works on one chunk while its neighbour writer
// works on the next), except that a peer changed a second time waits until every chunk started
// before is done. The steps' contents are the incremental-netns tests' business; here `run` only
// records when each chunk starts and decides when it ends.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Peer, PeerChange } from "../../../backends/backend.ts";
import { hostGwDesiredState } from "../../../backends/hostgw/desired.ts";
import { parseCidr, parseIp, type Cidr } from "../../../backends/net/ip.ts";
import { applyPeerChanges, changesPerChunk, type ChangeTarget } from "../../../backends/reconcile/apply-changes.ts";
import { ProgrammedPeers, routeSlot, type ChangeSteps } from "../../../backends/reconcile/programmed.ts";
import { newTally, type Tally } from "../../../backends/reconcile/steps.ts";

function peer(n: number): Peer {
  return { subnet: parseCidr(`10.${n >> 8}.${n & 0xff}.0/24`)!, publicIP: parseIp(`198.19.${n >> 8}.${n & 0xff}`)!, backendType: "host-gw" };
}

function target(): ChangeTarget {
  return {
    family: 4,
    programmed: new ProgrammedPeers(),
    recordOf: (change: PeerChange, subnet: Cidr, tally: Tally) => {
      const desired = hostGwDesiredState({ family: 4, externalLink: "eth0", ownSubnet: undefined }, [change.peer]);
      tally.errors.push(...desired.errors);
      const [route] = desired.routes;
      return route === undefined ? undefined : { subnet, route: routeSlot(route) };
    },
  };
}

/** A `run` whose chunks end only when the test says so. */
function heldRuns(): { run: (steps: ChangeSteps) => Promise<void>; started: ChangeSteps[]; finish: (index: number) => void; finishAll: () => void } {
  const started: ChangeSteps[] = [];
  const finishers: Array<() => void> = [];
  return {
    started,
    run: (steps) =>
      new Promise<void>((resolve) => {
        started.push(steps);
        finishers.push(resolve);
      }),
    finish: (index) => finishers[index]?.(),
    finishAll: () => finishers.forEach((finish) => finish()),
  };
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(condition(), "condition not reached");
}

test("a burst goes out in chunks, each started before the ones before it are done", async () => {
  const count = changesPerChunk * 2 + 10;
  const changes: PeerChange[] = Array.from({ length: count }, (_, i) => ({ kind: "added", peer: peer(i + 1) }));
  const runs = heldRuns();
  const applying = applyPeerChanges([target()], changes, newTally(), runs.run);
  await until(() => runs.started.length === 3);
  assert.deepEqual(
    runs.started.map((steps) => steps.ipLast.length),
    [changesPerChunk, changesPerChunk, 10],
    "all three chunks started while none had finished",
  );
  let settled = false;
  void applying.then(() => (settled = true));
  runs.finish(0);
  runs.finish(1);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(settled, false, "the apply waits for its last chunk");
  runs.finish(2);
  assert.equal(await applying, false);
});

test("a peer changed again waits until every chunk started before it is done", async () => {
  const changes: PeerChange[] = [
    ...Array.from({ length: changesPerChunk + 5 }, (_, i): PeerChange => ({ kind: "added", peer: peer(i + 1) })),
    { kind: "removed", peer: peer(1) },
  ];
  const runs = heldRuns();
  const applying = applyPeerChanges([target()], changes, newTally(), runs.run);
  await until(() => runs.started.length === 2);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(runs.started.length, 2, "the removal of peer 1 is not planned while its addition may still be running");
  runs.finish(0);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(runs.started.length, 2, "nor while any earlier chunk runs");
  runs.finish(1);
  await until(() => runs.started.length === 3);
  assert.equal(runs.started[2]?.ipFirst.length, 1, "then it deletes the route the first chunk wrote");
  runs.finishAll();
  await applying;
});

test("a chunk that fails (an abort) still lets every other chunk finish before the apply rejects", async () => {
  const changes: PeerChange[] = Array.from({ length: changesPerChunk + 1 }, (_, i) => ({ kind: "added", peer: peer(i + 1) }));
  let secondDone = false;
  let calls = 0;
  const run = async (): Promise<void> => {
    calls += 1;
    if (calls === 1) throw new Error("aborted");
    await new Promise((resolve) => setTimeout(resolve, 20));
    secondDone = true;
  };
  await assert.rejects(applyPeerChanges([target()], changes, newTally(), run), /aborted/);
  assert.equal(secondDone, true);
});
