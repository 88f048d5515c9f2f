// Peer reachability probes in the lab, before the daemon starts them itself: the probes, started
// as the daemon will start them (startPeerProbes), run in node1's namespace
// (test/agent/ops/probes/probe-runner.ts under `ip netns exec`) against the lab's real peers and
// their real data plane. Per backend: every peer answers on the address the backend probes
// (vxlan: the peer's VTEP address through the encapsulated path; host-gw: the peer's cni0 gateway
// through the host-gw route; udp: the peer's flannel0 address through both userspace planes); a
// peer whose underlay link is set down is reported unreachable within the probe window while the
// other stays reachable, and reachable again once the link is back; every echo request node1's
// kernel sent went to a peer's probe address (an nftables counter in node1's output hook).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { LabBackend } from "../../deploy/lab/options.ts";
import type { LabNode } from "../../deploy/lab/lab.ts";
import { waitFor } from "../../deploy/lab/tools/wait.ts";
import type { ManagedProcess } from "../support/process.ts";
import { needsRoot } from "../support/root.ts";
import { lastStats, loggedLines, startProbeRunner } from "../agent/ops/probes/probe-output.ts";
import { buildUnlessInSuite, leaseOf, readLeases, useTestLab } from "./lab-fixture.ts";

const intervalMs = 1000;
const unreachableAfterMs = 3000;
/** The probes' own timeout: min(2 s, the interval). */
const timeoutMs = Math.min(2000, intervalMs);
/** Unreachable is reported at the first loss past the threshold: at most a round and a timeout later. */
const windowMs = unreachableAfterMs + intervalMs + timeoutMs + 2000;
const nftTable = "probecheck";

/** Counts node1's outgoing echo requests: to the probe addresses, and to anything else. */
async function countEchoRequests(node: LabNode, targets: readonly string[]): Promise<void> {
  const set = `{ ${targets.join(", ")} }`;
  const ruleset = [
    `table ip ${nftTable} {`,
    "  chain out {",
    "    type filter hook output priority 0; policy accept;",
    `    icmp type echo-request ip daddr ${set} counter comment "to-targets"`,
    `    icmp type echo-request ip daddr != ${set} counter comment "elsewhere"`,
    "  }",
    "}",
  ].join("\n");
  await node.exec(["nft", "-f", "-"], { input: ruleset });
}

async function echoRequestCounts(node: LabNode): Promise<{ toTargets: number; elsewhere: number }> {
  const { stdout } = await node.exec(["nft", "list", "table", "ip", nftTable]);
  const count = (comment: string): number => Number(new RegExp(`counter packets (\\d+) bytes \\d+ comment "${comment}"`).exec(stdout)?.[1] ?? Number.NaN);
  return { toTargets: count("to-targets"), elsewhere: count("elsewhere") };
}

/** `ip link set eth0 down` takes the link's routes with it; `up` brings back only the connected one. */
async function setLink(node: LabNode, state: "down" | "up", routes: readonly string[] = []): Promise<void> {
  await node.exec(["ip", "link", "set", "eth0", state]);
  for (const route of routes) await node.exec(["ip", "route", "replace", ...route.split(" ")]);
}

before(buildUnlessInSuite);

