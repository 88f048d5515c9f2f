// Gate for tests that need root (namespaces, links, routes, iptables). They skip with a clear
// message elsewhere; in CI (which runs as root) a missing root is a failure, not a skip.

export const isRoot: boolean = process.getuid?.() === 0;

if (!isRoot && process.env.CI === "true") {
  throw new Error("CI=true but the tests are not running as root: the namespace tests would be skipped");
}

/** Pass as the `skip` option of a test or suite that needs root. */
export const needsRoot: string | false = isRoot
  ? false
  : "needs root: creates network namespaces and links (run `npm test` as root)";
