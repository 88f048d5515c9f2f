// The FlannelErrors the etcd store raises, and the words in them. An operator reading a log line
// must learn which endpoints were tried, which request on which key failed, and — because gRPC
// reports a refused certificate with the same UNAVAILABLE status as a dead host — whether the
// trouble is TLS rather than the network. Pure: the store decides which kind of failure it saw.
import { FlannelError } from "../../../backends/errors.ts";

/** What one store call was doing, for messages and `details`. */
export interface EtcdOperation {
  /** Short verb phrase: "get", "put", "create", "watch", "grant lease" … */
  readonly name: string;
  /** The key, prefix or lease the call was about, when there is one. */
  readonly subject?: string;
}

function describeOperation(operation: EtcdOperation): string {
  return operation.subject === undefined ? operation.name : `${operation.name} ${operation.subject}`;
}

/**
 * gRPC-js wraps the socket's error in "14 UNAVAILABLE: No connection established. Last error:
 * <error>. Resolution note: …"; the inner error is the part worth showing.
 */
export function causeText(cause: unknown): string {
  const raw = cause instanceof Error ? cause.message : String(cause);
  const inner = /Last error: (?:Error: )?(.*?)(?:\.? Resolution note:.*)?$/s.exec(raw)?.[1] ?? raw;
  // Node suggests --use-system-ca after a verification failure; the CA comes from --etcd-cafile here.
  return inner.replace(/; if the root CA is installed locally.*$/s, "").trim();
}

/**
 * Says what went wrong in TLS terms when the cause is a handshake failure, else undefined.
 * The patterns are OpenSSL's and Node's own wording for verification failures and TLS alerts.
 */
export function describeTlsFailure(cause: unknown): string | undefined {
  const text = causeText(cause);
  if (/alert (bad certificate|unknown ca|certificate required|certificate unknown|unsupported certificate|access denied)/i.test(text)) {
    return `TLS handshake failed: etcd rejected the client certificate (${text})`;
  }
  if (/unable to verify|self[- ]signed|unable to get (local )?issuer|certificate (has expired|is not yet valid|signature failure)|Hostname\/IP does not match|altnames|ERR_TLS_CERT|CERT_/i.test(text)) {
    return `TLS handshake failed: the etcd server certificate could not be verified (${text})`;
  }
  if (/\bSSL\b|\bTLS\b|handshake|wrong version number|ssl3_|tls_/i.test(text)) {
    return `TLS handshake failed (${text})`;
  }
  return undefined;
}

/** No endpoint answered in time, refused the connection, or failed the TLS handshake. */
export function etcdUnavailable(endpoints: readonly string[], operation: EtcdOperation, cause: unknown): FlannelError {
  const tls = describeTlsFailure(cause);
  const reason = tls ?? causeText(cause);
  return new FlannelError("etcd-unavailable", `etcd unavailable at ${endpoints.join(", ")}: ${describeOperation(operation)}: ${reason}`, {
    cause,
    details: { endpoints, operation: operation.name, subject: operation.subject, tls: tls !== undefined },
  });
}

/** etcd answered, with an error: authentication, permission, a bad request. */
export function etcdRequestFailed(endpoints: readonly string[], operation: EtcdOperation, cause: unknown): FlannelError {
  return new FlannelError("etcd-request-failed", `etcd ${describeOperation(operation)} failed: ${causeText(cause)}`, {
    cause,
    details: { endpoints, operation: operation.name, subject: operation.subject },
  });
}

/** A certificate, key or CA file named by --etcd-certfile/--etcd-keyfile/--etcd-cafile cannot be read. */
export function etcdTlsInvalid(file: string, role: "certificate" | "key" | "CA", cause: unknown): FlannelError {
  return new FlannelError("etcd-tls-invalid", `etcd TLS ${role} file ${file} cannot be used: ${causeText(cause)}`, {
    cause,
    details: { file, role },
  });
}
