// Several networks on one node (issue 12), with the real agent: two nodes (namespaces on a veth
// underlay), one etcd, and on each node two dist/bin/flanneld — network A (10.244.0.0/16, VNI 1,
// --etcd-prefix=/two-a) and network B (10.245.0.0/16, VNI 2, --etcd-prefix=/two-b), each with its
// own --subnet-file and health port, --ip-masq and --iptables-resync=1. Node 1 also holds the rules
// Flannel's own agent wrote for a third network before ours started (an in-place migration).
// Through several resyncs both networks' rules are complete and exact on both nodes and Flannel's
// survive; a rule of B deleted by hand while B's agent is down is not put back by A's agent, which
// does put back its own; B's agent, started again, puts back its own. In iptables and nftables mode.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { subnetEnvValues } from "../../agent/config/subnet-env.ts";
import { flanneldBinary } from "../../deploy/lab/layout.ts";
import { daemonPath } from "../../deploy/lab/processes.ts";
import { run } from "../../deploy/lab/tools/command.ts";
import { startEtcd, type EtcdServer } from "../support/etcd.ts";
import { createUnderlay, type Underlay, type UnderlayNode } from "../support/netns.ts";
import { spawnProcess, waitForFile, type ManagedProcess } from "../support/process.ts";
import { needsRoot } from "../support/root.ts";
import { runPrefix } from "../support/run-context.ts";
import { waitFor } from "../../deploy/lab/tools/wait.ts";

const projectRoot = resolve(import.meta.dirname, "../..");
const resyncSeconds = 1;
type Mode = "iptables" | "nftables";

interface Network {
  readonly name: "a" | "b";
  readonly n: string;
  readonly vni: number;
}
const networkA: Network = { name: "a", n: "10.244.0.0/16", vni: 1 };
const networkB: Network = { name: "b", n: "10.245.0.0/16", vni: 2 };
/** Flannel's own agent's network on node 1 (its rules written before ours start). */
const flannelN = "10.246.0.0/16";
const flannelP = "10.246.1.0/24";

// Flannel's rule text (F:e2e/rules.go; reference §8.1, §8.2, §8.4), written out independently of the product.
const mc = '-m comment --comment "flanneld masq"';
const fc = '-m comment --comment "flanneld forward"';
const masqMark = `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 ${mc} -j RETURN`;
const masq = (n: string, p: string) => [
  `-A FLANNEL-POSTRTG -s ${p} -d ${n} ${mc} -j RETURN`,
  `-A FLANNEL-POSTRTG -s ${n} -d ${p} ${mc} -j RETURN`,
  `-A FLANNEL-POSTRTG ! -s ${n} -d ${p} ${mc} -j RETURN`,
  `-A FLANNEL-POSTRTG -s ${n} ! -d 224.0.0.0/4 ${mc} -j MASQUERADE --random-fully`,
  `-A FLANNEL-POSTRTG ! -s ${n} -d ${n} ${mc} -j MASQUERADE --random-fully`,
];
const fwd = (n: string) => [`-A FLANNEL-FWD -s ${n} ${fc} -j ACCEPT`, `-A FLANNEL-FWD -d ${n} ${fc} -j ACCEPT`];
const nftMark = "meta mark 0x00004000 return";
const nftMasq = (n: string, p: string) => [
  `ip saddr ${p} ip daddr ${n} return`,
  `ip saddr ${n} ip daddr ${p} return`,
  `ip saddr != ${p} ip daddr ${n} return`,
  `ip saddr ${n} ip daddr != 224.0.0.0/4 masquerade fully-random`,
  `ip saddr != ${n} ip daddr ${n} masquerade fully-random`,
];
const nftFwd = (n: string) => [`ip saddr ${n} accept`, `ip daddr ${n} accept`];

