// The kernel's own change notifications, so that a periodic resync can tell "nothing flannel owns
// has changed since the last clean check" without dumping thousands of routes, neighbours and FDB
// entries every few seconds (with 5000 peers those dumps were most of an idle agent's CPU).
//
// One long-lived `ip monitor label link address route neigh` per kernel. It prints one event per
// line, prefixed with its kind ([LINK], [ADDR], [ROUTE], [NEIGH]; FDB entries of a vxlan device
// arrive as [NEIGH] lines, as they share the kernel's neighbour group), continuation lines indented.
// Each event is filed under "<KIND> <device>"; a caller asks whether any of its keys saw an event
// after a stamp it took before its last clean dump.
//
// Trust. A notification can only prove a change, never its absence, so the feed answers "maybe
// changed" (true) whenever it cannot vouch for the whole interval: before the monitor is known to
// be subscribed, after it died or restarted, and after any line it cannot file (iproute2 prints
// "netlink receive error … No buffer space available" when the kernel dropped events for it).
// Subscription is confirmed from /proc/<pid>/net/netlink (netlink-monitor.ts): the monitor's
// NETLINK_ROUTE socket appears there, with its port id (the PID, as iproute2 binds it) and its
// multicast groups, once it listens. Events that the monitor delivers a moment after the change they report can only
// make a later resync dump once more, never skip a change: a stamp is taken before the dump it
// vouches for.
//
// Cost. During a burst (5000 peers programmed at once) the monitor prints three lines per peer,
// and filing each as it comes cost the agent's one thread a tenth of the burst. So output is kept
// as it came, unread, and filed only when a caller asks whether something changed — and dropped
// unread when a caller takes a new stamp, since everything before a stamp is covered by the read
// that stamp precedes (older stamps are then told "maybe changed"). What waits is bounded
// (`maxUnreadBytes`); past that it is dropped the same way.
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import type { CoprocessSpawner } from "./batch-process.ts";
import { endChild } from "./end-child.ts";
import { EventLedger, type FeedStamp } from "./event-ledger.ts";
import { dyingWithParent, netlinkRoute, startMonitor, waitDrained } from "./netlink-monitor.ts";

export type { FeedStamp } from "./event-ledger.ts";

export type ChangeKind = "LINK" | "ADDR" | "ROUTE" | "NEIGH";

export interface ChangeFeed {
  /** Starts the monitor on first use; take the stamp before reading what it will vouch for. */
  stamp(): FeedStamp;
  /** True unless the feed saw every event since `stamp` and none was filed under one of `keys` ("ROUTE eth0"). */
  changedSince(stamp: FeedStamp | undefined, keys: readonly string[]): boolean;
  /** Resolves once the monitor listens (or could not be started); for tests and start-up. */
  ready(): Promise<boolean>;
  /**
   * Waits (briefly, bounded) until the monitor has taken every queued event from its socket and
   * this process has read what it printed, so that a change made before the call is filed when it
   * returns. A change the monitor is printing at that very moment can still come a moment later:
   * it then makes the next resync read the kernel.
   */
  drain(): Promise<void>;
  /**
   * Ends the monitor until the next stamp() (or ready()) starts a new one; every stamp taken before
   * is untrusted from then on. For bursts: each route, neighbour and FDB entry written makes the
   * kernel wake the monitor, which prints it into a pipe this process reads — 5000 routes took
   * 0.41 s alone, 0.64 s with the monitor reading them.
   */
  suspend(): Promise<void>;
  /** Ends the monitor (SIGKILL by PID, see end-child.ts). Idempotent; later stamps are untrusted. */
  close(): Promise<void>;
}

const eventLine = /^\[(LINK|ADDR|ROUTE|NEIGH)\](?:Deleted )?(.*)$/;

const routeTypes = new Set(["local", "broadcast", "multicast", "unreachable", "prohibit", "blackhole", "throw", "nat", "anycast", "unicast"]);

/**
 * The key an event is filed under. Pure.
 *  - routes: "ROUTE <dev>" (IPv4) or "ROUTE6 <dev>", main table only — the kernel's own routes in
 *    the local table, and an IPv6 router advertisement refreshing a default route, must not make
 *    an IPv4 resync read; other tables are filed apart ("ROUTE <dev> table <t>");
 *  - neighbours (FDB entries of a vxlan device among them): "NEIGH <dev>";
 *  - links and addresses: "LINK <name>", "ADDR <name>" (the name after the index).
 */
