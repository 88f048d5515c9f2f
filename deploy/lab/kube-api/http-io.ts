// Reading request bodies and writing JSON answers: content negotiation (JSON for any Accept that
// lists application/json or */*, even after protobuf; a meta.k8s.io Table when kubectl asks for
// as=Table), and Status bodies for errors.
import type { IncomingMessage, ServerResponse } from "node:http";
import { badRequest, KubeStatusError, notAcceptable, unsupportedMediaType, type StatusBody } from "./errors.ts";

export interface Negotiated {
  /** Set when the client asked for a Table: the Content-Type to answer with. */
  readonly table: string | undefined;
}

export function negotiate(accept: string | undefined, tableAllowed: boolean): Negotiated {
  if (accept === undefined || accept.trim() === "") return { table: undefined };
  let json = false;
  for (const range of accept.split(",")) {
    const [mediaType = "", ...parameterList] = range.split(";").map((part) => part.trim());
    const parameters = new Map(parameterList.map((parameter) => parameter.split("=", 2).map((side) => side.trim()) as [string, string]));
    if (mediaType === "application/json" && parameters.get("as") === "Table" && parameters.get("g") === "meta.k8s.io") {
      if (tableAllowed) return { table: `application/json;as=Table;v=${parameters.get("v") ?? "v1"};g=meta.k8s.io` };
      continue;
    }
    if (mediaType === "application/json" && parameters.has("as")) continue; // e.g. aggregated discovery: not served
    if (mediaType === "application/json" || mediaType === "*/*" || mediaType === "application/*") json = true;
  }
  if (!json) throw notAcceptable();
  return { table: undefined };
}

export async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 3 * 1024 * 1024) throw new KubeStatusError({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "Request entity too large: limit is 3145728", reason: "RequestEntityTooLarge", code: 413 });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Create/update/delete bodies must be JSON. Protobuf (what client-go's typed clients may send) is
 * answered 415, after which client-go retries the request as JSON; YAML bodies are not served.
 */
export function requireJsonBody(contentType: string | undefined): void {
  const bare = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (bare !== "" && bare !== "application/json") throw unsupportedMediaType();
}

export function parseJsonBody(text: string): unknown {
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw badRequest(`the body of the request could not be decoded: ${(error as Error).message}`);
  }
}

export function sendJson(response: ServerResponse, code: number, body: unknown, contentType = "application/json", headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  response.writeHead(code, { "content-type": contentType, "cache-control": "no-cache, private", "content-length": Buffer.byteLength(text), ...headers });
  response.end(text);
}

export function sendStatus(response: ServerResponse, error: KubeStatusError): void {
  sendJson(response, error.code, error.body, "application/json", { ...error.headers });
}

export function sendText(response: ServerResponse, code: number, text: string): void {
  response.writeHead(code, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(text) });
  response.end(text);
}

export type { StatusBody };
