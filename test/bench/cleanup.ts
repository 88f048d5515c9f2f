// What a benchmark made, undone in reverse order at the end — also on Ctrl-C or SIGTERM, so an
// interrupted run leaves no namespace or process behind.
const cleanups: Array<() => Promise<void>> = [];

/** Registers undo steps; steps run last-registered first. */
export function onCleanup(...steps: Array<() => Promise<void>>): void {
  cleanups.push(...steps);
}

/** Runs every registered step once; a failing step is reported and the rest still run. */
export async function cleanup(): Promise<void> {
  while (cleanups.length > 0) {
    try {
      await cleanups.pop()!();
    } catch (error) {
      process.stderr.write(`cleanup: ${String(error)}\n`);
    }
  }
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: cleaning up\n`);
    void cleanup().finally(() => process.exit(130));
  });
}