/** Flannel's Go agent for the third network, as its bootstrap writes (iptables) or its nftables manager. */
async function writeFlannelRules(node: UnderlayNode, mode: Mode): Promise<void> {
  if (mode === "iptables") {
    const payload = ["*nat", ":FLANNEL-POSTRTG - [0:0]", `-A POSTROUTING ${mc} -j FLANNEL-POSTRTG`, masqMark, ...masq(flannelN, flannelP), "COMMIT",
      "*filter", ":FLANNEL-FWD - [0:0]", `-A FORWARD ${fc} -j FLANNEL-FWD`, ...fwd(flannelN), "COMMIT", ""];
    await node.ns.exec(["iptables-restore", "--noflush"], { input: payload.join("\n") });
    return;
  }
  const lines = [
    'add table ip flannel-ipv4 { comment "rules for flannel-ipv4"; }',
    'add chain ip flannel-ipv4 postrtg { comment "chain to manage traffic masquerading by flannel"; type nat hook postrouting priority srcnat; policy accept; }',
    "flush chain ip flannel-ipv4 postrtg",
    ...[nftMark, ...nftMasq(flannelN, flannelP)].map((rule) => `add rule ip flannel-ipv4 postrtg ${rule}`),
    'add chain ip flannel-ipv4 forward { comment "chain to accept flannel traffic"; type filter hook forward priority filter; policy accept; }',
    "flush chain ip flannel-ipv4 forward",
    ...nftFwd(flannelN).map((rule) => `add rule ip flannel-ipv4 forward ${rule}`),
  ];
  await node.ns.exec(["nft", "-f", "-"], { input: `${lines.join("\n")}\n` });
}

/** The rules of the masquerade and the forward chain, and the number of jumps to each (iptables). */
async function readRules(node: UnderlayNode, mode: Mode): Promise<{ masq: string[]; fwd: string[]; jumps: number[] }> {
  if (mode === "iptables") {
    const rules = async (table: string, chain: string) =>
      (await node.ns.exec(["iptables", "-t", table, "-S", chain])).stdout.split("\n").filter((line) => line.startsWith("-A "));
    const postrouting = await rules("nat", "POSTROUTING");
    const forward = await rules("filter", "FORWARD");
    return {
      masq: await rules("nat", "FLANNEL-POSTRTG"),
      fwd: await rules("filter", "FLANNEL-FWD"),
      jumps: [postrouting.filter((l) => l.endsWith("-j FLANNEL-POSTRTG")).length, forward.filter((l) => l.endsWith("-j FLANNEL-FWD")).length],
    };
  }
  const rules = async (chain: string) =>
    (await node.ns.exec(["nft", "list", "chain", "ip", "flannel-ipv4", chain])).stdout
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => / (return|accept|masquerade|fully-random)$/.test(line));
  return { masq: await rules("postrtg"), fwd: await rules("forward"), jumps: [1, 1] };
}