export function eventKey(line: string): string | undefined {
  const match = eventLine.exec(line);
  if (match === null) return undefined;
  const [, kind, rest = ""] = match;
  if (kind === "LINK" || kind === "ADDR") {
    const name = /^\d+: ([^:@\s]+)/.exec(rest)?.[1];
    return name === undefined ? undefined : `${kind} ${name}`;
  }
  const device = /(?:^|\s)dev (\S+)/.exec(rest)?.[1];
  if (device === undefined) return undefined;
  if (kind === "NEIGH") return `NEIGH ${device}`;
  const words = rest.split(" ");
  const destination = routeTypes.has(words[0] ?? "") ? words[1] : words[0];
  const gateway = /(?:^|\s)via (?:inet6 )?(\S+)/.exec(rest)?.[1];
  const family = destination?.includes(":") === true || gateway?.includes(":") === true ? "6" : "";
  const table = /(?:^|\s)table (\S+)/.exec(rest)?.[1];
  return `ROUTE${family} ${device}${table === undefined || table === "main" ? "" : ` table ${table}`}`;
}

const monitorArgv = dyingWithParent(["ip", "monitor", "label", "link", "address", "route", "neigh"]);
const maxUnreadBytes = 1024 * 1024;

export function openChangeFeed(spawner: CoprocessSpawner): ChangeFeed {
  let child: ChildProcessWithoutNullStreams | undefined;
  const ledger = new EventLedger();
  let listening = false;
  let closed = false;
  let readiness: Promise<boolean> = Promise.resolve(false);
  let exited: Promise<void> = Promise.resolve();
  /** Output not filed yet, as it came; `partial` is the unfinished last line of what was filed. */
  let unread: Buffer[] = [];
  let unreadBytes = 0;
  let partial = "";

  /** Everything unread counts as a change no key can rule out (for stamps older than the next). */
  function dropUnread(): void {
    if (unreadBytes === 0 && partial === "") return;
    unread = [];
    unreadBytes = 0;
    partial = "";
    ledger.file(undefined);
  }

  function fileUnread(): void {
    if (unreadBytes === 0) return;
    const text = partial + Buffer.concat(unread, unreadBytes).toString("utf8");
    unread = [];
    unreadBytes = 0;
    const lines = text.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) file(line);
  }

  function start(): void {
    listening = false;
    const mine = ledger.nextGeneration();
    const monitor = startMonitor(spawner, monitorArgv, netlinkRoute, () => ledger.generation === mine, (ended) => {
      if (child === ended) child = undefined;
      if (ledger.generation === mine) listening = false;
    });
    if (monitor === undefined) return;
    const started = monitor.child;
    child = started;
    exited = monitor.exited;
    unread = [];
    unreadBytes = 0;
    partial = "";
    started.stdout.on("data", (chunk: Buffer) => {
      if (child !== started) return;
      unread.push(chunk);
      unreadBytes += chunk.length;
      if (unreadBytes > maxUnreadBytes) dropUnread();
    });
    // Anything on stderr is a complaint about lost or unreadable events.
    started.stderr.on("data", () => ledger.file(undefined));
    readiness = monitor.subscribed.then((subscribed) => {
      // Only the current monitor's subscription counts; a superseded one changes nothing.
      if (subscribed && ledger.generation === mine) listening = true;
      return subscribed && ledger.generation === mine;
    });
  }

  function file(line: string): void {
    if (line === "" || line.startsWith(" ") || line.startsWith("\t")) return;
    ledger.file(eventKey(line));
  }

  return {
    stamp() {
      if (!closed && child === undefined) start();
      // What came before this stamp is covered by the read the caller is about to make.
      dropUnread();
      return ledger.stamp(listening && child !== undefined);
    },
    changedSince(stamp, keys) {
      if (closed) return true;
      fileUnread();
      return ledger.changedSince(stamp, keys, listening);
    },
    ready() {
      if (!closed && child === undefined) start();
      return readiness;
    },
    async drain() {
      const pid = child?.pid;
      if (pid === undefined || !listening) return;
      await waitDrained(pid, netlinkRoute);
    },
    async suspend() {
      const running = child;
      if (running === undefined) return;
      // A new generation: stamps of this monitor no longer match (changedSince says "maybe").
      ledger.nextGeneration();
      child = undefined;
      listening = false;
      dropUnread();
      await endChild(running, exited, 0);
    },
    async close() {
      closed = true;
      listening = false;
      // A monitor never reads its stdin: no grace.
      if (child !== undefined) await endChild(child, exited, 0);
    },
  };
}
