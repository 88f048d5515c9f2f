// Entry point of the `flannel` CNI plugin (dist/bin/flannel): binds runPlugin to this process —
// fds 0/1/2, the environment, and the execve hand-off. The runtime execs it once per pod
// operation, so the import graph stays small and synchronous: node: builtins and pure project
// modules only, node:child_process loaded lazily and only without process.execve, no top-level
// await (it is also bundled as CommonJS into a single executable).
import { runHandOff } from "./hand-off.ts";
import { runPlugin } from "./plugin.ts";
import { readStdin, writeFd } from "./stdio.ts";

process.exitCode = runPlugin({
  env: process.env,
  readStdin,
  writeStdout: (text) => writeFd(1, text),
  writeStderr: (text) => writeFd(2, text),
  handOff: (handOff) => runHandOff(handOff, process.env),
});
