// The data plane's drops reach the log: one warn line when counts moved since the last look (what
// moved, and the totals), nothing when they did not, and drops from before the first peer table
// (a restart: peers' datagrams arrive before it) at info only.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { DataPlaneCounters } from "../../../backends/udp/dgram-native.ts";
import { createDropReporter } from "../../../backends/udp/drop-report.ts";
import { createMemoryLog } from "../../support/memory-log.ts";

const counters = (drops: Partial<DataPlaneCounters["drops"]>): DataPlaneCounters => ({
  tunRxPackets: 0, tunRxBytes: 0, udpTxPackets: 0, udpTxBytes: 0, udpRxPackets: 0, udpRxBytes: 0, tunTxPackets: 0, tunTxBytes: 0,
  drops: { noPeer: 0, unknownSource: 0, spoofedSource: 0, ttlExpired: 0, malformed: 0, tunWriteError: 0, udpSendError: 0, ...drops },
});

test("drops before the first peer table are logged at info, later ones as a warning with what moved", () => {
  const log = createMemoryLog();
  const reporter = createDropReporter(log);
  reporter.baseline(counters({ unknownSource: 19 }));
  reporter.report(counters({ unknownSource: 19 }));
  assert.equal(log.find("dropped", "warn").length, 0);
  assert.deepEqual(log.find("before it had its peer table", "info")[0]?.fields.since, { unknownSource: 19 });
  reporter.report(counters({ unknownSource: 20, malformed: 2 }));
  const [warning] = log.find("udp data plane dropped packets", "warn");
  assert.deepEqual(warning?.fields.since, { unknownSource: 1, malformed: 2 });
  assert.equal((warning?.fields.totals as Record<string, number>).unknownSource, 20);
  reporter.report(counters({ unknownSource: 20, malformed: 2 }));
  assert.equal(log.find("dropped", "warn").length, 1, "nothing moved: no second line");
});
