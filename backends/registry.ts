// The backends this build can run, by net-conf.json `Backend.Type`. An explicit table built by
// the daemon — no registration by import side effect (Flannel's init()-time registry).
import type { Backend, BackendLog, BackendType } from "./backend.ts";
import { FlannelError } from "./errors.ts";
import { createHostGwBackend } from "./hostgw/hostgw-backend.ts";
import type { Kernel } from "./kernel/kernel.ts";
import { createVxlanBackend } from "./vxlan/vxlan-backend.ts";

export interface BackendDeps {
  readonly kernel: Kernel;
  readonly log: BackendLog;
}

export type BackendFactory = (deps: BackendDeps) => Backend;

export const backendFactories = {
  vxlan: (deps) => createVxlanBackend(deps),
  "host-gw": (deps) => createHostGwBackend(deps),
} satisfies Partial<Record<BackendType, BackendFactory>>;

export type SupportedBackendType = keyof typeof backendFactories;

export const supportedBackendTypes: readonly SupportedBackendType[] = Object.keys(backendFactories) as SupportedBackendType[];

function isSupported(type: string): type is SupportedBackendType {
  return Object.hasOwn(backendFactories, type);
}

/**
 * The backend for `type` (as net-conf.json's Backend.Type, which Flannel lower-cases before the
 * lookup). Any other type — udp included, until it is built — is refused naming the supported ones.
 */
export function createBackend(type: string, deps: BackendDeps): Backend {
  const wanted = type.toLowerCase();
  if (isSupported(wanted)) return backendFactories[wanted](deps);
  const supported = supportedBackendTypes.join(", ");
  throw new FlannelError("netconf-invalid", `unsupported backend type ${JSON.stringify(type)}: this version of flannel-ts supports ${supported}`, {
    details: { field: "Backend.Type", value: type, allowed: [...supportedBackendTypes] },
  });
}
