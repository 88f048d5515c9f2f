// Datagrams and packets the data plane dropped, logged when the counts moved: one warn line per
// reconcile at most (each resync), with what was dropped since the last line and the totals.
// Flannel drops silently; here a forged datagram (a source that is no peer, an inner source
// outside the sending peer's subnet) or a payload that is no IPv4 packet leaves a trace.
import type { BackendLog } from "../backend.ts";
import type { DataPlaneCounters } from "./dgram-native.ts";

type Drops = DataPlaneCounters["drops"];

export interface DropReporter {
  report(counters: DataPlaneCounters): void;
  /**
   * Takes the counts so far as the starting point, logging them at info: what the data plane
   * dropped before it had a peer table (a restart: peers' datagrams arrive before the table).
   */
  baseline(counters: DataPlaneCounters): void;
}

export function createDropReporter(log: BackendLog): DropReporter {
  let last: Readonly<Record<string, number>> = {};
  const advance = (counters: DataPlaneCounters): { since: Record<string, number>; totals: Record<string, number> } => {
    const totals = { ...(counters.drops as Drops & Readonly<Record<string, number>>) };
    const since: Record<string, number> = {};
    for (const [reason, count] of Object.entries(totals)) {
      const delta = count - (last[reason] ?? 0);
      if (delta > 0) since[reason] = delta;
    }
    last = totals;
    return { since, totals };
  };
  return {
    report(counters) {
      const { since, totals } = advance(counters);
      if (Object.keys(since).length > 0) log.warn("udp data plane dropped packets", { since, totals });
    },
    baseline(counters) {
      const { since } = advance(counters);
      if (Object.keys(since).length > 0) log.info("udp data plane dropped packets before it had its peer table", { since });
    },
  };
}
