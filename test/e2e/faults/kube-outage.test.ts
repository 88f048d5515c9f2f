// Fault: the lab's Kubernetes API server down for 60 s (issue 12), kube mode. On a 2-node vxlan lab
// whose agents run with --kube-subnet-mgr, the API server is stopped through its control socket
// (it stops listening and drops every connection) and started again (datastore-outage.ts says what
// must hold throughout: data plane untouched, agents alive and 503 naming the datastore, no ping
// lost). Once it is back, a Node another flannel registers right then is programmed.
import { before, describe, test } from "node:test";
import { needsRoot } from "../../support/root.ts";
import { assertConverged, buildUnlessInSuite, useTestLab } from "../lab-fixture.ts";
import { datastoreOutage } from "./datastore-outage.ts";
import { ghost, ghostNode, kubeLeases, wideNetwork } from "./fault-fixture.ts";

describe("fault: the lab's API server down for 60 s (kube mode)", { skip: needsRoot, timeout: 240_000 }, () => {
  before(() => buildUnlessInSuite());
  const theLab = useTestLab({ nodes: 2, backend: "vxlan", kube: true, network: wideNetwork });

  test("data plane untouched, agents alive and 503 naming the datastore, no ping lost; afterwards a new Node is programmed", async () => {
    const lab = theLab();
    const api = lab.kube!;
    await assertConverged(lab, "the lab did not converge");
    let running = true;
    const figures = await datastoreOutage(lab, {
      outageMs: 60_000,
      leases: await kubeLeases(lab),
      reason: /^datastore watch: nodes interrupted /m,
      stop: async () => {
        await api.call("stop");
        running = false;
      },
      start: async () => {
        await api.call("start");
        running = true;
      },
      running: () => running,
      peer: ghost(0),
      addPeer: (peer) => api.call("store.create", ghostNode(peer, "ghost0")),
    });
    console.log(`# API server down 60 s: 503 after ${figures.unreadyAfterMs} ms, ${figures.looks} looks, caught up ${figures.caughtUpAfterMs} ms after it was back, ping ${figures.received}/${figures.transmitted}`);
  });
});
