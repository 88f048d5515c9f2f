// --ip-blackhole-route's kernel side: a blackhole for the own subnet is added once, kept, and
// never replaces a route the bridge already has for that subnet.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ensureBlackholeRoute } from "../../../backends/kernel/blackhole.ts";
import { openKernel, type Kernel } from "../../../backends/kernel/kernel.ts";
import { parseCidr } from "../../../backends/net/ip.ts";
import { createNamespace, type Namespace } from "../../support/netns.ts";
import { needsRoot } from "../../support/root.ts";

let ns: Namespace;
let kernel: Kernel;
before(async () => {
  if (needsRoot !== false) return;
  ns = await createNamespace("bh");
  kernel = openKernel({ prefix: ["ip", "netns", "exec", ns.name] });
});
after(async () => {
  await kernel?.close();
  await ns?.remove();
});

test("adds a blackhole once, then finds it present", { skip: needsRoot }, async () => {
  const subnet = parseCidr("10.244.5.0/24")!;
  assert.equal(await ensureBlackholeRoute(kernel.runner, subnet), "added");
  assert.equal(await ensureBlackholeRoute(kernel.runner, subnet), "present");
  assert.match((await ns.ip("route", "show", "10.244.5.0/24")).stdout, /^blackhole 10\.244\.5\.0\/24/);
});

test("leaves a bridge's route for the subnet alone", { skip: needsRoot }, async () => {
  await ns.ip("link", "add", "cni0", "type", "bridge");
  await ns.ip("addr", "add", "10.244.6.1/24", "dev", "cni0");
  await ns.ip("link", "set", "cni0", "up");
  assert.equal(await ensureBlackholeRoute(kernel.runner, parseCidr("10.244.6.0/24")!), "another-route-exists");
  assert.match((await ns.ip("route", "show", "10.244.6.0/24")).stdout, /dev cni0/);
});
