// What a benchmark made, undone in reverse order at the end — also on Ctrl-C or SIGTERM, so an
// interrupted run leaves no namespace or process behind.
const cleanups: Array<() => Promise<void>> = [];
const interruption = new AbortController();
/** Aborted on SIGINT/SIGTERM: a benchmark's loop stops starting new work while cleanup runs. */
export const interrupted: AbortSignal = interruption.signal;

/**
 * Registers undo steps; steps run last-registered first. Returns a function that forgets them
 * again (for something that was already undone the ordinary way, such as a finished server).
 */
export function onCleanup(...steps: Array<() => Promise<void>>): () => void {
  cleanups.push(...steps);
  return () => {
    for (const step of steps) {
      const index = cleanups.lastIndexOf(step);
      if (index >= 0) cleanups.splice(index, 1);
    }
  };
}

let running: Promise<void> | undefined;

/**
 * Runs every registered step once; a failing step is reported and the rest still run. A second
 * caller while it runs (the signal handler and a benchmark's `finally`) waits for the same run.
 */
export function cleanup(): Promise<void> {
  running ??= (async () => {
    while (cleanups.length > 0) {
      try {
        await cleanups.pop()!();
      } catch (error) {
        process.stderr.write(`cleanup: ${String(error)}\n`);
      }
    }
  })().finally(() => (running = undefined));
  return running;
}

/** Stops new work, undoes everything, exits 130: on a signal, or when stdout is gone. */
function interrupt(reason: string): void {
  if (interruption.signal.aborted) return;
  process.stderr.write(`\n${reason}: cleaning up\n`);
  interruption.abort(new Error(`interrupted: ${reason}`));
  void cleanup().finally(() => process.exit(130));
}

for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => interrupt(signal));
// A closed stdout (`npm run bench -- udp | head`) would otherwise crash the run on its next
// line of output, leaving its namespaces and processes behind.
process.stdout.on("error", (error: NodeJS.ErrnoException) => interrupt(`stdout: ${error.code ?? error.message}`));
