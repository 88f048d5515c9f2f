// The flanneld command line as data: every flag Flannel defines (F:main.go `init`, plus the three
// klog flags it copies), its default, its value kind and a one-line description, and the typed
// `FlanneldOptions` object the flags resolve into. Parsing lives in flags.ts; keeping the table
// apart lets the help text, the environment mapping and the tests all walk the same list.
//
// Defaults are Flannel's (reference §2.1), including the doc≠code ones: the etcd endpoints list
// both :4001 and :2379, and the subnet file is /run/flannel/subnet.env.
import type { TxChecksumOffloadSetting } from "../../backends/backend.ts";

/** Everything the flanneld command line and its FLANNELD_* variables decide. */
export interface FlanneldOptions {
  readonly etcdEndpoints: readonly string[]; // --etcd-endpoints, split on ","
  readonly etcdPrefix: string;
  readonly etcdKeyfile: string;
  readonly etcdCertfile: string;
  readonly etcdCafile: string;
  readonly etcdUsername: string;
  readonly etcdPassword: string;
  readonly kubeSubnetMgr: boolean;
  readonly kubeApiUrl: string;
  readonly kubeconfigFile: string;
  readonly kubeAnnotationPrefix: string;
  readonly netConfigPath: string;
  readonly setNodeNetworkUnavailable: boolean;
  readonly iface: readonly string[]; //      --iface, repeatable, tried in order
  readonly ifaceRegex: readonly string[]; // --iface-regex, repeatable, tried after --iface
  readonly ifaceCanReach: string;
  readonly publicIp: string; //   "" = not given (Flannel's own "unset")
  readonly publicIpv6: string;
  readonly subnetFile: string;
  readonly subnetLeaseRenewMargin: number; // minutes
  readonly ipMasq: boolean;
  readonly ipMasqFullyRandomDisable: boolean;
  readonly iptablesResync: number; // seconds
  readonly iptablesForwardRules: boolean;
  readonly ipBlackholeRoute: boolean;
  readonly healthzIp: string;
  readonly healthzPort: number; // 0 = no health server
  readonly version: boolean;
  readonly help: boolean;
  readonly checkConfig: boolean; // flannel-ts extension: print the resolved options and exit
  readonly verbosity: number; //   klog -v
  readonly vmodule: string; //     klog -vmodule, kept as text
  readonly logBacktraceAt: string; // klog -log_backtrace_at, kept as text
  readonly vxlanTxChecksumOffload: TxChecksumOffloadSetting; // flannel-ts extension (backends/vxlan/checksum-offload.ts)
  readonly peerProbeInterval: number; // ms, 0 = no probes; flannel-ts extension (agent/ops/probes/)
  readonly peerProbeUnreachableAfter: number; // ms; flannel-ts extension
}

// Exact: a field typed "auto" | "on" | "off" is not a field of type string (any text could not go there).
type FieldsOfType<T> = { [K in keyof FlanneldOptions]: FlanneldOptions[K] extends T ? (T extends FlanneldOptions[K] ? K : never) : never }[keyof FlanneldOptions];

interface FlagSpecCommon {
  /** The name as typed after the dash(es): "etcd-endpoints", "v", "log_backtrace_at". */
  readonly name: string;
  readonly description: string;
  /** Placeholder shown in the help text (`-iface name-or-ip`); booleans have none. */
  readonly valueName?: string;
  /** Action flags (--help, --version, --check-config) are never taken from the environment. */
  readonly fromEnvironment: boolean;
  /** Flags flannel-ts adds; Flannel does not have them. */
  readonly extension?: boolean;
}

export type FlagSpec = FlagSpecCommon &
  (
    | { readonly kind: "bool"; readonly field: FieldsOfType<boolean>; readonly default: boolean }
    | {
        readonly kind: "int";
        readonly field: FieldsOfType<number>;
        readonly default: number;
        /** klog's -v is parsed as a base-10 int32; Go's flag.Int takes base prefixes and int64. */
        readonly syntax: "go-int" | "klog-level";
      }
    | { readonly kind: "string"; readonly field: FieldsOfType<string>; readonly default: string }
    /** A string flag whose value is a comma list (Flannel splits it after parsing). */
    | { readonly kind: "comma-list"; readonly field: FieldsOfType<readonly string[]>; readonly default: readonly string[] }
    /** Each occurrence appends one value (Flannel's flagSlice). */
    | { readonly kind: "repeatable"; readonly field: FieldsOfType<readonly string[]>; readonly default: readonly string[] }
    /** A Go duration ("10s", "1m30s", "0"), held in milliseconds (flannel-ts' own flags only). */
    | { readonly kind: "duration"; readonly field: FieldsOfType<number>; readonly default: number }
    /** One of a few words; anything else is a parse error naming them. */
    | {
        readonly kind: "choice";
        readonly field: FieldsOfType<TxChecksumOffloadSetting>;
        readonly default: TxChecksumOffloadSetting;
        readonly choices: readonly TxChecksumOffloadSetting[];
      }
  );

