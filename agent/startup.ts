// The pure steps of flanneld's start-up: from the config, the chosen interface and the backend
// to what the data plane, the lease, subnet.env and the firewall rules need. Kept apart from
// daemon.ts so the daemon is wiring only.
import type { LocalNode, OwnSubnets, PreparedBackend } from "../backends/backend.ts";
import type { FamilyNetworks } from "../backends/kernel/rules/rule-keeper.ts";
import { parseIp, type Cidr } from "../backends/net/ip.ts";
import type { ExternalInterface } from "./config/interface.ts";
import type { NetConf } from "./config/net-conf.ts";
import type { PreviousSubnetEnv, SubnetEnvContent } from "./config/subnet-env.ts";
import { leaseBackendType } from "./peers.ts";
import type { Lease, LeaseAttrs } from "./subnet/manager.ts";

export function localNode(conf: NetConf, ext: ExternalInterface, vtepMACs: Pick<LocalNode, "vtepMAC" | "vtepMACv6"> = {}): LocalNode {
  return {
    ...vtepMACs,
    link: { name: ext.name, index: ext.index, mtu: ext.mtu },
    ...(ext.ifaceAddr === undefined ? {} : { ifaceAddr: ext.ifaceAddr }),
    ...(ext.ifaceV6Addr === undefined ? {} : { ifaceV6Addr: ext.ifaceV6Addr }),
    ...(ext.extAddr === undefined ? {} : { extAddr: ext.extAddr }),
    ...(ext.extV6Addr === undefined ? {} : { extV6Addr: ext.extV6Addr }),
    ...(conf.ipv4.enabled && conf.ipv4.network !== undefined ? { network: conf.ipv4.network } : {}),
    ...(conf.ipv6.enabled && conf.ipv6.network !== undefined ? { networkV6: conf.ipv6.network } : {}),
    backendConfig: conf.backend?.value ?? {},
  };
}

/**
 * Flannel writes PublicIP "0.0.0.0" when the node has no IPv4 address to advertise, and no
 * BackendType for udp (its lease is only the public addresses; kube: backend-type "").
 */
export function leaseAttrs(conf: NetConf, ext: ExternalInterface, prepared: PreparedBackend): LeaseAttrs {
  return {
    publicIP: ext.extAddr ?? parseIp("0.0.0.0")!,
    ...(conf.ipv6.enabled && ext.extV6Addr !== undefined ? { publicIPv6: ext.extV6Addr } : {}),
    backendType: leaseBackendType(conf.backendType),
    ...(prepared.backendData === undefined ? {} : { backendData: prepared.backendData }),
    ...(prepared.backendV6Data === undefined ? {} : { backendV6Data: prepared.backendV6Data }),
  };
}

export function ownSubnets(lease: Lease): OwnSubnets {
  return {
    ...(lease.subnet === undefined ? {} : { subnet: lease.subnet }),
    ...(lease.subnetV6 === undefined ? {} : { subnetV6: lease.subnetV6 }),
  };
}

export function subnetEnvContent(conf: NetConf, lease: Lease, mtu: number, ipMasq: boolean): SubnetEnvContent {
  const v4 = conf.ipv4.enabled && conf.ipv4.network !== undefined && lease.subnet !== undefined;
  const v6 = conf.ipv6.enabled && conf.ipv6.network !== undefined && lease.subnetV6 !== undefined;
  return {
    ...(v4 ? { network: conf.ipv4.network, subnet: lease.subnet } : {}),
    ...(v6 ? { ipv6Network: conf.ipv6.network, ipv6Subnet: lease.subnetV6 } : {}),
    mtu,
    ipMasq,
  };
}

/** Per enabled family, the networks the masquerade/forward rules are built from (and the previous ones). */
export function ruleFamilies(conf: NetConf, lease: Lease, previous: PreviousSubnetEnv): FamilyNetworks[] {
  const families: FamilyNetworks[] = [];
  const add = (family: 4 | 6, network: Cidr | undefined, subnet: Cidr | undefined, previousNetwork?: Cidr, previousSubnet?: Cidr): void => {
    if (network === undefined || subnet === undefined) return;
    families.push({
      family,
      network,
      subnet,
      ...(previousNetwork !== undefined && previousSubnet !== undefined ? { previous: { network: previousNetwork, subnet: previousSubnet } } : {}),
    });
  };
  if (conf.ipv4.enabled) add(4, conf.ipv4.network, lease.subnet, previous.network, previous.subnet);
  if (conf.ipv6.enabled) add(6, conf.ipv6.network, lease.subnetV6, previous.ipv6Network, previous.ipv6Subnet);
  return families;
}
