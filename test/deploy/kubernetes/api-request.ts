// One HTTPS request to an API server with a bearer token, for the calls kubectl cannot make the
// way flanneld makes them: `kubectl patch --subresource=status` GETs nodes/status first (a right
// flanneld neither has nor needs), while flanneld's client sends the PATCH alone.
import { readFileSync } from "node:fs";
import { request } from "node:https";

export interface ApiServerAddress {
  /** https://HOST:PORT */
  readonly url: string;
  /** Path of the PEM file of the CA that signed the server's certificate. */
  readonly caFile: string;
}

export interface ApiReply {
  readonly status: number;
  readonly body: string;
}

export function apiRequest(server: ApiServerAddress, token: string, method: string, path: string, body?: { readonly contentType: string; readonly text: string }): Promise<ApiReply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: "application/json" };
    if (body !== undefined) headers["content-type"] = body.contentType;
    const outgoing = request(new URL(path, server.url), { method, headers, ca: readFileSync(server.caFile), timeout: 10_000 }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (text += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text }));
      response.on("error", reject);
    });
    outgoing.on("timeout", () => outgoing.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    outgoing.on("error", reject);
    outgoing.end(body?.text);
  });
}
