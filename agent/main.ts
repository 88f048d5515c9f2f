// flanneld's entry point, and the only place in flannel-ts that calls process.exit.
//
// It is deliberately tiny and imports nothing at load time: when it is started on an old Node
// (say `/usr/bin/node dist/agent/main.js` on a host whose distribution ships Node 20), the first
// thing the operator sees must be one clear line naming the Node it needs, not a syntax error or a
// missing API deep inside a dependency. Everything else is loaded only after that check passes.

const nodeMajor = Number(process.versions.node.split(".")[0]);
if (!(nodeMajor >= 24)) {
  process.stderr.write(
    `flanneld: needs Node.js 24 or newer, this is v${process.versions.node}` +
      " (start it through dist/bin/flanneld, which uses the pinned Node)\n",
  );
  process.exit(1);
}

const { runCli } = await import("./cli.ts");
// SIGTERM/SIGINT stop the daemon cleanly (the data plane stays); a second signal exits at once.
const stop = new AbortController();
for (const name of ["SIGTERM", "SIGINT"] as const) {
  process.on(name, () => {
    if (stop.signal.aborted) process.exit(1);
    stop.abort(new Error(`received ${name}`));
  });
}
let exitCode: number;
try {
  exitCode = await runCli(
    process.argv.slice(2),
    process.env,
    {
      writeStdout: (text) => process.stdout.write(text),
      writeStderr: (text) => process.stderr.write(text),
    },
    stop.signal,
  );
} catch (error) {
  // Anything that reaches here is a bug, not a configuration problem: show the whole stack.
  process.stderr.write(`flanneld: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  exitCode = 1;
}
// On Linux, writes to pipes, files and terminals are synchronous, so nothing printed above is
// lost by exiting right away.
process.exit(exitCode);
