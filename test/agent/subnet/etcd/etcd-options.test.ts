// --etcd-* flags to a store connection: TLS only with both cert and key (Flannel's rule), the
// CA optional, credentials only when a username is given, and Flannel's insecure warning.
import assert from "node:assert/strict";
import { test } from "node:test";
import { etcdStoreOptions, type EtcdFlags } from "../../../../agent/subnet/etcd/etcd-options.ts";
import { createMemoryLog } from "../../../support/memory-log.ts";

const base: EtcdFlags = {
  etcdEndpoints: ["http://127.0.0.1:4001", "http://127.0.0.1:2379"],
  etcdKeyfile: "",
  etcdCertfile: "",
  etcdCafile: "",
  etcdUsername: "",
  etcdPassword: "",
};

test("no certificate: plain connection to every endpoint, with Flannel's warning", () => {
  const log = createMemoryLog();
  const options = etcdStoreOptions(base, log);
  assert.deepEqual(options, { endpoints: ["http://127.0.0.1:4001", "http://127.0.0.1:2379"] });
  assert.equal(log.find("no certificate provided: connecting to etcd with http. This is insecure", "warn").length, 1);
});

test("cert and key: mTLS, with the CA when given", () => {
  const log = createMemoryLog();
  const options = etcdStoreOptions({ ...base, etcdCertfile: "/c.pem", etcdKeyfile: "/k.pem", etcdCafile: "/ca.pem" }, log);
  assert.deepEqual(options.tls, { certFile: "/c.pem", keyFile: "/k.pem", caFile: "/ca.pem" });
  assert.equal(log.entries.length, 0);
  assert.deepEqual(etcdStoreOptions({ ...base, etcdCertfile: "/c.pem", etcdKeyfile: "/k.pem" }, log).tls, { certFile: "/c.pem", keyFile: "/k.pem" });
});

test("only one of cert and key: no TLS (as Flannel), and a warning saying why", () => {
  for (const flags of [{ ...base, etcdCertfile: "/c.pem" }, { ...base, etcdKeyfile: "/k.pem", etcdCafile: "/ca.pem" }]) {
    const log = createMemoryLog();
    assert.equal(etcdStoreOptions(flags, log).tls, undefined);
    assert.equal(log.find("must both be given", "warn").length, 1);
  }
});

test("username and password are passed only when a username is given", () => {
  const log = createMemoryLog();
  assert.equal(etcdStoreOptions({ ...base, etcdPassword: "secret" }, log).username, undefined);
  const options = etcdStoreOptions({ ...base, etcdUsername: "flannel", etcdPassword: "secret" }, log);
  assert.equal(options.username, "flannel");
  assert.equal(options.password, "secret");
});
