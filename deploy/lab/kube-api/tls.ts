// The lab API server's certificates, made at start with the openssl CLI: a CA, and a serving
// certificate signed by it for 127.0.0.1, localhost, the in-cluster names of the API service and
// any extra addresses or names the caller listens on. Clients trust the CA file, as a pod trusts
// /var/run/secrets/kubernetes.io/serviceaccount/ca.crt.
import { isIP } from "node:net";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../tools/command.ts";

export interface ServingCertificates {
  readonly caFile: string;
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

const builtinHosts = ["127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"];

export async function makeServingCertificates(dir: string, extraHosts: readonly string[]): Promise<ServingCertificates> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = (name: string): string => join(dir, name);
  const hosts = [...new Set([...builtinHosts, ...extraHosts])];
  const altNames = hosts.map((host) => (isIP(host) === 0 ? `DNS:${host}` : `IP:${host}`)).join(",");
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await run(["openssl", "req", "-x509", ...ec, "-keyout", file("ca.key"), "-out", file("ca.crt"), "-days", "3650", "-subj", "/CN=flannel-ts-lab-ca",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"]);
  await run(["openssl", "req", ...ec, "-keyout", file("apiserver.key"), "-out", file("apiserver.csr"), "-subj", "/CN=kube-apiserver"]);
  writeFileSync(file("apiserver.ext"), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${altNames}\n`);
  await run(["openssl", "x509", "-req", "-in", file("apiserver.csr"), "-CA", file("ca.crt"), "-CAkey", file("ca.key"), "-CAcreateserial",
    "-out", file("apiserver.crt"), "-days", "365", "-extfile", file("apiserver.ext")]);
  return {
    caFile: file("ca.crt"),
    caPem: readFileSync(file("ca.crt"), "utf8"),
    certPem: readFileSync(file("apiserver.crt"), "utf8"),
    keyPem: readFileSync(file("apiserver.key"), "utf8"),
  };
}
