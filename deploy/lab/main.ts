// `npm run lab` — the command line over lab.ts: start a lab and keep showing its status until
// Ctrl-C, or `--once` (start, check the full ping mesh, tear down, exit 0 only if every pod
// reached every other pod), or `down` (remove what killed labs left behind).
import { setTimeout as sleep } from "node:timers/promises";
import { defaultStateRoot } from "./layout.ts";
import { downLabs } from "./down.ts";
import { LabStartError, startLab, type Lab } from "./lab.ts";
import { LabUsageError, labUsage, parseLabArgs, type LabCommand, type LabOptions } from "./options.ts";
import { createProgress, formatSeconds } from "./progress.ts";
import { fullyReachable, unreachablePairs, type PingMatrix } from "./status.ts";
import { formatFailedPairs, formatPingMatrix, formatStatusTable } from "./table.ts";
import type { TeardownResult } from "./teardown.ts";
import { kubectlView } from "./kube/kubectl-view.ts";

const refreshMs = 3000;
const convergenceMs = 30_000;
const write = (text: string): void => void process.stdout.write(text);

// When whoever reads the lab's output is gone — `npm run lab | tee lab.log`, where the same Ctrl-C
// ends tee — every write fails with EPIPE. Unhandled, that error would end the process before its
// teardown; the lab must still remove what it made, so output errors are dropped.
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});

async function statusBlock(lab: Lab): Promise<{ lines: string[]; matrix: PingMatrix }> {
  const [status, matrix] = await Promise.all([lab.status(), lab.pingMatrix()]);
  return { lines: [...formatStatusTable(status), "", ...formatPingMatrix(matrix)], matrix };
}

/** Kube mode: the cluster as the real kubectl shows it (nodes, and the annotations flannel wrote). */
async function printKubectlView(lab: Lab): Promise<void> {
  if (lab.kube === undefined) return;
  write(`\n${(await kubectlView(lab.kube)).join("\n")}\n`);
}

function printTeardown(result: TeardownResult, ms: number | undefined): void {
  for (const line of [...result.killed.map((what) => `SIGKILLed ${what} after the grace period`), ...result.warnings]) write(`  note: ${line}\n`);
  if (result.problems.length === 0) write(`  removed everything${ms === undefined ? "" : ` … ${formatSeconds(ms)}`}\n`);
  else write(`  could not remove everything (run: npm run lab -- down):\n${result.problems.map((line) => `    ${line}\n`).join("")}`);
}

async function teardown(lab: Lab): Promise<boolean> {
  write(`tearing down ${lab.name}\n`);
  const start = Date.now();
  const result = await lab.teardown();
  printTeardown(result, Date.now() - start);
  return result.problems.length === 0;
}

/** Keeps the status on screen (redrawn in place on a terminal, reprinted when it changes otherwise). */
async function watch(lab: Lab, signal: AbortSignal): Promise<void> {
  const tty = process.stdout.isTTY === true;
  let shown: string[] = [];
  while (!signal.aborted) {
    const { lines } = await statusBlock(lab);
    if (signal.aborted) break;
    const block = [...lines, "", `${new Date().toLocaleTimeString()} · refreshing every ${refreshMs / 1000} s · Ctrl-C tears the lab down`];
    if (tty) {
      write(`${shown.length > 0 ? `\x1b[${shown.length}F\x1b[J` : ""}${block.join("\n")}\n`);
      shown = block;
    } else if (lines.join("\n") !== shown.join("\n")) {
      write(`\n${block.join("\n")}\n`);
      shown = lines;
    }
    await sleep(refreshMs, undefined, { signal }).catch(() => {});
  }
}

async function once(lab: Lab, signal: AbortSignal): Promise<boolean> {
  const start = Date.now();
  write(`  waiting for every pod to reach every other pod (up to ${convergenceMs / 1000} s) … `);
  const matrix = await lab.waitConverged({ timeoutMs: convergenceMs, signal });
  write(`${fullyReachable(matrix) ? "" : "not converged after "}${formatSeconds(Date.now() - start)}\n\n`);
  const { lines, matrix: final } = await statusBlock(lab);
  write(`${lines.join("\n")}\n`);
  await printKubectlView(lab);
  write("\n");
  if (fullyReachable(final)) return true;
  write(`unreachable pairs:\n${formatFailedPairs(final).join("\n")}\n`);
  const involved = new Set(unreachablePairs(final).flatMap(({ from, to }) => [from.node, to.node]));
  for (const node of lab.nodes.filter((candidate) => involved.has(candidate.name))) {
    write(`\n--- last lines of ${node.flanneld.logFile}\n${node.flanneld.logTail(15)}\n`);
  }
  return false;
}

async function up(options: LabOptions, runOnce: boolean): Promise<number> {
  const stop = new AbortController();
  const onSignal = (name: NodeJS.Signals): void => {
    if (stop.signal.aborted) return void write(`\n(${name}: still tearing down, please wait)\n`);
    write(`\n${name}: stopping\n`);
    stop.abort(new Error(`received ${name}`));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  write(`lab ${options.name}: ${options.nodes} nodes, ${options.backend}, network ${options.network}${options.ipMasq ? ", --ip-masq" : ""}${options.kube ? ", kube mode" : ""}\n`);
  write(`  state in ${defaultStateRoot}/${options.name}; namespaces ${options.name}-*\n`);
  const started = Date.now();
  let lab: Lab;
  try {
    lab = await startLab({ ...options, progress: createProgress(write) }, stop.signal);
  } catch (error) {
    if (!(error instanceof LabStartError)) {
      // Refused before anything was made (not root, not built, name taken).
      write(`lab: ${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    }
    write(stop.signal.aborted ? "start-up interrupted; removed what was made\n" : `${error.message}\n`);
    if (!stop.signal.aborted) for (const log of error.logs) write(`\n--- last lines of ${log.file}\n${log.lines}\n`);
    printTeardown(error.teardown, undefined);
    return stop.signal.aborted && !runOnce && error.teardown.problems.length === 0 ? 0 : 1;
  }
  write(`lab ${lab.name} up in ${formatSeconds(Date.now() - started)}\n`);

  let ok = true;
  try {
    if (runOnce) ok = await once(lab, stop.signal);
    else {
      await printKubectlView(lab);
      await watch(lab, stop.signal);
    }
  } catch (error) {
    if (!stop.signal.aborted) write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    ok = runOnce ? false : stop.signal.aborted;
  } finally {
    ok = (await teardown(lab)) && ok;
  }
  return ok ? 0 : 1;
}

async function down(name: string | undefined): Promise<number> {
  const reports = await downLabs(name, defaultStateRoot);
  if (reports.length === 0) write(`no labs under ${defaultStateRoot}\n`);
  for (const report of reports) {
    write(`${report.name}: ${report.outcome}\n${report.details.map((line) => `  ${line}\n`).join("")}`);
  }
  return reports.every((report) => report.outcome === "removed" || report.outcome === "left running") ? 0 : 1;
}

async function main(argv: readonly string[]): Promise<number> {
  let command: LabCommand;
  try {
    command = parseLabArgs(argv);
  } catch (error) {
    if (!(error instanceof LabUsageError)) throw error;
    process.stderr.write(`lab: ${error.message}\n${labUsage}`);
    return 2;
  }
  if (command.kind === "help") {
    write(labUsage);
    return 0;
  }
  if (command.kind === "down") return down(command.name);
  return up(command.options, command.once);
}

process.exit(await main(process.argv.slice(2)));
