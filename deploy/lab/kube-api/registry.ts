// The REST operations on stored objects — create, get, update, patch, delete — with the generic
// registry's rules (apiserver registry/generic/registry/store.go): uid/creationTimestamp set on
// create, AlreadyExists/NotFound/Conflict, the resourceVersion precondition, no-op writes that
// neither bump the RV nor emit an event, validation errors as 422. Used by the HTTP handlers and,
// directly, by fixtures (server.ts `store`), so both see the same semantics.
// Departures: deletions are immediate (no graceful pod deletion, no garbage collector), except
// namespaces, which turn Terminating and are removed with their content after `namespaceFinalizeMs`.
import { randomUUID } from "node:crypto";
import { alreadyExists, badRequest, conflict, forbidden, internalError, invalid, notFound, requiredCause, successStatus, type StatusBody } from "./errors.ts";
import { clone, isPlainObject, jsonEqual, objectKey, timestamp, type KubeObject } from "./object.ts";
import { applyPatch, type PatchType } from "./patch.ts";
import { apiVersionOf, typeByKind, type ResourceType } from "./resources.ts";
import type { ObjectStore } from "./store.ts";
import { prepareForCreate, prepareForUpdate, validate, type Subresource } from "./strategy.ts";

const metadataOrder = ["name", "generateName", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers"];

/** kind, apiVersion, metadata (in Go field order), then the rest: the layout the real server writes. */
function shaped(type: ResourceType, object: KubeObject): KubeObject {
  const { kind: _kind, apiVersion: _apiVersion, metadata, ...rest } = object;
  const ordered: Record<string, unknown> = {};
  for (const key of metadataOrder) if (metadata[key] !== undefined) ordered[key] = metadata[key];
  for (const [key, value] of Object.entries(metadata)) if (!(key in ordered) && value !== undefined) ordered[key] = value;
  return { kind: type.kind, apiVersion: apiVersionOf(type), metadata: ordered, ...rest };
}

export interface WriteResult {
  readonly object: KubeObject;
  /** False for a no-op write: same RV, no event. */
  readonly changed: boolean;
}

export interface DeletePreconditions {
  readonly uid?: string;
  readonly resourceVersion?: string;
}

export class Registry {
  readonly #store: ObjectStore;
  readonly #timers = new Set<NodeJS.Timeout>();
  namespaceFinalizeMs = 1000;

  constructor(store: ObjectStore) {
    this.#store = store;
  }

  get store(): ObjectStore {
    return this.#store;
  }

  get(type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const object = this.#store.get(type, objectKey(type.namespaced ? namespace : undefined, name));
    if (object === undefined) throw notFound(type, name);
    return object;
  }

  create(type: ResourceType, namespace: string | undefined, body: unknown): KubeObject {
    if (!isPlainObject(body) || !isPlainObject(body.metadata ?? {})) throw badRequest(`Object '${type.kind}' is invalid: expected an object`);
    if (body.kind !== undefined && body.kind !== type.kind) throw badRequest(`the kind in the data (${String(body.kind)}) does not match the expected kind (${type.kind})`);
    const object = clone({ ...body, metadata: { ...(body.metadata as object) } }) as KubeObject;
    const meta = object.metadata;
    if (type.namespaced) {
      if (meta.namespace !== undefined && meta.namespace !== "" && namespace !== undefined && meta.namespace !== namespace) {
        throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
      }
      meta.namespace = namespace ?? meta.namespace ?? "default";
      this.#checkNamespaceOpen(type, meta.namespace, meta.name ?? meta.generateName ?? "");
    } else delete meta.namespace;
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${randomUUID().replaceAll("-", "").slice(0, 5)}`;
    if (!meta.name) throw invalid(type, "", [requiredCause("metadata.name", "name or generateName is required")]);
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== "") throw internalError("resourceVersion should not be set on objects to be created");
    const key = objectKey(meta.namespace, meta.name);
    if (this.#store.get(type, key) !== undefined) throw alreadyExists(type, meta.name);
    meta.uid = randomUUID();
    meta.creationTimestamp = timestamp();
    delete meta.deletionTimestamp;
    delete meta.generation;
    delete meta.selfLink;
    delete meta.managedFields;
    prepareForCreate(type.kind, object);
    const causes = validate(type.kind, object, undefined);
    if (causes.length > 0) throw invalid(type, meta.name, causes);
    meta.resourceVersion = String(this.#store.nextRv());
    const stored = shaped(type, object);
    this.#store.commit("ADDED", type, key, stored);
    return stored;
  }

  update(type: ResourceType, namespace: string | undefined, name: string, body: unknown, subresource: Subresource = ""): WriteResult {
    if (!isPlainObject(body) || !isPlainObject(body.metadata)) throw badRequest(`Object '${type.kind}' is missing 'metadata'`);
    const old = this.get(type, namespace, name);
    const object = clone(body) as KubeObject;
    if (object.metadata.name !== undefined && object.metadata.name !== name) {
      throw badRequest(`the name of the object (${object.metadata.name}) does not match the name on the URL (${name})`);
    }
    return this.#write(type, old, object, subresource);
  }

  patch(type: ResourceType, namespace: string | undefined, name: string, patchType: PatchType, patch: unknown, subresource: Subresource = ""): WriteResult {
    const old = this.get(type, namespace, name);
    const patched = applyPatch(patchType, type.kind, clone(old), patch);
    if (!isPlainObject(patched) || !isPlainObject(patched.metadata)) throw badRequest("the patched object has no metadata");
    const object = patched as KubeObject;
    if (object.metadata.name !== name) throw badRequest(`the name of the object (${String(object.metadata.name)}) does not match the name on the URL (${name})`);
    return this.#write(type, old, object, subresource);
  }

  #write(type: ResourceType, old: KubeObject, object: KubeObject, subresource: Subresource): WriteResult {
    const meta = object.metadata;
    const name = old.metadata.name!;
    // A resourceVersion in the new object is a precondition (optimistic concurrency).
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== "" && meta.resourceVersion !== old.metadata.resourceVersion) throw conflict(type, name);
    if (meta.uid !== undefined && meta.uid !== "" && meta.uid !== old.metadata.uid) {
      throw conflict(type, name, `Precondition failed: UID in precondition: ${meta.uid}, UID in object meta: ${old.metadata.uid}`);
    }
    meta.name = name;
    if (type.namespaced) meta.namespace = old.metadata.namespace;
    else delete meta.namespace;
    meta.uid = old.metadata.uid;
    meta.creationTimestamp = old.metadata.creationTimestamp;
    if (old.metadata.deletionTimestamp === undefined) delete meta.deletionTimestamp;
    else meta.deletionTimestamp = old.metadata.deletionTimestamp;
    if (old.metadata.generation === undefined) delete meta.generation;
    else meta.generation = old.metadata.generation;
    delete meta.managedFields;
    prepareForUpdate(type.kind, type.hasStatus, object, old, subresource);
    const causes = validate(type.kind, object, old);
    if (causes.length > 0) throw invalid(type, name, causes);
    meta.resourceVersion = old.metadata.resourceVersion;
    const candidate = shaped(type, object);
    if (jsonEqual(candidate, old)) return { object: old, changed: false };
    candidate.metadata.resourceVersion = String(this.#store.nextRv());
    this.#store.commit("MODIFIED", type, objectKey(old.metadata.namespace, name), candidate, old);
    return { object: candidate, changed: true };
  }

  /** Deletes an object: the Success Status, or (for a namespace, which terminates first) the object. */
  delete(type: ResourceType, namespace: string | undefined, name: string, preconditions: DeletePreconditions = {}): StatusBody | KubeObject {
    const old = this.get(type, namespace, name);
    if (preconditions.uid !== undefined && preconditions.uid !== old.metadata.uid) {
      throw conflict(type, name, `Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${old.metadata.uid}`);
    }
    if (preconditions.resourceVersion !== undefined && preconditions.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(type, name, `Precondition failed: ResourceVersion in precondition: ${preconditions.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`);
    }
    if (type.kind === "Namespace") return this.#terminateNamespace(type, old);
    this.#remove(type, old);
    return successStatus(type, name, old.metadata.uid ?? "");
  }

  #remove(type: ResourceType, old: KubeObject): void {
    const gone = clone(old);
    gone.metadata.resourceVersion = String(this.#store.nextRv());
    this.#store.commit("DELETED", type, objectKey(old.metadata.namespace, old.metadata.name!), gone, old);
  }

  #terminateNamespace(type: ResourceType, old: KubeObject): KubeObject {
    if (old.metadata.deletionTimestamp !== undefined) return old;
    const terminating = clone(old);
    terminating.metadata.deletionTimestamp = timestamp();
    terminating.status = { ...(old.status as object), phase: "Terminating" };
    terminating.metadata.resourceVersion = String(this.#store.nextRv());
    const stored = shaped(type, terminating);
    this.#store.commit("MODIFIED", type, old.metadata.name!, stored, old);
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#finalizeNamespace(type, old.metadata.name!);
    }, this.namespaceFinalizeMs);
    this.#timers.add(timer);
    return stored;
  }

  #finalizeNamespace(namespaceType: ResourceType, name: string): void {
    const namespace = this.#store.get(namespaceType, name);
    if (namespace === undefined) return;
    for (const kind of ["Pod", "DaemonSet", "ConfigMap", "RoleBinding", "Role", "ServiceAccount"]) {
      const type = typeByKind(kind)!;
      for (const entry of this.#store.list(type, name)) this.#remove(type, entry.object);
    }
    this.#remove(namespaceType, namespace);
  }

  #checkNamespaceOpen(type: ResourceType, namespace: string, name: string): void {
    const namespaceType = typeByKind("Namespace")!;
    const found = this.#store.get(namespaceType, namespace);
    if (found === undefined) throw notFound(namespaceType, namespace);
    if (found.metadata.deletionTimestamp !== undefined) {
      throw forbidden(type, name, `unable to create new content in namespace ${namespace} because it is being terminated`);
    }
  }

  close(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}
