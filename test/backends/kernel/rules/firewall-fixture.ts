// Shared by the firewall-rule tests: the networks Flannel's golden rules are written for, a
// CommandRunner that runs inside a test namespace (and records what it ran), and a snapshot of
// the root namespace's firewall so every suite can prove it never touched it.
import assert from "node:assert/strict";
import { execCommandRunner, type CommandRunner } from "../../../../backends/kernel/command-runner.ts";
import { parseCidr, type Cidr } from "../../../../backends/net/ip.ts";
import { run } from "../../../../deploy/lab/tools/command.ts";
import type { Namespace } from "../../../support/netns.ts";

export function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  if (parsed === undefined) throw new Error(`bad CIDR in test: ${text}`);
  return parsed;
}

/** F:e2e/rules.go's concrete values: cluster network N and this node's lease subnet P. */
export const v4 = { family: 4, network: cidr("10.244.0.0/16"), subnet: cidr("10.244.1.0/24") } as const;
export const v6 = { family: 6, network: cidr("fd00:10:244::/56"), subnet: cidr("fd00:10:244:1::/64") } as const;

export interface RecordingRunner {
  readonly runner: CommandRunner;
  /** argv of every command run so far, without the `ip netns exec NS` prefix. */
  readonly calls: string[][];
}

/** Runs every command inside `ns` (`ip netns exec NS argv…`) and records it. */
export function namespaceRunner(ns: Namespace): RecordingRunner {
  const calls: string[][] = [];
  return {
    calls,
    runner: (argv, options) => {
      calls.push([...argv]);
      return execCommandRunner(["ip", "netns", "exec", ns.name, ...argv], options);
    },
  };
}

/** A command run inside the namespace that must succeed; returns stdout. */
export async function inNs(ns: Namespace, ...argv: string[]): Promise<string> {
  return (await ns.exec(argv)).stdout;
}

/** What `iptables -S` prints for Flannel's chain plus the jump, as F:e2e/rules.go collects it. */
export async function flannelIptablesListing(
  ns: Namespace,
  command: "iptables" | "ip6tables",
  table: "nat" | "filter",
): Promise<string[]> {
  const hook = table === "nat" ? "POSTROUTING" : "FORWARD";
  const chain = table === "nat" ? "FLANNEL-POSTRTG" : "FLANNEL-FWD";
  const hookLines = (await inNs(ns, command, "-t", table, "-S", hook)).split("\n").filter((l) => l.includes("FLANNEL"));
  const chainLines = (await inNs(ns, command, "-t", table, "-S", chain)).split("\n").filter((l) => l !== "");
  return [...hookLines, ...chainLines];
}

export interface RootFirewall {
  /** Fails the test if the root namespace's iptables, ip6tables or nft ruleset changed. */
  assertUnchanged(): Promise<void>;
}

async function rootFirewallText(): Promise<string> {
  // iptables-save stamps the time on its comment lines; only the rules matter.
  const strip = (text: string) => text.split("\n").filter((line) => !line.startsWith("#")).join("\n");
  const [ipv4, ipv6, nft] = await Promise.all([
    run(["iptables-save"]),
    run(["ip6tables-save"]),
    run(["nft", "list", "ruleset"]),
  ]);
  return [strip(ipv4.stdout), strip(ipv6.stdout), nft.stdout].join("\n--\n");
}

export async function snapshotRootFirewall(): Promise<RootFirewall> {
  const before = await rootFirewallText();
  return {
    assertUnchanged: async () => assert.equal(await rootFirewallText(), before, "the root namespace's firewall changed"),
  };
}

/** Polls `condition` until it holds or `timeoutMs` passes. */
export async function eventually(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
