// --ip-blackhole-route (F:main.go): keep a blackhole route for the node's own pod subnet(s), so
// traffic for pod addresses that no longer exist is dropped here instead of being sent back out
// along the default route. Like Flannel it only adds one when no blackhole route for that
// destination exists, and it never replaces another route: where a bridge (cni0) already routes
// the subnet, the add fails with "File exists" and the bridge's route stays.
import { formatCidr, type Cidr } from "../net/ip.ts";
import type { CommandRunner } from "./command-runner.ts";
import { KernelCommandError } from "./command-runner.ts";
import { isExistsMessage } from "./kernel-messages.ts";
import { listRoutes } from "./route.ts";

export type BlackholeOutcome = "present" | "added" | "another-route-exists";

export async function ensureBlackholeRoute(runner: CommandRunner, subnet: Cidr, signal?: AbortSignal): Promise<BlackholeOutcome> {
  // Only the routes to the subnet itself: a resync must not dump a table of thousands of peer routes.
  const routes = await listRoutes(runner, subnet.family, { exact: subnet, ...(signal === undefined ? {} : { signal }) });
  const same = (route: { dst: Cidr }): boolean => route.dst.address === subnet.address && route.dst.prefix === subnet.prefix;
  if (routes.some((route) => route.type === "blackhole" && same(route))) return "present";
  const argv = ["ip", `-${subnet.family}`, "route", "add", "blackhole", formatCidr(subnet)];
  const result = await runner(argv, signal === undefined ? {} : { signal });
  if (result.code === 0) return "added";
  if (isExistsMessage(result.stderr)) return "another-route-exists";
  throw new KernelCommandError(argv, result.code, result.stderr);
}
