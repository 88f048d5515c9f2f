// DirectRouting's question — is a peer's PublicIP reachable without a gateway? — answered from
// the main routing table the reconcile reads anyway, instead of one `ip route get` per peer.
// Flannel asks the kernel (`ip route get <PublicIP>` must give one route without a gateway,
// F:pkg/backend/vxlan/vxlan_network.go); the longest-prefix match over the main table gives the
// same answer unless policy routing sends the address elsewhere, which Flannel's own
// same-L2-segment assumption rules out.
import type { KernelRoute } from "../kernel/route.ts";
import { cidrContainsIp, type IpAddress } from "../net/ip.ts";
import type { DirectLinkOf } from "./desired.ts";

/** The route the kernel would pick for `ip` from `routes` (main table): longest prefix, then lowest metric. */
export function bestRoute(routes: readonly KernelRoute[], ip: IpAddress): KernelRoute | undefined {
  let best: KernelRoute | undefined;
  for (const route of routes) {
    if (route.type !== "unicast" || !cidrContainsIp(route.dst, ip)) continue;
    if (
      best === undefined ||
      route.dst.prefix > best.dst.prefix ||
      (route.dst.prefix === best.dst.prefix && (route.metric ?? 0) < (best.metric ?? 0))
    ) {
      best = route;
    }
  }
  return best;
}

/** The link a PublicIP is directly reachable through (no gateway on the chosen route), per `routes`. */
export function directLinkFromRoutes(routes: readonly KernelRoute[]): DirectLinkOf {
  return (publicIP) => {
    const route = bestRoute(routes, publicIP);
    return route !== undefined && route.gateway === undefined ? route.device : undefined;
  };
}
