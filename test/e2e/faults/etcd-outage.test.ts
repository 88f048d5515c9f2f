// Fault: etcd down for 60 s (issue 12). On a 2-node vxlan lab the lab's etcd is stopped by PID and
// started again on the same data directory (datastore-outage.ts says what must hold throughout:
// data plane untouched, agents alive and 503 naming the datastore, no ping lost). Once etcd is
// back, a lease another node writes right then (a real etcd lease of Flannel's 24 h) is programmed.
import { after, before, describe, test } from "node:test";
import type { Lab } from "../../../deploy/lab/lab.ts";
import { needsRoot } from "../../support/root.ts";
import { assertConverged, buildUnlessInSuite, etcdSwitch, type EtcdSwitch, readLeases, startTestLab, subnetsPrefix, tearDown } from "../lab-fixture.ts";
import { datastoreOutage } from "./datastore-outage.ts";
import { ghost, putWithTtl, wideNetwork } from "./fault-fixture.ts";

describe("fault: the lab's etcd down for 60 s", { skip: needsRoot, timeout: 240_000 }, () => {
  let lab: Lab | undefined;
  let etcd: EtcdSwitch | undefined;
  before(async () => {
    await buildUnlessInSuite();
    lab = await startTestLab({ nodes: 2, backend: "vxlan", network: wideNetwork });
    etcd = etcdSwitch(lab);
    await assertConverged(lab, "the lab did not converge");
  });
  after(async () => {
    await etcd?.close();
    await tearDown(lab);
  });

  test("data plane untouched, agents alive and 503 naming the datastore, no ping lost; afterwards a new peer lease is programmed", async () => {
    const theLab = lab!;
    const switcher = etcd!;
    const figures = await datastoreOutage(theLab, {
      outageMs: 60_000,
      leases: await readLeases(theLab),
      reason: /^datastore watch: leases interrupted .*etcd/m,
      stop: () => switcher.stop(),
      start: () => switcher.start(),
      running: () => switcher.running,
      peer: ghost(0),
      addPeer: (peer) => putWithTtl(theLab, `${subnetsPrefix}${peer.key}`, peer.raw, 86_400),
    });
    console.log(`# etcd down 60 s: 503 after ${figures.unreadyAfterMs} ms, ${figures.looks} looks, caught up ${figures.caughtUpAfterMs} ms after etcd was back, ping ${figures.received}/${figures.transmitted}`);
  });
});
