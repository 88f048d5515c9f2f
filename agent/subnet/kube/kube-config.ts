// Where the API server is and how to authenticate, with client-go's BuildConfigFromFlags rules
// (as Flannel uses them): --kubeconfig-file and --kube-api-url both empty → the in-cluster
// configuration (KUBERNETES_SERVICE_HOST/PORT, the service account token and CA); otherwise the
// kubeconfig's current context, its server replaced by --kube-api-url when that is given; a URL
// alone → that server without credentials.
import { existsSync, readFileSync } from "node:fs";
import { KubeConfig, type Cluster, type User } from "@kubernetes/client-node";
import "./kube-errors.ts";
import { FlannelError } from "../../../backends/errors.ts";
import type { Log } from "../../ops/log.ts";
import type { KubeManagerOptions } from "./kube-options.ts";

export const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

function configInvalid(message: string, details: Record<string, unknown>, cause?: unknown): FlannelError {
  return new FlannelError("kube-config-invalid", message, { details, ...(cause === undefined ? {} : { cause }) });
}

function checkedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== "https:" && parsed.protocol !== "http:") throw new Error(`unsupported scheme ${parsed.protocol}`);
  } catch (error) {
    throw configInvalid(`--kube-api-url ${JSON.stringify(url)} is not an http(s) URL: ${(error as Error).message}`, { flag: "kube-api-url", value: url }, error);
  }
  return url.replace(/\/+$/, "");
}

/** client-node refuses plain http unless TLS verification is "skipped"; for http that means nothing. */
function withServer(cluster: Cluster, server: string): Cluster {
  return { ...cluster, server, ...(server.startsWith("http:") ? { skipTLSVerify: true } : {}) };
}

function inClusterConfig(options: KubeManagerOptions, log: Log): KubeConfig {
  const { serviceHost, servicePort } = options;
  if (serviceHost === undefined || servicePort === undefined) {
    throw configInvalid(
      "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined (or give --kubeconfig-file / --kube-api-url)",
      { env: "KUBERNETES_SERVICE_HOST,KUBERNETES_SERVICE_PORT" },
    );
  }
  const dir = `${options.serviceAccountRoot ?? ""}${serviceAccountDir}`;
  const tokenFile = `${dir}/token`;
  const caFile = `${dir}/ca.crt`;
  try {
    readFileSync(tokenFile);
  } catch (error) {
    throw configInvalid(`unable to load in-cluster configuration: cannot read the service account token ${tokenFile}: ${(error as Error).message}`, { file: tokenFile }, error);
  }
  // client-go only logs a missing CA and goes on with the system roots.
  const hasCa = existsSync(caFile);
  if (!hasCa) log.error(`expected to load root CA config from ${caFile}, but it is missing`, { file: caFile });
  const host = serviceHost.includes(":") ? `[${serviceHost}]` : serviceHost;
  const config = new KubeConfig();
  config.loadFromClusterAndUser(
    { name: "inCluster", server: `https://${host}:${servicePort}`, skipTLSVerify: false, ...(hasCa ? { caFile } : {}) },
    // The tokenFile provider re-reads the projected token (rotated by the kubelet) once a minute.
    { name: "inClusterUser", authProvider: { name: "tokenFile", config: { tokenFile } } } as User,
  );
  return config;
}

export function kubeConfigFor(options: KubeManagerOptions, log: Log): KubeConfig {
  if (options.kubeconfigFile === "" && options.apiUrl === "") {
    log.warn("neither --kubeconfig-file nor --kube-api-url was specified; using the in-cluster configuration");
    return inClusterConfig(options, log);
  }
  const config = new KubeConfig();
  if (options.kubeconfigFile === "") {
    config.loadFromClusterAndUser(withServer({ name: "flanneld", server: "", skipTLSVerify: false }, checkedUrl(options.apiUrl)), { name: "flanneld" });
    return config;
  }
  try {
    config.loadFromFile(options.kubeconfigFile);
  } catch (error) {
    throw configInvalid(`--kubeconfig-file ${options.kubeconfigFile}: ${(error as Error).message}`, { flag: "kubeconfig-file", file: options.kubeconfigFile }, error);
  }
  const cluster = config.getCurrentCluster();
  const user = config.getCurrentUser();
  if (cluster === null) {
    throw configInvalid(`--kubeconfig-file ${options.kubeconfigFile}: no current context with a cluster`, { flag: "kubeconfig-file", file: options.kubeconfigFile });
  }
  const server = options.apiUrl === "" ? cluster.server : checkedUrl(options.apiUrl);
  if (options.apiUrl !== "" || server.startsWith("http:")) {
    config.loadFromClusterAndUser(withServer(cluster, server), user ?? { name: "flanneld" });
  }
  return config;
}
