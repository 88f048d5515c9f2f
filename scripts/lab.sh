#!/usr/bin/env bash
# `npm run lab`: make sure the machine has what the lab needs (Debian packages, npm deps), build
# the agent and the CNI plugin, then run the lab (deploy/lab/main.ts) on the pinned Node 24.
# Arguments pass through: npm run lab -- --nodes 4 --backend host-gw | --once | down [--name N]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
case "${1:-}" in
  down | help | -h | --help) ;;  # removing a lab or printing the usage needs no fresh build
  *)
    started=$(date +%s%N)
    printf '  build (agent, CNI plugin) … '
    node_modules/node/bin/node scripts/build.ts
    elapsed=$(( ($(date +%s%N) - started) / 1000000 ))
    printf '%d.%02d s\n' $((elapsed / 1000)) $((elapsed % 1000 / 10))
    ;;
esac
exec node_modules/node/bin/node deploy/lab/main.ts "$@"
