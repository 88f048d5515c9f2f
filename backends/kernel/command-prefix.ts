// Pointing the kernel layer at another network namespace without changing it: every command
// and coprocess is started as `<prefix> <argv…>`, e.g. `ip netns exec NODE ip -json route show`.
// The agent runs with an empty prefix in its own namespace; tests and the lab pass
// ["ip", "netns", "exec", NS]. `ip netns exec` execs the command, so PIDs stay those of the tool.
import { spawnCoprocess, type CoprocessSpawner } from "./batch-process.ts";
import { execCommandRunner, type CommandRunner } from "./command-runner.ts";

export function prefixCommandRunner(prefix: readonly string[], runner: CommandRunner = execCommandRunner): CommandRunner {
  if (prefix.length === 0) return runner;
  return (argv, options) => runner([...prefix, ...argv], options);
}

export function prefixSpawner(prefix: readonly string[], spawner: CoprocessSpawner = spawnCoprocess): CoprocessSpawner {
  if (prefix.length === 0) return spawner;
  return (argv) => spawner([...prefix, ...argv]);
}
