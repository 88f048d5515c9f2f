// The kernel of one network namespace, as the data plane programs it: a CommandRunner for reads
// and one-off commands (reads answered by long-lived read coprocesses, see read-runner.ts), and
// the two batch coprocesses for writes. The agent opens it with no
// prefix (its own namespace); tests and the lab with ["ip", "netns", "exec", NS].
import { createKernelBatch, type KernelBatch, type KernelBatchOptions } from "./batch-coprocess.ts";
import type { CoprocessSpawner } from "./batch-process.ts";
import { openChangeFeed, type ChangeFeed } from "./change-feed.ts";
import { prefixCommandRunner, prefixSpawner } from "./command-prefix.ts";
import type { CommandRunner } from "./command-runner.ts";
import { createReadRunner } from "./read-runner.ts";

export interface KernelOptions {
  /** Prepended to every command, e.g. ["ip", "netns", "exec", "node1"]. */
  readonly prefix?: readonly string[];
  /** The runner (before the prefix); execCommandRunner by default. */
  readonly runner?: CommandRunner;
  /** The spawner (before the prefix); spawnCoprocess by default. */
  readonly spawner?: CoprocessSpawner;
  /**
   * Options of both writers, among them the bounds of a writer's life (batch-lifetime.ts): each is
   * replaced after 2000 lines or above 16 MiB VmRSS by default, since iproute2 never frees the
   * 4 KiB it keeps per modifying command.
   */
  readonly batch?: Omit<KernelBatchOptions, "spawner">;
  /** Answer `ip -json`/`bridge -json` reads through coprocesses (default true). */
  readonly readCoprocesses?: boolean;
}

export interface Kernel extends AsyncDisposable {
  readonly runner: CommandRunner;
  /** `ip -force -batch -`: routes, neighbours, addresses, links. */
  readonly ip: KernelBatch<"ip">;
  /**
   * A second `ip -force -batch -` (started on first use) for the routes of a burst: one chunk of
   * peers gets its routes while the next chunk's neighbours go through `ip`. The kernel takes
   * both at once: 5000 neighbours, routes and FDB entries through three tools in parallel took
   * 0.47 s here, one after the other 0.68 s.
   */
  readonly ipRoutes: KernelBatch<"ip">;
  /** `bridge -force -batch -`: FDB entries. */
  readonly bridge: KernelBatch<"bridge">;
  /** The kernel's change notifications (started on first use): lets a resync skip unchanged dumps. */
  readonly changes: ChangeFeed;
  /**
   * Ends the writers (ip, ipRoutes, bridge) at a proven checkpoint, the next line going to fresh
   * ones: after a device was recreated under its old name, their name → index caches are stale.
   */
  recycleWriters(): Promise<void>;
  /** Drains and ends the coprocesses. Idempotent. */
  close(): Promise<void>;
}

export function openKernel(options: KernelOptions = {}): Kernel {
  const prefix = options.prefix ?? [];
  const spawner = prefixSpawner(prefix, options.spawner);
  const ip = createKernelBatch("ip", { ...options.batch, spawner });
  const ipRoutes = createKernelBatch("ip", { ...options.batch, spawner });
  const bridge = createKernelBatch("bridge", { ...options.batch, spawner });
  const spawned = prefixCommandRunner(prefix, options.runner);
  const reads = options.readCoprocesses === false ? undefined : createReadRunner(spawned, spawner);
  const changes = openChangeFeed(spawner);
  let closing: Promise<void> | undefined;
  return {
    runner: reads?.runner ?? spawned,
    ip,
    ipRoutes,
    bridge,
    changes,
    recycleWriters: async () => void (await Promise.all([ip.recycle(), ipRoutes.recycle(), bridge.recycle()])),
    close: () => (closing ??= Promise.all([ip.close(), ipRoutes.close(), bridge.close(), reads?.close(), changes.close()]).then(() => undefined)),
    [Symbol.asyncDispose]: async () => {
      await Promise.all([ip[Symbol.asyncDispose](), ipRoutes[Symbol.asyncDispose](), bridge[Symbol.asyncDispose](), reads?.close(), changes.close()]);
    },
  };
}
