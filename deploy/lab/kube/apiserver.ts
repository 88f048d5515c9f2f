// The lab's side of its API server: starts deploy/lab/kube/apiserver-main.ts inside the fabric
// namespace (so nodes reach it at 198.18.0.254:6443 over the underlay), waits for it, and talks
// to it through its control socket. kubectl runs inside the fabric namespace too.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join, resolve } from "node:path";
import type { CommandResult } from "../tools/command.ts";
import { kubectl135 } from "../tools/kubectl.ts";
import { waitFor } from "../tools/wait.ts";
import type { LabLayout } from "../layout.ts";
import { execIn } from "../namespace.ts";
import { logTail, spawnInNamespace } from "../processes.ts";
import type { Ledger } from "../state.ts";
import type { ServerInfo } from "./apiserver-main.ts";

const serverEntry = resolve(import.meta.dirname, "apiserver-main.ts");

export interface LabKubeApi {
  /** https://198.18.0.254:6443 — reachable from the fabric and node namespaces only. */
  readonly url: string;
  readonly caFile: string;
  readonly adminToken: string;
  /** A kubeconfig for the admin token (used by kubectl inside the fabric namespace). */
  readonly adminKubeconfig: string;
  readonly ns: string;
  readonly pid: number;
  readonly logFile: string;
  /** One operation of the server's TypeScript API (deploy/lab/kube-api/server.ts) by name: "store.create", "faults.set", "stop", … */
  call<T = unknown>(op: string, ...args: unknown[]): Promise<T>;
  /** kubectl 1.35 with the admin kubeconfig, inside the fabric namespace. */
  kubectl(args: readonly string[], options?: { allowFailure?: boolean }): Promise<CommandResult>;
}

export class LabKubeApiError extends Error {
  override readonly name = "LabKubeApiError";
  readonly code: unknown;
  readonly body: unknown;
  constructor(message: string, code: unknown, body: unknown) {
    super(message);
    this.code = code;
    this.body = body;
  }
}

function controlCall(socketPath: string, op: string, args: readonly unknown[]): Promise<unknown> {
  return new Promise((resolvePromise, reject) => {
    const req = request({ socketPath, path: "/", method: "POST", headers: { "content-type": "application/json" } }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        try {
          const reply = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { result?: unknown; error?: { message: string; code: unknown; body: unknown } };
          if (reply.error !== undefined) reject(new LabKubeApiError(`${op}: ${reply.error.message}`, reply.error.code, reply.error.body));
          else resolvePromise(reply.result);
        } catch (error) {
          reject(error);
        }
      });
      response.on("error", reject);
    });
    req.on("error", reject);
    req.end(JSON.stringify({ op, args }));
  });
}

/** A kubeconfig as kubectl and client-node read it: the server, its CA, one bearer token. */
export function kubeconfigText(server: string, caPem: string, token: string, user = "lab"): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "lab", cluster: { server, "certificate-authority-data": Buffer.from(caPem).toString("base64") } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: "lab", context: { cluster: "lab", user } }],
    "current-context": "lab",
  });
}

export async function startLabKubeApi(layout: LabLayout, ledger: Ledger, signal: AbortSignal): Promise<LabKubeApi> {
  signal.throwIfAborted();
  const dir = layout.kubeApiDir;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const [host, port] = [layout.kubeApiHost, String(layout.kubeApiPort)];
  const argv = [process.execPath, serverEntry, "--state-dir", dir, "--host", host, "--port", port];
  const started = spawnInNamespace(layout.fabricNs, argv, layout.kubeApiLogFile);
  ledger.process({ role: "kube-apiserver", ...started.identity });
  const infoFile = join(dir, "server.json");
  await waitFor(() => existsSync(infoFile), {
    what: `the lab API server listening at ${host}:${port} (log: ${layout.kubeApiLogFile})`,
    timeoutMs: 30_000,
    intervalMs: 100,
    process: { pid: started.identity.pid, output: () => `last lines of ${layout.kubeApiLogFile}:\n${logTail(layout.kubeApiLogFile, 15)}` },
    signal,
  });
  const info = JSON.parse(readFileSync(infoFile, "utf8")) as ServerInfo;
  const adminKubeconfig = join(dir, "admin.kubeconfig");
  writeFileSync(adminKubeconfig, kubeconfigText(info.url, readFileSync(info.caFile, "utf8"), info.adminToken, "admin"), { mode: 0o600 });
  const socketPath = join(dir, "control.sock");
  const kubectlHome = join(dir, "kubectl-home");
  mkdirSync(kubectlHome, { recursive: true });
  return {
    url: info.url,
    caFile: info.caFile,
    adminToken: info.adminToken,
    adminKubeconfig,
    ns: layout.fabricNs,
    pid: started.identity.pid,
    logFile: layout.kubeApiLogFile,
    call: <T>(op: string, ...args: unknown[]) => controlCall(socketPath, op, args) as Promise<T>,
    // HOME points at the lab's own directory: no user kubeconfig or cache is read or written.
    kubectl: (args, options = {}) =>
      execIn(layout.fabricNs, ["env", `HOME=${kubectlHome}`, `KUBECONFIG=${adminKubeconfig}`, kubectl135(), ...args], {
        allowFailure: options.allowFailure ?? false,
        timeoutMs: 30_000,
      }),
  };
}
