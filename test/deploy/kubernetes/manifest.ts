// deploy/kubernetes/kube-flannel.yml as the tests see it: read, split into its documents, each
// one checked against the Kubernetes schema of its kind (kubernetes-models) and handed back as
// the typed model, so the tests below read fields the schema knows.
//
// YAML: js-yaml, which @kubernetes/client-node depends on (no package of our own). kubectl reads
// YAML with YAML 1.1 rules (sigs.k8s.io/yaml → go-yaml), js-yaml with YAML 1.2's core schema by
// default: `loadManifestDocuments` loads with both and the tests require the same result, so an
// unquoted `yes`, `on` or `0755` cannot mean one thing to kubectl and another to these tests.
import { readFileSync } from "node:fs";
import { posix, resolve } from "node:path";
import { CORE_SCHEMA, YAML11_SCHEMA, loadAll, type Schema } from "js-yaml";
import { DaemonSet, type IDaemonSet } from "kubernetes-models/apps/v1";
import { ClusterRole, ClusterRoleBinding, type IClusterRole, type IClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1";
import {
  ConfigMap,
  Namespace,
  ServiceAccount,
  type IConfigMap,
  type IContainer,
  type INamespace,
  type IPodSpec,
  type IServiceAccount,
  type IVolume,
} from "kubernetes-models/v1";

export const manifestPath: string = resolve(import.meta.dirname, "../../../deploy/kubernetes/kube-flannel.yml");

export function readManifestText(): string {
  return readFileSync(manifestPath, "utf8");
}

/** Every non-empty document of the file, loaded with the given schema. */
export function loadManifestDocuments(schema: Schema = CORE_SCHEMA, text: string = readManifestText()): unknown[] {
  return loadAll(text, { schema }).filter((document) => document !== null && document !== undefined);
}

export function loadManifestDocumentsAsKubectl(text: string = readManifestText()): unknown[] {
  return loadManifestDocuments(YAML11_SCHEMA, text);
}

/** One model class per apiVersion/kind the manifest may hold. */
interface ModelClass {
  new (data: never): { validate(): void; toJSON(): unknown };
}
const models: Readonly<Record<string, ModelClass>> = {
  "v1/Namespace": Namespace,
  "v1/ServiceAccount": ServiceAccount,
  "v1/ConfigMap": ConfigMap,
  "rbac.authorization.k8s.io/v1/ClusterRole": ClusterRole,
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": ClusterRoleBinding,
  "apps/v1/DaemonSet": DaemonSet,
};

function typeKey(document: unknown): string {
  if (typeof document !== "object" || document === null) throw new Error(`a manifest document is not an object: ${JSON.stringify(document)}`);
  const { apiVersion, kind } = document as { apiVersion?: unknown; kind?: unknown };
  return `${String(apiVersion)}/${String(kind)}`;
}

/** Validates one document against its kind's schema; throws naming the object on any error. */
export function validateDocument(document: unknown): void {
  const key = typeKey(document);
  const Model = models[key];
  if (Model === undefined) throw new Error(`no schema for ${key}: the manifest holds only ${Object.keys(models).join(", ")}`);
  const name = (document as { metadata?: { name?: string } }).metadata?.name;
  try {
    new Model(document as never).validate();
  } catch (error) {
    throw new Error(`${key} ${String(name)}: ${(error as Error).message}`, { cause: error });
  }
}

export interface FlannelManifest {
  readonly documents: readonly unknown[];
  readonly namespace: INamespace;
  readonly serviceAccount: IServiceAccount;
  readonly clusterRole: IClusterRole;
  readonly clusterRoleBinding: IClusterRoleBinding;
  readonly configMap: IConfigMap;
  readonly daemonSet: IDaemonSet;
}

function only<T>(documents: readonly unknown[], key: string): T {
  const found = documents.filter((document) => typeKey(document) === key);
  if (found.length !== 1) throw new Error(`expected exactly one ${key} in the manifest, found ${found.length}`);
  return found[0] as T;
}

/** The manifest's objects, each validated against its schema. */
export function loadFlannelManifest(text: string = readManifestText()): FlannelManifest {
  const documents = loadManifestDocuments(CORE_SCHEMA, text);
  for (const document of documents) validateDocument(document);
  return {
    documents,
    namespace: only<INamespace>(documents, "v1/Namespace"),
    serviceAccount: only<IServiceAccount>(documents, "v1/ServiceAccount"),
    clusterRole: only<IClusterRole>(documents, "rbac.authorization.k8s.io/v1/ClusterRole"),
    clusterRoleBinding: only<IClusterRoleBinding>(documents, "rbac.authorization.k8s.io/v1/ClusterRoleBinding"),
    configMap: only<IConfigMap>(documents, "v1/ConfigMap"),
    daemonSet: only<IDaemonSet>(documents, "apps/v1/DaemonSet"),
  };
}

export function required<T>(value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) throw new Error(`the manifest has no ${what}`);
  return value;
}

export function podSpecOf(manifest: FlannelManifest): IPodSpec {
  return required(manifest.daemonSet.spec?.template.spec, "DaemonSet pod spec");
}

export function containerNamed(spec: IPodSpec, name: string): IContainer {
  const all = [...(spec.initContainers ?? []), ...spec.containers];
  return required(all.find((container) => container.name === name), `container ${name}`);
}

export function volumeNamed(spec: IPodSpec, name: string): IVolume {
  return required((spec.volumes ?? []).find((volume) => volume.name === name), `volume ${name}`);
}

export function configMapData(manifest: FlannelManifest, key: string): string {
  return required(manifest.configMap.data?.[key], `ConfigMap key ${key}`);
}

/** A container's environment as the kubelet would give it, downward-API values made up. */
export function containerEnvironment(container: IContainer): Record<string, string> {
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    const field = variable.valueFrom?.fieldRef?.fieldPath;
    if (variable.value !== undefined) env[variable.name] = variable.value;
    else if (field === "metadata.name") env[variable.name] = "kube-flannel-ds-x7k2p";
    else if (field === "metadata.namespace") env[variable.name] = "kube-flannel";
    else throw new Error(`${container.name}: env ${variable.name} comes from a source the tests do not simulate`);
  }
  return env;
}

/** The volume a path in the container lies on, and the path inside that volume. */
export function mountFor(container: IContainer, containerPath: string): { volume: string; subPath: string } {
  const mount = (container.volumeMounts ?? []).find((m) => {
    const root = m.mountPath.replace(/\/$/, "");
    return containerPath === root || containerPath.startsWith(`${root}/`);
  });
  const found = required(mount, `volume mount holding ${containerPath} in ${container.name}`);
  return { volume: found.name, subPath: posix.relative(found.mountPath, containerPath) };
}