/** In the order flanneld's help lists them (alphabetical, as Go's PrintDefaults sorts). */
export const flanneldFlags: readonly FlagSpec[] = [
  { name: "check-config", kind: "bool", field: "checkConfig", default: false, fromEnvironment: false, extension: true,
    description: "print the resolved options (flags, FLANNELD_* variables, defaults) as one JSON object and exit" },
  { name: "etcd-cafile", kind: "string", field: "etcdCafile", default: "", fromEnvironment: true, valueName: "file",
    description: "CA bundle that signs the etcd server certificates" },
  { name: "etcd-certfile", kind: "string", field: "etcdCertfile", default: "", fromEnvironment: true, valueName: "file",
    description: "TLS client certificate presented to etcd" },
  { name: "etcd-endpoints", kind: "comma-list", field: "etcdEndpoints", default: ["http://127.0.0.1:4001", "http://127.0.0.1:2379"],
    fromEnvironment: true, valueName: "urls", description: "comma-separated etcd client URLs" },
  { name: "etcd-keyfile", kind: "string", field: "etcdKeyfile", default: "", fromEnvironment: true, valueName: "file",
    description: "TLS client key for --etcd-certfile" },
  { name: "etcd-password", kind: "string", field: "etcdPassword", default: "", fromEnvironment: true, valueName: "password",
    description: "password for etcd authentication" },
  { name: "etcd-prefix", kind: "string", field: "etcdPrefix", default: "/coreos.com/network", fromEnvironment: true,
    valueName: "key", description: "etcd key prefix under which the network config and leases live" },
  { name: "etcd-username", kind: "string", field: "etcdUsername", default: "", fromEnvironment: true, valueName: "user",
    description: "user name for etcd authentication" },
  { name: "healthz-ip", kind: "string", field: "healthzIp", default: "0.0.0.0", fromEnvironment: true, valueName: "ip",
    description: "address the health server (/healthz, /readyz) listens on" },
  { name: "healthz-port", kind: "int", field: "healthzPort", default: 0, syntax: "go-int", fromEnvironment: true,
    valueName: "port", description: "port of the health server; 0 turns it off" },
  { name: "help", kind: "bool", field: "help", default: false, fromEnvironment: false,
    description: "print this help and exit" },
  { name: "iface", kind: "repeatable", field: "iface", default: [], fromEnvironment: true, valueName: "name-or-ip",
    description: "interface (by name or by one of its addresses) that carries traffic to other nodes; repeat to give fallbacks" },
  { name: "iface-can-reach", kind: "string", field: "ifaceCanReach", default: "", fromEnvironment: true, valueName: "ip",
    description: "use the interface (and source address) the kernel routes this destination through" },
  { name: "iface-regex", kind: "repeatable", field: "ifaceRegex", default: [], fromEnvironment: true, valueName: "regex",
    description: "regular expression matched against interface addresses, then names; repeatable, tried after --iface" },
  { name: "ip-blackhole-route", kind: "bool", field: "ipBlackholeRoute", default: false, fromEnvironment: true,
    description: "keep a blackhole route for this node's pod subnet so unknown pod addresses are dropped locally" },
  { name: "ip-masq", kind: "bool", field: "ipMasq", default: false, fromEnvironment: true,
    description: "masquerade traffic that leaves the overlay network" },
  { name: "ip-masq-fully-random-disable", kind: "bool", field: "ipMasqFullyRandomDisable", default: false, fromEnvironment: true,
    description: "do not ask for fully random source ports in the masquerade rules" },
  { name: "iptables-forward-rules", kind: "bool", field: "iptablesForwardRules", default: true, fromEnvironment: true,
    description: "add FORWARD accept rules for the pod network" },
  { name: "iptables-resync", kind: "int", field: "iptablesResync", default: 5, syntax: "go-int", fromEnvironment: true,
    valueName: "seconds", description: "seconds between checks that the firewall rules (and blackhole route) are still in place" },
  { name: "kube-annotation-prefix", kind: "string", field: "kubeAnnotationPrefix", default: "flannel.alpha.coreos.com",
    fromEnvironment: true, valueName: "prefix", description: "prefix of the node annotations that carry lease data" },
  { name: "kube-api-url", kind: "string", field: "kubeApiUrl", default: "", fromEnvironment: true, valueName: "url",
    description: "Kubernetes API server URL (not needed inside a pod)" },
  { name: "kube-subnet-mgr", kind: "bool", field: "kubeSubnetMgr", default: false, fromEnvironment: true,
    description: "take subnets from the Kubernetes API (node podCIDRs) instead of etcd" },
  { name: "kubeconfig-file", kind: "string", field: "kubeconfigFile", default: "", fromEnvironment: true, valueName: "file",
    description: "kubeconfig for reaching the API server (not needed inside a pod)" },
  { name: "log_backtrace_at", kind: "string", field: "logBacktraceAt", default: "", fromEnvironment: true, valueName: "file:line",
    description: "klog: log a stack trace when logging at this source line" },
  { name: "net-config-path", kind: "string", field: "netConfigPath", default: "/etc/kube-flannel/net-conf.json",
    fromEnvironment: true, valueName: "file", description: "network configuration file read in Kubernetes mode" },
  { name: "peer-probe-interval", kind: "duration", field: "peerProbeInterval", default: 10_000, fromEnvironment: true, extension: true,
    valueName: "duration", description: "how often each peer is sent an ICMP echo to its backend address (reachability, RTT and loss in /metrics and the log); at most 5 probes a second whatever the peer count (a round over many peers stretches accordingly); 0 turns the probes off" },
  { name: "peer-probe-unreachable-after", kind: "duration", field: "peerProbeUnreachableAfter", default: 30_000, fromEnvironment: true, extension: true,
    valueName: "duration", description: "a peer that has answered no probe for this long is logged and exported as unreachable" },
  { name: "public-ip", kind: "string", field: "publicIp", default: "", fromEnvironment: true, valueName: "ipv4",
    description: "IPv4 address other nodes use to reach this one (unset: the chosen interface's address)" },
  { name: "public-ipv6", kind: "string", field: "publicIpv6", default: "", fromEnvironment: true, valueName: "ipv6",
    description: "IPv6 address other nodes use to reach this one (unset: the chosen interface's address)" },
  { name: "set-node-network-unavailable", kind: "bool", field: "setNodeNetworkUnavailable", default: true, fromEnvironment: true,
    description: "in Kubernetes mode, set the node's NetworkUnavailable condition to False once the network is up" },
  { name: "subnet-file", kind: "string", field: "subnetFile", default: "/run/flannel/subnet.env", fromEnvironment: true,
    valueName: "file", description: "where to write the subnet.env file the CNI plugin reads" },
  { name: "subnet-lease-renew-margin", kind: "int", field: "subnetLeaseRenewMargin", default: 60, syntax: "go-int",
    fromEnvironment: true, valueName: "minutes", description: "renew the subnet lease this many minutes before it expires (1..1439)" },
  { name: "v", kind: "int", field: "verbosity", default: 0, syntax: "klog-level", fromEnvironment: true, valueName: "level",
    description: "klog: log verbosity level" },
  { name: "version", kind: "bool", field: "version", default: false, fromEnvironment: false,
    description: "print the version and exit" },
  { name: "vmodule", kind: "string", field: "vmodule", default: "", fromEnvironment: true, valueName: "pattern=N,...",
    description: "klog: per-file verbosity levels" },
  { name: "vxlan-tx-checksum-offload", kind: "choice", field: "vxlanTxChecksumOffload", default: "auto", choices: ["auto", "on", "off"],
    fromEnvironment: true, extension: true, valueName: "auto|on|off",
    description: "TX checksum offload on the VXLAN devices: auto turns it off only where the kernel or the underlay's driver is known to corrupt checksums with it, off always (Flannel's ethtool workaround; costs throughput), on never" },
];
