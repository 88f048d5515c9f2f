// From flanneld's --etcd-* flags to a store connection, with Flannel's rules
// (F:pkg/subnet/etcd/registry.go newEtcdClient): TLS only when both --etcd-certfile and
// --etcd-keyfile are given (the CA file is optional); otherwise a plain connection, with
// Flannel's warning that it is insecure.
import type { FlanneldOptions } from "../../config/flag-table.ts";
import type { Log } from "../../ops/log.ts";
import type { EtcdStoreOptions } from "./store-contract.ts";

export type EtcdFlags = Pick<
  FlanneldOptions,
  "etcdEndpoints" | "etcdKeyfile" | "etcdCertfile" | "etcdCafile" | "etcdUsername" | "etcdPassword"
>;

export function etcdStoreOptions(flags: EtcdFlags, log: Log): EtcdStoreOptions {
  const tlsRequested = flags.etcdCertfile !== "" && flags.etcdKeyfile !== "";
  if (!tlsRequested) {
    log.warn("no certificate provided: connecting to etcd with http. This is insecure", { endpoints: flags.etcdEndpoints.join(",") });
    if (flags.etcdCertfile !== "" || flags.etcdKeyfile !== "") {
      log.warn("--etcd-certfile and --etcd-keyfile must both be given for TLS; ignoring the one given");
    }
  }
  return {
    endpoints: flags.etcdEndpoints,
    ...(flags.etcdUsername === "" ? {} : { username: flags.etcdUsername, password: flags.etcdPassword }),
    ...(tlsRequested
      ? { tls: { certFile: flags.etcdCertfile, keyFile: flags.etcdKeyfile, ...(flags.etcdCafile === "" ? {} : { caFile: flags.etcdCafile }) } }
      : {}),
  };
}