function probeSuite(backend: LabBackend, probedAddress: (subnetAddress: string) => string): void {
  describe(`peer probes in a ${backend} lab`, { skip: needsRoot, timeout: 240_000 }, () => {
    let runner: ManagedProcess | undefined;
    let targets: string[] = [];
    const output = (): string => runner?.output() ?? "";
    // Registered before the lab's own after(): the runner leaves node1's namespace before teardown.
    after(async () => {
      await runner?.stop("SIGTERM", 3000);
    });
    const theLab = useTestLab({ nodes: 3, backend, podsPerNode: 1 });

    test("every peer answers on the address its backend probes", async () => {
      const lab = theLab();
      const [node1, ...peers] = lab.nodes;
      const leases = await readLeases(lab);
      const peerLeases = peers.map((peer) => leaseOf(leases, peer));
      targets = peerLeases.map((lease) => probedAddress(lease.address));
      await countEchoRequests(node1!, targets);
      runner = startProbeRunner(node1!.ns, {
        backend,
        peers: peerLeases.map((lease) => ({ subnet: lease.subnet, publicIP: lease.publicIP })),
        intervalMs,
        unreachableAfterMs,
      });
      const stats = await waitFor(
        () => {
          const current = lastStats(output());
          return targets.every((address) => current.get(address)?.rttSeconds !== undefined) ? current : undefined;
        },
        { what: `answers from ${targets.join(", ")}`, timeoutMs: 15_000, intervalMs: 100, process: runner },
      );
      for (const [i, address] of targets.entries()) assert.equal(stats.get(address)!.peer, peerLeases[i]!.subnet);
    });

    test("a peer whose underlay link is set down is reported unreachable within the probe window, the other peer not", async () => {
      const lab = theLab();
      const node3 = lab.nodes[2]!;
      const routes = (await node3.exec(["ip", "route", "show", "dev", "eth0"])).stdout.split("\n").filter((line) => line.trim() !== "").map((line) => `${line.trim()} dev eth0`);
      const downAt = Date.now();
      await setLink(node3, "down");
      try {
        const warned = await waitFor(
          () => loggedLines(output()).find((line) => line.level === "warn" && line.message.includes("unreachable for")),
          { what: "node3 reported unreachable", timeoutMs: windowMs + 3000, intervalMs: 100, process: runner! },
        );
        const elapsed = Date.now() - downAt;
        assert.ok(elapsed <= windowMs, `reported after ${elapsed} ms (window ${windowMs} ms)`);
        const subnet = leaseOf(await readLeases(lab), node3).subnet;
        assert.match(warned.message, new RegExp(`^peer ${subnet.replaceAll(".", "\\.")} unreachable for [3-5] s$`));
        assert.equal(warned.address, targets[1]);
        const stats = lastStats(output());
        assert.equal(stats.get(targets[0]!)!.unreachableSinceMs, undefined, "node2 stays reachable");
        assert.equal(stats.get(targets[0]!)!.lost, 0);
      } finally {
        await setLink(node3, "up", routes);
      }
      const recovered = await waitFor(
        () => loggedLines(output()).find((line) => line.message.includes("reachable again")),
        { what: "node3 reachable again", timeoutMs: 15_000, intervalMs: 100, process: runner! },
      );
      assert.equal(recovered.address, targets[1]);
      // The stats line follows within 200 ms.
      await waitFor(() => lastStats(output()).get(targets[1]!)?.unreachableSinceMs === undefined, { what: "node3's stats reachable", timeoutMs: 2000, intervalMs: 50 });
    });

    test("every echo request node1 sent went to a peer's probe address", async () => {
      const lab = theLab();
      const counts = await echoRequestCounts(lab.nodes[0]!);
      assert.deepEqual([...lastStats(output()).keys()].sort(), [...targets].sort(), "the probes' targets are the peers' probe addresses");
      assert.equal(counts.elsewhere, 0);
      assert.ok(counts.toTargets >= 4, `${counts.toTargets} echo requests counted to the targets`);
      await lab.nodes[0]!.exec(["nft", "delete", "table", "ip", nftTable]);
      const exit = await runner!.stop("SIGTERM", 5000);
      assert.deepEqual(exit, { code: 0, signal: null }, "the prober closed its sockets and timers and the process ended by itself");
    });
  });
}

// vxlan: the subnet's network address is the peer's VTEP (flannel.1) address.
probeSuite("vxlan", (address) => address);
// host-gw: the subnet's first host is the peer's cni0 gateway (the lab wires a pod on each node).
probeSuite("host-gw", (address) => address.replace(/\.0$/, ".1"));
// udp: the subnet's network address is the peer's flannel0 address (both userspace data planes).
probeSuite("udp", (address) => address);
