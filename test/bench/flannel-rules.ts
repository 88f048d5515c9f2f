// Flannel's own netfilter rules, written here from the reference (flannel-reference.md §8.1 and
// §8.2, the `iptables -S` forms of Flannel's e2e/rules.go), never copied from the agent under
// test: the by-hand baselines carry exactly what a Flannel node run with --ip-masq carries, so an
// extra or wrong rule of our agent shows up as a throughput gap (and, below, as a listed diff).
//   N = the flannel Network, P = the node's own lease subnet.
import { formatCidr, parseCidr } from "../../backends/net/ip.ts";
import { run } from "../../deploy/lab/tools/command.ts";

const masq = '-m comment --comment "flanneld masq"';
const forward = '-m comment --comment "flanneld forward"';

/** `10.244.5.1/24` (subnet.env's FLANNEL_SUBNET form) → `10.244.5.0/24`, as Flannel writes P. */
function masked(cidr: string): string {
  const parsed = parseCidr(cidr);
  if (parsed === undefined) throw new Error(`not a CIDR: ${JSON.stringify(cidr)}`);
  return formatCidr(parsed);
}

/** Flannel's rules as `-A` lines per table, in Flannel's order. */
export function flannelRules(network: string, subnet: string): { nat: string[]; filter: string[] } {
  const [n, p] = [masked(network), masked(subnet)];
  return {
    nat: [
      `-A POSTROUTING ${masq} -j FLANNEL-POSTRTG`,
      `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 ${masq} -j RETURN`,
      `-A FLANNEL-POSTRTG -s ${p} -d ${n} ${masq} -j RETURN`,
      `-A FLANNEL-POSTRTG -s ${n} -d ${p} ${masq} -j RETURN`,
      `-A FLANNEL-POSTRTG ! -s ${n} -d ${p} ${masq} -j RETURN`,
      `-A FLANNEL-POSTRTG -s ${n} ! -d 224.0.0.0/4 ${masq} -j MASQUERADE --random-fully`,
      `-A FLANNEL-POSTRTG ! -s ${n} -d ${n} ${masq} -j MASQUERADE --random-fully`,
    ],
    filter: [`-A FORWARD ${forward} -j FLANNEL-FWD`, `-A FLANNEL-FWD -s ${n} ${forward} -j ACCEPT`, `-A FLANNEL-FWD -d ${n} ${forward} -j ACCEPT`],
  };
}

/** Programs Flannel's rules in a fresh node namespace, in one iptables-restore as Flannel does. */
export async function programFlannelRules(ns: string, network: string, subnet: string): Promise<void> {
  const rules = flannelRules(network, subnet);
  const payload = ["*nat", ":FLANNEL-POSTRTG - [0:0]", ...rules.nat, "COMMIT", "*filter", ":FLANNEL-FWD - [0:0]", ...rules.filter, "COMMIT", ""].join("\n");
  await run(["ip", "netns", "exec", ns, "iptables-restore", "--noflush"], { input: payload });
}

export interface RuleDiff {
  /** Reference rules the node lacks. */
  readonly missing: string[];
  /** Rules the node has beyond Flannel's (any table). */
  readonly extra: string[];
}

/** Compares a node's `iptables-save` `-A` lines with Flannel's rules for its network and subnet. */
export async function diffWithFlannel(ns: string, network: string, subnet: string): Promise<RuleDiff> {
  const { stdout } = await run(["ip", "netns", "exec", ns, "iptables-save"]);
  const actual = stdout.split("\n").filter((line) => line.startsWith("-A "));
  const rules = flannelRules(network, subnet);
  const expected = [...rules.nat, ...rules.filter];
  return { missing: expected.filter((rule) => !actual.includes(rule)), extra: actual.filter((rule) => !expected.includes(rule)) };
}
