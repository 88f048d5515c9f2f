// Our `flannel` CNI plugin under a real CNI client: containerd 1.6 + `ctr run --cni` with the
// standard cbr0 conflist (flannel, which delegates to bridge + host-local, then portmap), all of
// it inside one node namespace (see test/support/containerd.ts for how go-cni's fixed paths are
// redirected). A busybox container must get its address, MTU and routes from subnet.env and
// reach the gateway; after `--rm` the runtime's DEL must have undone the plugin's state.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { run } from "../../deploy/lab/tools/command.ts";
import { cniContainerId, flannelPluginPath, missingContainerdTools, startContainerd, type Containerd } from "../support/containerd.ts";
import { createNamespace, type Namespace } from "../support/netns.ts";
import { waitFor } from "../support/process.ts";
import { needsRoot } from "../support/root.ts";
import { runPrefix, uniqueName } from "../support/run-context.ts";

const missing = missingContainerdTools();
// In CI the packages are installed (scripts/ensure-deps.sh): there a missing tool is a failure.
const skip: string | false =
  needsRoot || (missing.length > 0 && process.env.CI !== "true" ? `needs containerd, ctr, runc and busybox-static: missing ${missing.join(", ")}` : false);

const gateway = "10.244.7.1";
const subnetEnv = `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=${gateway}/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n`;

interface IpAddress {
  readonly ifname: string;
  readonly addr_info: ReadonlyArray<{ family: string; local: string; prefixlen: number }>;
}

interface IpLink {
  readonly ifname: string;
}

/** The eth0 block of busybox `ip addr` output: its MTU and IPv4 addresses. */
function parseEth0(text: string): { mtu: number; inet: string[] } {
  const block = text.split(/^(?=\d+: )/m).find((chunk) => /^\d+: eth0[@:]/.test(chunk));
  assert.ok(block !== undefined, `no eth0 in the container's ip addr output:\n${text}`);
  const mtu = Number(/ mtu (\d+)/.exec(block)?.[1]);
  const inet = [...block.matchAll(/^\s+inet (\S+)/gm)].map((match) => match[1]!);
  return { mtu, inet };
}

/** Text between the container's section markers. */
function section(stdout: string, name: string): string {
  const match = new RegExp(`^=== ${name}\\n([\\s\\S]*?)^=== end ${name}$`, "m").exec(stdout);
  assert.ok(match !== null, `no ${name} section in the container's output:\n${stdout}`);
  return match[1]!;
}

/** host-local's allocation files (one per address, holding the container ID) in its data dir. */
function hostLocalAllocations(dataDir: string): Array<{ ip: string; owner: string }> {
  const network = join(dataDir, "cbr0");
  if (!existsSync(network)) return [];
  return readdirSync(network)
    .filter((file) => /^\d+\.\d+\.\d+\.\d+$/.test(file))
    .map((ip) => ({ ip, owner: readFileSync(join(network, ip), "utf8") }));
}

