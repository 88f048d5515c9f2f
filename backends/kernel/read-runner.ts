// A CommandRunner that answers read-only `ip -json …` and `bridge -json …` commands through
// long-lived read coprocesses (read-coprocess.ts), one per set of global options, and passes
// every other command to the ordinary runner. Callers keep building argv as for a spawned
// command; whether a read was answered by a coprocess is invisible to them, and a coprocess that
// cannot answer falls back to a spawn of the same argv.
//
// Device names. iproute2 keeps a per-process cache of device names and indexes; in a long-lived
// process a name looked up before its device was deleted and recreated still maps to the old
// index, so `neigh show dev flannel.1` would quietly answer for a device that no longer exists.
// Reads that name a device therefore go to coprocesses of their own, and refreshDeviceNames()
// ends those (the next such read starts a fresh process). A caller that names a device in a read
// must watch the device's index (a link dump: dumps are always fresh, the kernel reports each
// object's index) and refresh when it changed — the vxlan and host-gw backends do, every run.
import type { CoprocessSpawner } from "./batch-process.ts";
import { untilAborted } from "../until-aborted.ts";
import type { CommandRunner } from "./command-runner.ts";
import { openReadCoprocess, type ReadCoprocess, type ReadTool } from "./read-coprocess.ts";

export interface ReadRunner {
  readonly runner: CommandRunner;
  /** Ends the readers that answered reads naming a device; later ones start afresh. */
  refreshDeviceNames(): Promise<void>;
  /** Ends every read coprocess. Idempotent; later reads are spawned the ordinary way. */
  close(): Promise<void>;
}

/** Global options a batch process can take once for all its lines (no option with a value). */
const batchableOptions = new Set(["-json", "-j", "-d", "-details", "-4", "-6"]);
const readObjects: Readonly<Record<ReadTool, ReadonlySet<string>>> = {
  ip: new Set(["route", "neigh", "neighbour", "link", "address", "addr"]),
  bridge: new Set(["fdb", "link", "vlan"]),
};
const readVerbs = new Set(["show", "list", "get"]);
/** Words followed by a device name, resolved through iproute2's name cache. */
const deviceWords = new Set(["dev", "oif", "iif", "master", "vrf", "brport", "port"]);
// Words the batch parser splits and unquotes exactly as argv would be: no spaces, quotes, `#`.
const plainWord = /^[\w.:/@%+-]+$/;

interface ReadRoute {
  readonly tool: ReadTool;
  readonly options: readonly string[];
  readonly words: readonly string[];
  /** Whether the words name a device (answered by a reader that refreshDeviceNames() restarts). */
  readonly namesDevice: boolean;
}

/** Which reader answers argv, or undefined when argv must be spawned. Pure. */
export function readRouteOf(argv: readonly string[]): ReadRoute | undefined {
  const [tool, ...rest] = argv;
  if (tool !== "ip" && tool !== "bridge") return undefined;
  const firstWord = rest.findIndex((word) => !word.startsWith("-"));
  if (firstWord < 0) return undefined;
  const options = rest.slice(0, firstWord);
  const words = rest.slice(firstWord);
  if (!options.every((option) => batchableOptions.has(option))) return undefined;
  if (!options.includes("-json") && !options.includes("-j")) return undefined;
  const [object, verb] = words;
  if (object === undefined || !readObjects[tool].has(object) || verb === undefined || !readVerbs.has(verb)) return undefined;
  if (!words.every((word) => plainWord.test(word))) return undefined;
  return { tool, options: [...new Set(options)].sort(), words, namesDevice: words.some((word) => deviceWords.has(word)) };
}

/** The ReadRunner behind each runner it made, so that holders of just the runner can refresh it. */
const refreshers = new WeakMap<CommandRunner, () => Promise<void>>();

/**
 * Restarts the readers of `runner` that resolve device names (see the header). A runner that is
 * no read runner spawns every command and has no cache to refresh.
 */
export async function refreshDeviceNames(runner: CommandRunner): Promise<void> {
  await refreshers.get(runner)?.();
}

export function createReadRunner(fallback: CommandRunner, spawner: CoprocessSpawner): ReadRunner {
  const readers = new Map<string, ReadCoprocess>();
  let closed = false;

  const refresh = async (): Promise<void> => {
    const stale = [...readers].filter(([key]) => key.startsWith("dev "));
    for (const [key] of stale) readers.delete(key);
    // Reads already sent to them still get their answers: close() ends stdin after them.
    await Promise.all(stale.map(([, reader]) => reader.close()));
  };

  const runner: CommandRunner = async (argv, options = {}) => {
    const route = closed || options.input !== undefined ? undefined : readRouteOf(argv);
    if (route === undefined) return fallback(argv, options);
    options.signal?.throwIfAborted();
    const key = [...(route.namesDevice ? ["dev"] : []), route.tool, ...route.options].join(" ");
    let reader = readers.get(key);
    if (reader === undefined) {
      reader = openReadCoprocess(route.tool, route.options, spawner);
      readers.set(key, reader);
    }
    const answer = reader.read(route.words);
    // An aborted caller stops waiting; the answer is still consumed, keeping the protocol in step.
    const output = await (options.signal === undefined ? answer : untilAborted(answer, options.signal));
    return output ?? fallback(argv, options);
  };

  refreshers.set(runner, refresh);
  return {
    runner,
    refreshDeviceNames: refresh,
    async close() {
      closed = true;
      await Promise.all([...readers.values()].map((reader) => reader.close()));
    },
  };
}
