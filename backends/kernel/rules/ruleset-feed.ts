// The kernel's netfilter change notifications, so that an idle --iptables-resync can tell "nothing
// changed in the tables holding our rules since the last clean check" without starting
// iptables-save or nft (a process per family every 5 s: most of what the rules cost an idle agent).
//
// One long-lived `nft monitor` per keeper (killed with its parent: netlink-monitor.ts). It prints one line per change of the nftables ruleset —
// `add rule ip nat FLANNEL-POSTRTG …`, `delete chain ip flannel-ipv4 postrtg`, `delete table ip6
// filter` — with iptables-nft's changes among them (they are nftables changes to the tables
// `ip nat`, `ip filter`, …), and `# new generation N …` comment lines between transactions. Each
// change is filed under "<family> <table>" ("ip nat", "ip6 flannel-ipv6"). iptables-legacy's
// changes never reach it: the keeper asks the feed only for nf_tables iptables and for nft mode.
//
// Trust, as backends/kernel/change-feed.ts does it for `ip monitor` (both read their monitor's
// socket through netlink-monitor.ts): a notification proves a change, never its absence, so the feed answers
// "maybe changed" whenever it cannot vouch for the whole interval — before the monitor is known to
// be subscribed (its NETLINK_NETFILTER socket, bound to its PID, has multicast groups in
// /proc/<pid>/net/netlink), after it died or restarted, and after any line it cannot file or
// anything on its stderr (lost events). A stamp is taken before the read it vouches for.
//
// Memory. `nft monitor` keeps a copy of the whole ruleset to print changes in context: 3.6 MiB
// resident on an empty host, 17 MiB with 4000 kube-proxy-like iptables-nft rules (about 3.5 KiB a
// rule). Where the ruleset is that large a read per resync is the better bargain, so the feed gives
// up for good once the monitor holds more than `maxMonitorRssBytes` (and says so through onGiveUp).
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import type { CoprocessSpawner } from "../batch-process.ts";
import { endChild } from "../end-child.ts";
import { dyingWithParent, netlinkNetfilter, startMonitor, waitDrained } from "../netlink-monitor.ts";
import { residentBytes } from "../resident-memory.ts";
import { EventLedger, type FeedStamp } from "../event-ledger.ts";

export interface RulesetFeed {
  /** Starts the monitor on first use; take the stamp before the read it vouches for. */
  stamp(): FeedStamp;
  /** True unless the feed saw every change since `stamp` and none in one of `tables` ("ip nat"). */
  changedSince(stamp: FeedStamp | undefined, tables: readonly string[]): boolean;
  /** Resolves once the monitor listens (false if it could not be started). */
  ready(): Promise<boolean>;
  /** Waits (bounded) until the monitor has printed what it was told and this process has read it. */
  drain(): Promise<void>;
  /** Ends the monitor by PID. Idempotent; later stamps are untrusted. */
  close(): Promise<void>;
}

export interface RulesetFeedOptions {
  /** Resident memory above which the monitor is ended and not started again (default 16 MiB). */
  readonly maxMonitorRssBytes?: number;
  /** Told once, when the feed gives up for good. */
  readonly onGiveUp?: (reason: string) => void;
}

const families = new Set(["ip", "ip6", "inet", "arp", "bridge", "netdev"]);

/** The "<family> <table>" a monitor line is filed under, "" for a line that is no change, undefined if unknown. Pure. */
export function rulesetEventKey(line: string): string | undefined {
  if (line.trim() === "" || line.startsWith("#")) return "";
  const words = line.split(" ");
  // `add rule ip nat X …`, `delete table ip6 filter`, `add element inet t s { … }`, `add ct helper ip t h …`
  for (let i = 1; i < Math.min(words.length - 1, 4); i++) {
    if (families.has(words[i]!)) return `${words[i]} ${words[i + 1]}`;
  }
  return undefined;
}

const monitorArgv = dyingWithParent(["nft", "monitor"]);
/** A monitor that died (or nft that is not installed) is started again at most this often. */
const restartEveryMs = 30_000;

const defaultMaxMonitorRssBytes = 16 * 1024 * 1024;

export function openRulesetFeed(spawner: CoprocessSpawner, options: RulesetFeedOptions = {}): RulesetFeed {
  const maxRss = options.maxMonitorRssBytes ?? defaultMaxMonitorRssBytes;
  let child: ChildProcessWithoutNullStreams | undefined;
  const ledger = new EventLedger();
  let listening = false;
  let closed = false;
  let readiness: Promise<boolean> = Promise.resolve(false);
  let exited: Promise<void> = Promise.resolve();
  let startedAt: number | undefined;

  const startIfDown = (): void => {
    if (closed || child !== undefined) return;
    if (startedAt !== undefined && performance.now() - startedAt < restartEveryMs) return;
    startedAt = performance.now();
    start();
  };

  const file = (line: string): void => {
    const key = rulesetEventKey(line);
    if (key !== "") ledger.file(key);
  };

  function start(): void {
    listening = false;
    const mine = ledger.nextGeneration();
    const monitor = startMonitor(spawner, monitorArgv, netlinkNetfilter, () => ledger.generation === mine, (ended) => {
      if (child === ended) child = undefined;
      if (ledger.generation === mine) listening = false;
    });
    if (monitor === undefined) return;
    const started = monitor.child;
    child = started;
    exited = monitor.exited;
    started.stdout.setEncoding("utf8");
    started.stderr.setEncoding("utf8");
    let partial = "";
    started.stdout.on("data", (chunk: string) => {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) file(line);
    });
    started.stderr.on("data", () => ledger.file(undefined));
    readiness = monitor.subscribed.then((subscribed) => {
      // Only the current monitor's subscription counts; a superseded one changes nothing.
      if (subscribed && ledger.generation === mine) listening = true;
      return subscribed && ledger.generation === mine;
    });
  }

  return {
    stamp() {
      startIfDown();
      return ledger.stamp(listening && child !== undefined);
    },
    changedSince(stamp, tables) {
      return closed || ledger.changedSince(stamp, tables, listening);
    },
    ready() {
      startIfDown();
      return closed ? Promise.resolve(false) : readiness;
    },
    async drain() {
      const pid = child?.pid;
      if (pid === undefined || !listening) return;
      const rss = residentBytes(pid);
      if (rss !== undefined && rss > maxRss) {
        closed = true;
        listening = false;
        options.onGiveUp?.(`nft monitor holds ${Math.round(rss / 1048576)} MiB (more than ${Math.round(maxRss / 1048576)} MiB): the ruleset is large`);
        if (child !== undefined) await endChild(child, exited, 0);
        return;
      }
      await waitDrained(pid, netlinkNetfilter);
    },
    async close() {
      closed = true;
      listening = false;
      // A monitor never reads its stdin: no grace.
      if (child !== undefined) await endChild(child, exited, 0);
    },
  };
}