/** Every descendant of `pid` with its command line, from /proc. */
function descendants(pid: number): string[][] {
  const found: string[][] = [];
  const visit = (parent: number): void => {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${parent}/task`);
    } catch {
      return;
    }
    for (const task of tasks) {
      let children: number[] = [];
      try {
        children = readFileSync(`/proc/${parent}/task/${task}/children`, "utf8").trim().split(/\s+/).filter((s) => s !== "").map(Number);
      } catch {
        continue;
      }
      for (const child of children) {
        try {
          found.push(readFileSync(`/proc/${child}/cmdline`, "utf8").split("\0").filter((arg) => arg !== ""));
        } catch {
          continue;
        }
        visit(child);
      }
    }
  };
  visit(pid);
  return found;
}

interface Agent {
  readonly node: number;
  readonly network: Network;
  readonly subnetFile: string;
  process: ManagedProcess;
  start(): ManagedProcess;
}

describe("two networks on the same two nodes, real agents", { skip: needsRoot }, () => {
  let underlay: Underlay | undefined;
  let etcd: EtcdServer | undefined;
  let stateDir = "";
  const agents: Agent[] = [];

  before(async () => {
    // The suite runner (npm test) builds once before every test; a file run on its own builds here.
    if (process.env.FLANNEL_TS_SUITE !== "1") {
      await run([join(projectRoot, "node_modules/.bin/node"), "scripts/build.ts"], { cwd: projectRoot, timeoutMs: 300_000 });
    }
    stateDir = mkdtempSync(join(tmpdir(), `${runPrefix}two-networks-`));
  });
  after(async () => {
    await stopAll();
    await etcd?.dispose();
    await underlay?.remove();
    rmSync(stateDir, { recursive: true, force: true });
  });

  async function stopAll(): Promise<void> {
    for (const agent of agents.splice(0)) await agent.process.stop("SIGTERM", 10_000);
  }

  function startAgent(node: UnderlayNode, index: number, network: Network, mode: Mode, endpoint: string): Agent {
    const subnetFile = join(stateDir, `${mode}-node${index}-${network.name}.env`);
    const argv = [
      flanneldBinary,
      `--etcd-endpoints=${endpoint}`,
      `--etcd-prefix=/two-${mode}-${network.name}`,
      `--iface=${node.device}`,
      `--subnet-file=${subnetFile}`,
      `--healthz-port=${network.name === "a" ? 9281 : 9282}`,
      "--ip-masq",
      `--iptables-resync=${resyncSeconds}`,
    ];
    const agent: Agent = {
      node: index,
      network,
      subnetFile,
      process: undefined as unknown as ManagedProcess,
      start: () => (agent.process = spawnProcess(argv, { netns: node.ns.name, cwd: "/", env: { PATH: daemonPath } })),
    };
    agent.start();
    agents.push(agent);
    return agent;
  }

  const subnetOf = (agent: Agent): string => {
    const values = subnetEnvValues(readFileSync(agent.subnetFile, "utf8"));
    const [address, prefix] = (values.FLANNEL_SUBNET ?? "").split("/") as [string, string];
    const octets = address.split(".").map(Number);
    octets[3] = 0;
    return `${octets.join(".")}/${prefix}`;
  };

  async function scenario(mode: Mode): Promise<void> {
    underlay ??= await createUnderlay(2, { net24: "198.18.7" });
    etcd ??= await startEtcd({ netns: underlay.fabric.name, host: underlay.gateway });
    const [node1, node2] = underlay.nodes as [UnderlayNode, UnderlayNode];
    for (const network of [networkA, networkB]) {
      const conf = { Network: network.n, EnableNFTables: mode === "nftables", Backend: { Type: "vxlan", VNI: network.vni } };
      await etcd.etcdctl("put", `/two-${mode}-${network.name}/config`, JSON.stringify(conf));
    }
    await writeFlannelRules(node1, mode);

    // A first on both nodes, then B: the order the rules are appended in.
    const started: Agent[] = [];
    for (const network of [networkA, networkB]) {
      for (const [index, node] of [node1, node2].entries()) {
        const agent = startAgent(node, index + 1, network, mode, etcd.endpoint);
        started.push(agent);
        await waitForFile(agent.subnetFile, { timeoutMs: 60_000, what: `subnet.env of ${network.name} on node ${index + 1}`, process: agent.process }).catch((error: unknown) => {
          throw new Error(`${String(error)}\nthe agent:\n${agent.process.output().slice(-3000)}`);
        });
      }
    }
    const subnet = (node: number, network: Network) => subnetOf(started.find((a) => a.node === node && a.network === network)!);
    const expected = (node: number) => {
      const [pa, pb] = [subnet(node, networkA), subnet(node, networkB)];
      const flannel = node === 1;
      if (mode === "iptables") {
        return {
          masq: [masqMark, ...(flannel ? masq(flannelN, flannelP) : []), ...masq(networkA.n, pa), ...masq(networkB.n, pb)],
          fwd: [...(flannel ? fwd(flannelN) : []), ...fwd(networkA.n), ...fwd(networkB.n)],
          jumps: [1, 1],
        };
      }
      return {
        masq: [nftMark, ...(flannel ? nftMasq(flannelN, flannelP) : []), ...nftMasq(networkA.n, pa), ...nftMasq(networkB.n, pb)],
        fwd: [...(flannel ? nftFwd(flannelN) : []), ...nftFwd(networkA.n), ...nftFwd(networkB.n)],
        jumps: [1, 1],
      };
    };

    // Several resyncs: both rule sets complete and exact on both nodes every time.
    for (let round = 1; round <= 4; round++) {
      await sleep(resyncSeconds * 1000 + 300);
      for (const [index, node] of [node1, node2].entries()) {
        assert.deepEqual(await readRules(node, mode), expected(index + 1), `${mode}, node ${index + 1}, after ${round} resync(s)`);
      }
    }
    for (const [index, node] of [node1, node2].entries()) {
      const links = (await node.ns.ipJson<Array<{ ifname: string }>>("link", "show")).map((link) => link.ifname);
      assert.ok(links.includes("flannel.1") && links.includes("flannel.2"), `node ${index + 1} has both vxlan devices: ${links}`);
    }

    for (const agent of started) {
      // An idle resync reads no table: the agent watches the ruleset with one `nft monitor`.
      const monitors = descendants(agent.process.pid).filter((argv) => argv[0] === "nft" && argv[1] === "monitor");
      assert.equal(monitors.length, 1, `agent ${agent.network.name} on node ${agent.node}: ${JSON.stringify(descendants(agent.process.pid))}`);
    }
    for (const agent of started) {
      // Today's flip-flop would show here: each agent finding the other's rules "unexpected" and re-applying.
      assert.ok(!agent.process.output().includes("firewall rules differ"), `agent ${agent.network.name} on node ${agent.node} saw drift:\n${agent.process.output().slice(-2000)}`);
    }

    // B's agent on node 1 goes down (its rules stay); a rule of each network is deleted by hand.
    const agentB = started.find((a) => a.node === 1 && a.network === networkB)!;
    await agentB.process.stop("SIGTERM", 10_000);
    const [pa, pb] = [subnet(1, networkA), subnet(1, networkB)];
    if (mode === "iptables") {
      const deletions = [masq(networkA.n, pa)[1]!, masq(networkB.n, pb)[1]!].map((line) => line.replace(/^-A /, "-D "));
      await node1.ns.exec(["iptables-restore", "--noflush"], { input: ["*nat", ...deletions, "COMMIT", ""].join("\n") });
    } else {
      const listing = (await node1.ns.exec(["nft", "-a", "list", "chain", "ip", "flannel-ipv4", "postrtg"])).stdout;
      for (const rule of [nftMasq(networkA.n, pa)[1]!, nftMasq(networkB.n, pb)[1]!]) {
        const handle = listing.split("\n").find((line) => line.trim().startsWith(`${rule} # handle `))?.split("# handle ")[1];
        assert.ok(handle !== undefined, `${rule} in\n${listing}`);
        await node1.ns.exec(["nft", "delete", "rule", "ip", "flannel-ipv4", "postrtg", "handle", handle.trim()]);
      }
    }
    const ownOfA = mode === "iptables" ? masq(networkA.n, pa)[1]! : nftMasq(networkA.n, pa)[1]!;
    const ownOfB = mode === "iptables" ? masq(networkB.n, pb)[1]! : nftMasq(networkB.n, pb)[1]!;
    await waitFor(async () => (await readRules(node1, mode)).masq.includes(ownOfA), {
      what: "A's agent putting its own rule back",
      timeoutMs: 3 * resyncSeconds * 1000 + 2000,
      intervalMs: 100,
    });
    await sleep(3 * resyncSeconds * 1000);
    const withoutB = await readRules(node1, mode);
    assert.ok(!withoutB.masq.includes(ownOfB), "A's agent does not put back B's rule");
    assert.equal(withoutB.masq.length, expected(1).masq.length - 1, "nothing else changed");

    // B's agent starts again: its rule comes back, everything exact again.
    const restarted = agentB.start();
    await waitFor(async () => (await readRules(node1, mode)).masq.includes(ownOfB), {
      what: "B's agent putting its own rule back",
      timeoutMs: 30_000,
      intervalMs: 200,
      process: restarted,
    }).catch((error: unknown) => {
      const exit = restarted.child.exitCode ?? restarted.child.signalCode;
      throw new Error(`${String(error)}\nB's agent (exit ${String(exit)}):\n${restarted.output().slice(-3000)}`);
    });
    await sleep(resyncSeconds * 1000 + 300);
    const final = await readRules(node1, mode);
    const wanted = expected(1);
    // A re-appended its rule, B re-appended its whole set at start: same rules, each network in order.
    assert.deepEqual([...final.masq].sort(), [...wanted.masq].sort());
    for (const n of [networkA.n, networkB.n, flannelN]) {
      assert.deepEqual(final.masq.filter((l) => l.includes(n)), wanted.masq.filter((l) => l.includes(n)), `${n}'s rules in order`);
    }
    assert.equal(final.masq[0], wanted.masq[0], "the shared mark rule first");
    assert.deepEqual(final.fwd, wanted.fwd);
    assert.deepEqual(final.jumps, [1, 1]);
    for (const agent of started) assert.equal(agent.process.child.exitCode, null, `agent ${agent.network.name} on node ${agent.node} still runs:\n${agent.process.output().slice(-2000)}`);
    await stopAll();
  }

  test("iptables mode: each agent keeps only its own rules in FLANNEL-POSTRTG and FLANNEL-FWD", async () => {
    await scenario("iptables");
  });

  test("nftables mode: each agent keeps only its own rules in Flannel's shared flannel-ipv4 table", async () => {
    await scenario("nftables");
  });
});