describe("flannel CNI plugin under containerd (ctr run --cni, cbr0 conflist)", { skip }, () => {
  let rootLinksBefore = "";
  let rootRoutesBefore = "";
  let node: Namespace | undefined;
  let containerd: Containerd | undefined;
  let work = "";

  before(async () => {
    assert.deepEqual(missing, [], "containerd test tools are missing (scripts/ensure-deps.sh installs them)");
    assert.ok(existsSync(flannelPluginPath), `${flannelPluginPath} is missing: build first (node scripts/build.ts)`);
    rootLinksBefore = (await run(["ip", "-br", "link"])).stdout;
    rootRoutesBefore = (await run(["ip", "route"])).stdout;
    work = mkdtempSync(join(tmpdir(), `${runPrefix}cnictd-`));
    node = await createNamespace("ctd");
    containerd = await startContainerd({ netns: node.name });
  });

  after(async () => {
    await containerd?.stop();
    await node?.remove();
    if (work !== "") rmSync(work, { recursive: true, force: true });
  });

  test("a busybox container gets flannel's subnet, MTU and routes, reaches cni0, and leaves nothing after --rm", { timeout: 60_000 }, async () => {
    const ns = node!;
    const subnetFile = join(work, "subnet.env");
    const flannelData = join(work, "flannel");
    const ipamData = join(work, "host-local");
    const signals = join(work, "host");
    writeFileSync(subnetFile, subnetEnv);
    mkdirSync(signals);
    // The standard conflist (flannel-reference §9.6) plus the paths that keep every file in `work`:
    // our plugin's subnetFile/dataDir, and host-local's dataDir through the ipam map flannel
    // merges into its delegate (only ranges/routes/type are set by flannel; other keys pass).
    const conflist = {
      name: "cbr0",
      cniVersion: "0.3.1",
      plugins: [
        {
          type: "flannel",
          subnetFile,
          dataDir: flannelData,
          ipam: { dataDir: ipamData },
          delegate: { hairpinMode: true, isDefaultGateway: true },
        },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    };
    // The container reports, then waits (at most 30 s) for the host to look at the node while it runs.
    const script = [
      "echo '=== addr'; ip addr; echo '=== end addr'",
      "echo '=== route'; ip route; echo '=== end route'",
      `ping -c1 -W2 ${gateway}; echo "ping-exit=$?"`,
      "echo READY",
      "i=0; while [ ! -e /host/go ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done",
    ].join("\n");
    const id = uniqueName("c");
    const containerId = cniContainerId(id);
    const started = containerd!.startWithCni(id, ["sh", "-c", script], conflist, { hostDir: signals });
    // Whatever fails below, the container is let go at once, so ctr's DEL and --rm still run.
    const release = (): void => writeFileSync(join(signals, "go"), "");
    let veth: string;
    let podIp: string;
    const delegateFile = join(flannelData, containerId);
    try {
      // If ctr fails (ADD error), waitFor stops at once and reports ctr's output.
      await waitFor(() => started.stdout().includes("READY\n"), { what: "the container's report", timeoutMs: 30_000, process: started.process });
      const stdout = started.stdout();

      // --- inside the container
      const eth0 = parseEth0(section(stdout, "addr"));
      assert.equal(eth0.mtu, 1450, "eth0 MTU is FLANNEL_MTU");
      assert.equal(eth0.inet.length, 1, `one IPv4 address on eth0: ${eth0.inet.join(", ")}`);
      const address = eth0.inet[0]!;
      const host = /^10\.244\.7\.(\d+)\/24$/.exec(address);
      assert.ok(host !== null && Number(host[1]) > 1 && Number(host[1]) < 255, `eth0 address ${address} is a host of 10.244.7.0/24`);
      podIp = address.replace(/\/24$/, "");
      const routes = section(stdout, "route").split("\n").map((line) => line.trim().replace(/\s+/g, " ")).filter((line) => line !== "");
      assert.ok(routes.includes(`default via ${gateway} dev eth0`), `default route via the gateway:\n${routes.join("\n")}`);
      assert.ok(routes.includes(`10.244.0.0/16 via ${gateway} dev eth0`), `FLANNEL_NETWORK route via the gateway:\n${routes.join("\n")}`);
      for (const route of routes) {
        const onLink = route.startsWith("10.244.7.0/24 dev eth0") && route.includes("scope link");
        assert.ok(onLink || route.includes(`via ${gateway} `), `route not via ${gateway}: ${route}`);
      }
      assert.match(stdout, /^ping-exit=0$/m, `ping ${gateway} from the container failed:\n${stdout}`);

      // --- in the node namespace while the container runs
      const cni0 = (await ns.ipJson<IpAddress[]>("addr", "show", "dev", "cni0"))[0];
      assert.ok(cni0 !== undefined, "cni0 exists in the node namespace");
      assert.ok(
        cni0.addr_info.some((info) => info.family === "inet" && info.local === gateway && info.prefixlen === 24),
        `cni0 has ${gateway}/24: ${JSON.stringify(cni0.addr_info)}`,
      );
      const ports = await ns.ipJson<IpLink[]>("link", "show", "master", "cni0");
      assert.equal(ports.length, 1, `one port on cni0: ${ports.map((link) => link.ifname).join(", ")}`);
      veth = ports[0]!.ifname;
      assert.ok(veth.startsWith("veth"), `cni0's port ${veth} is the container's veth`);
      assert.ok(existsSync(delegateFile), `flannel saved its delegate config as ${delegateFile}`);
      const delegate = JSON.parse(readFileSync(delegateFile, "utf8")) as { type?: string; mtu?: number; ipMasq?: boolean; ipam?: { dataDir?: string } };
      assert.equal(delegate.type, "bridge");
      assert.equal(delegate.mtu, 1450);
      assert.equal(delegate.ipMasq, true, "FLANNEL_IPMASQ=false: the bridge masquerades");
      assert.equal(delegate.ipam?.dataDir, ipamData, "the conflist's ipam.dataDir reached host-local");
      assert.deepEqual(hostLocalAllocations(ipamData).map((allocation) => allocation.ip), [podIp], "host-local allocated the pod's address in our dataDir");
      assert.equal((await run(["ip", "-br", "link"])).stdout, rootLinksBefore, "the root namespace's links changed while the container ran");
    } finally {
      release();
    }

    // --- after it exited: ctr ran CNI DEL and removed the container (--rm)
    const result = await started.finished;
    assert.equal(result.code, 0, `ctr run failed:\n${result.output}`);
    // The veth goes with the container's netns, which the kernel tears down asynchronously.
    await waitFor(async () => (await ns.ipJson<IpLink[]>("link", "show")).every((link) => link.ifname !== veth), {
      what: `${veth} to disappear from the node namespace`,
      timeoutMs: 10_000,
    });
    assert.deepEqual(await ns.ipJson<IpLink[]>("link", "show", "master", "cni0"), [], "no port left on cni0");
    // Only this container ever ran on the network: no allocation file may be left at all.
    assert.deepEqual(hostLocalAllocations(ipamData), [], `host-local released ${podIp} (allocated to ${containerId})`);
    assert.ok(!existsSync(delegateFile), "flannel removed its saved delegate config on DEL");
    assert.equal(await containerd!.ctr("containers", "ls", "-q"), "", "ctr run --rm removed the container");
    assert.equal((await run(["ip", "-br", "link"])).stdout, rootLinksBefore, "the root namespace's links changed");
    assert.equal((await run(["ip", "route"])).stdout, rootRoutesBefore, "the root namespace's routes changed");
  });
});
