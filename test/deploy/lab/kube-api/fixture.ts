// Shared by the lab API server's tests: a server in a fresh temp directory, raw HTTPS requests that
// trust its CA, a line reader for watch streams, and the node objects the tests use.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpsRequest, type RequestOptions } from "node:https";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startKubeApiServer, type KubeApiServer, type KubeObject } from "../../../../deploy/lab/kube-api/server.ts";
import { applyFlannelRbac } from "../../../../deploy/lab/kube/flannel-rbac.ts";

export interface Lab {
  readonly api: KubeApiServer;
  readonly dir: string;
  readonly ca: string;
  dispose(): Promise<void>;
}

export async function startLab(log?: (line: string) => void): Promise<Lab> {
  const dir = mkdtempSync(join(tmpdir(), "flannel-ts-kube-api-"));
  const api = await startKubeApiServer({ stateDir: dir, ...(log === undefined ? {} : { log }) });
  return {
    api,
    dir,
    ca: readFileSync(api.caFile, "utf8"),
    async dispose() {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  json(): any;
}

export interface CallOptions {
  readonly token?: string | null;
  readonly body?: unknown;
  readonly contentType?: string;
  readonly accept?: string;
}

function bodyText(options: CallOptions): string | undefined {
  return options.body === undefined ? undefined : typeof options.body === "string" ? options.body : JSON.stringify(options.body);
}

function requestOptions(lab: Lab, method: string, path: string, options: CallOptions): RequestOptions {
  const body = bodyText(options);
  const url = new URL(path, lab.api.url);
  const token = options.token === undefined ? lab.api.adminToken : options.token;
  return {
    method,
    host: url.hostname,
    port: url.port,
    path: `${url.pathname}${url.search}`,
    ca: lab.ca,
    agent: false,
    headers: {
      accept: options.accept ?? "application/json",
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      // Node sends a DELETE body without a length unless told: give it one.
      ...(body === undefined ? {} : { "content-type": options.contentType ?? "application/json", "content-length": String(Buffer.byteLength(body)) }),
    },
  };
}

export function call(lab: Lab, method: string, path: string, options: CallOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(requestOptions(lab, method, path, options), (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json: () => JSON.parse(text) });
      });
      response.on("error", reject);
    });
    request.on("error", reject);
    request.end(bodyText(options));
  });
}

/** An open watch: its response, and the lines it has sent so far. */
export interface WatchReader {
  readonly response: IncomingMessage;
  /** The next line (parsed), or undefined when the stream ends or `timeoutMs` passes. */
  next(timeoutMs?: number): Promise<any>;
  /** Resolves with how the stream ended: "end" (clean) or "error" (reset). */
  readonly ended: Promise<"end" | "error">;
  close(): void;
}

export function openWatch(lab: Lab, path: string, options: CallOptions = {}): Promise<WatchReader> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(requestOptions(lab, "GET", path, options), (response) => {
      const lines: string[] = [];
      const waiters: (() => void)[] = [];
      let buffer = "";
      let done = false;
      const wake = (): void => {
        for (const waiter of waiters.splice(0)) waiter();
      };
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        buffer += chunk;
        let newline: number;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          lines.push(buffer.slice(0, newline));
          buffer = buffer.slice(newline + 1);
        }
        wake();
      });
      const ended = new Promise<"end" | "error">((settle) => {
        response.on("end", () => settle("end"));
        response.on("error", () => settle("error"));
        response.on("aborted", () => settle("error"));
      });
      void ended.then(() => {
        done = true;
        wake();
      });
      resolve({
        response,
        ended,
        async next(timeoutMs = 5000) {
          const deadline = Date.now() + timeoutMs;
          while (lines.length === 0 && !done && Date.now() < deadline) {
            await new Promise<void>((wakeUp) => {
              const timer = setTimeout(wakeUp, Math.max(0, deadline - Date.now()));
              waiters.push(() => {
                clearTimeout(timer);
                wakeUp();
              });
            });
          }
          const line = lines.shift();
          return line === undefined ? undefined : JSON.parse(line);
        },
        close: () => request.destroy(),
      });
    });
    request.on("error", reject);
    request.end();
  });
}

export function node(name: string, podCIDR: string, extra: Partial<KubeObject> = {}): KubeObject {
  return {
    kind: "Node",
    apiVersion: "v1",
    metadata: { name, labels: { "kubernetes.io/hostname": name }, annotations: { "node.alpha.kubernetes.io/ttl": "0" } },
    spec: { podCIDR, podCIDRs: [podCIDR] },
    status: {
      conditions: [{ type: "Ready", status: "True", reason: "KubeletReady", message: "kubelet is posting ready status" }],
      addresses: [{ type: "InternalIP", address: "198.18.0.1" }, { type: "Hostname", address: name }],
      nodeInfo: { kubeletVersion: "v1.34.0", osImage: "Debian GNU/Linux 12 (bookworm)", kernelVersion: "6.1.0-40-amd64", containerRuntimeVersion: "containerd://1.6.20" },
    },
    ...extra,
  };
}

/** The flannel ServiceAccount bound to Flannel's ClusterRole, as deploy/kubernetes/kube-flannel.yml has them, and a token for it. */
export function flannelServiceAccount(lab: Lab): string {
  applyFlannelRbac(lab.api.store);
  return lab.api.serviceAccountToken("kube-flannel", "flannel");
}
