// The backends this build can run, by net-conf.json `Backend.Type`. An explicit table built by
// the daemon — no registration by import side effect (Flannel's init()-time registry).
//
// udp is loaded lazily: its module brings the native data plane (dgram-native), which vxlan and
// host-gw nodes must never load. The factory returns at once a backend whose first call imports
// the real one, so the registry stays synchronous for every type (the import above is types only).
import type { Backend, BackendLog, BackendType } from "./backend.ts";
import { FlannelError } from "./errors.ts";
import { createHostGwBackend } from "./hostgw/hostgw-backend.ts";
import type { Kernel } from "./kernel/kernel.ts";
import type { UdpBackend, UdpBackendDeps } from "./udp/udp-backend.ts";
import { createVxlanBackend } from "./vxlan/vxlan-backend.ts";

export interface BackendDeps {
  readonly kernel: Kernel;
  readonly log: BackendLog;
  /** For udp only: where its data plane's snapshot is kept, and one resumed from it at start. */
  readonly udp?: Pick<UdpBackendDeps, "snapshotFile" | "resumed">;
}

export type BackendFactory = (deps: BackendDeps) => Backend;

/**
 * The udp backend, its module imported on the first call (prepare, in the daemon). The hooks the
 * agent finds by shape (counters, programmedPeers, deviceNames) answer from the loaded backend.
 */
function lazyUdpBackend(deps: BackendDeps): UdpBackend {
  let loaded: UdpBackend | undefined;
  let loading: Promise<UdpBackend> | undefined;
  const backend = (): Promise<UdpBackend> => (loading ??= import("./udp/udp-backend.ts").then((module) => (loaded = module.createUdpBackend({ kernel: deps.kernel, log: deps.log, ...deps.udp }))));
  return {
    type: "udp",
    prepare: async (local, signal) => (await backend()).prepare(local, signal),
    configure: async (own, signal) => (await backend()).configure(own, signal),
    reconcile: async (peers, signal, depth) => (await backend()).reconcile(peers, signal, depth),
    apply: async (changes, signal) => (await backend()).apply(changes, signal),
    counters: () => loaded?.counters(),
    programmedPeers: () => loaded?.programmedPeers() ?? 0,
    deviceNames: () => loaded?.deviceNames() ?? [],
    // Never loads the module only to close it.
    close: async () => {
      if (loading !== undefined) await (await loading).close();
    },
  };
}

export const backendFactories = {
  vxlan: (deps) => createVxlanBackend(deps),
  "host-gw": (deps) => createHostGwBackend(deps),
  udp: (deps) => lazyUdpBackend(deps),
} satisfies Record<BackendType, BackendFactory>;

export type SupportedBackendType = keyof typeof backendFactories;

export const supportedBackendTypes: readonly SupportedBackendType[] = Object.keys(backendFactories) as SupportedBackendType[];

function isSupported(type: string): type is SupportedBackendType {
  return Object.hasOwn(backendFactories, type);
}

/**
 * The backend for `type` (as net-conf.json's Backend.Type, which Flannel lower-cases before the
 * lookup). Any other type is refused naming the supported ones.
 */
export function createBackend(type: string, deps: BackendDeps): Backend {
  const wanted = type.toLowerCase();
  if (isSupported(wanted)) return backendFactories[wanted](deps);
  const supported = supportedBackendTypes.join(", ");
  throw new FlannelError("netconf-invalid", `unsupported backend type ${JSON.stringify(type)}: this version of flannel-ts supports ${supported}`, {
    details: { field: "Backend.Type", value: type, allowed: [...supportedBackendTypes] },
  });
}
