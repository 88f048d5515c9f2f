// Status bodies exactly as kube-apiserver writes them (apimachinery pkg/api/errors/errors.go), and the
// one error type the lab API server throws: it carries the HTTP code and the Status body to send.
// NotFound/Conflict/AlreadyExists/Forbidden name the *resource* ("nodes", "daemonsets.apps");
// Invalid names the *Kind* ("Node") — the real server mixes them the same way.

export interface StatusCause {
  readonly reason: string;
  readonly message: string;
  readonly field: string;
}

export interface StatusBody {
  readonly kind: "Status";
  readonly apiVersion: "v1";
  readonly metadata: Record<string, never>;
  readonly status: "Failure" | "Success";
  readonly message?: string;
  readonly reason?: string;
  readonly details?: Record<string, unknown>;
  readonly code?: number;
}

export class KubeStatusError extends Error {
  readonly code: number;
  readonly body: StatusBody;
  /** Extra response headers (Retry-After for 429). */
  readonly headers: Readonly<Record<string, string>>;
  constructor(body: StatusBody, headers: Readonly<Record<string, string>> = {}) {
    super(body.message ?? body.reason ?? "error");
    this.name = "KubeStatusError";
    this.code = body.code ?? 500;
    this.body = body;
    this.headers = headers;
  }
}

/** A group/resource pair as the error messages print it: "nodes", "daemonsets.apps". */
export interface GroupResource {
  readonly group: string;
  readonly resource: string;
}

function qualified(gr: GroupResource): string {
  return gr.group === "" ? gr.resource : `${gr.resource}.${gr.group}`;
}

function details(gr: GroupResource, name: string | undefined): Record<string, unknown> {
  // Go's omitempty: an empty name or group is left out.
  return { ...(name ? { name } : {}), ...(gr.group ? { group: gr.group } : {}), kind: gr.resource };
}

function failure(code: number, reason: string, message: string, detail?: Record<string, unknown>): KubeStatusError {
  // Field order as the real encoder writes a failed Status.
  const body: StatusBody = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, ...(detail === undefined ? {} : { details: detail }), code };
  return new KubeStatusError(body);
}

export function notFound(gr: GroupResource, name: string): KubeStatusError {
  return failure(404, "NotFound", `${qualified(gr)} "${name}" not found`, details(gr, name));
}

export function pathNotFound(): KubeStatusError {
  return failure(404, "NotFound", "the server could not find the requested resource", {});
}

export function alreadyExists(gr: GroupResource, name: string): KubeStatusError {
  return failure(409, "AlreadyExists", `${qualified(gr)} "${name}" already exists`, details(gr, name));
}

export function conflict(gr: GroupResource, name: string, why = "the object has been modified; please apply your changes to the latest version and try again"): KubeStatusError {
  return failure(409, "Conflict", `Operation cannot be fulfilled on ${qualified(gr)} "${name}": ${why}`, details(gr, name));
}

export function forbidden(gr: GroupResource, name: string | undefined, why: string): KubeStatusError {
  const what = name ? `${qualified(gr)} "${name}"` : qualified(gr);
  return failure(403, "Forbidden", `${what} is forbidden: ${why}`, details(gr, name));
}

export function unauthorized(): KubeStatusError {
  return failure(401, "Unauthorized", "Unauthorized");
}

export function badRequest(message: string): KubeStatusError {
  return failure(400, "BadRequest", message);
}

export function methodNotSupported(gr: GroupResource, action: string): KubeStatusError {
  return failure(405, "MethodNotAllowed", `${action} is not supported on resources of kind "${qualified(gr)}"`, details(gr, undefined));
}

export function expired(message: string): KubeStatusError {
  return failure(410, "Expired", message);
}

export function tooOldResourceVersion(requested: number, oldest: number): KubeStatusError {
  return expired(`too old resource version: ${requested} (${oldest})`);
}

export function unsupportedMediaType(): KubeStatusError {
  // go-restful rejects an unknown Content-Type before the handler runs; serviceErrorHandler turns it into this.
  return failure(415, "UnsupportedMediaType", "415: Unsupported Media Type", {});
}

export function notAcceptable(): KubeStatusError {
  return failure(406, "NotAcceptable", "406: Not Acceptable", {});
}

export function tooManyRequests(retryAfterSeconds: number): KubeStatusError {
  const error = failure(429, "TooManyRequests", "Too many requests, please try again later.", { retryAfterSeconds });
  return new KubeStatusError(error.body, { "retry-after": String(retryAfterSeconds) });
}

export function internalError(message: string): KubeStatusError {
  return failure(500, "InternalError", `Internal error occurred: ${message}`, { causes: [{ message }] });
}

export function timeoutError(message: string, cause?: { reason: string; message: string }): KubeStatusError {
  return failure(504, "Timeout", message, { ...(cause === undefined ? {} : { causes: [cause] }) });
}

/** 422 Invalid: `<Kind> "<name>" is invalid: <field>: <message>`, one cause per field error. */
export function invalid(kind: { group: string; kind: string }, name: string, causes: readonly StatusCause[]): KubeStatusError {
  const qualifiedKind = kind.group === "" ? kind.kind : `${kind.kind}.${kind.group}`;
  // ToAggregate drops duplicate messages; a single error prints bare, several inside [ ].
  const texts = [...new Set(causes.map((cause) => `${cause.field}: ${cause.message}`))];
  const joined = texts.length === 1 ? texts[0]! : `[${texts.join(", ")}]`;
  return failure(422, "Invalid", `${qualifiedKind} "${name}" is invalid: ${joined}`, {
    ...(name ? { name } : {}),
    ...(kind.group ? { group: kind.group } : {}),
    kind: kind.kind,
    causes,
  });
}

export function forbiddenCause(field: string, message: string): StatusCause {
  return { reason: "FieldValueForbidden", message: `Forbidden: ${message}`, field };
}

export function invalidValueCause(field: string, value: unknown, message: string): StatusCause {
  return { reason: "FieldValueInvalid", message: `Invalid value: ${JSON.stringify(value)}: ${message}`, field };
}

export function requiredCause(field: string, message = ""): StatusCause {
  return { reason: "FieldValueRequired", message: message ? `Required value: ${message}` : "Required value", field };
}

/** 422 for a patch that cannot be applied (the jsonpatch error text is dropped, as the real server does). */
export function patchNotApplicable(): KubeStatusError {
  return failure(422, "Invalid", "the server rejected our request due to an error in our request", {});
}

export function successStatus(gr: GroupResource, name: string, uid: string): StatusBody {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details: { ...details(gr, name), uid } };
}
