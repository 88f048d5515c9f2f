#!/usr/bin/env bash
# `npm test`: make sure the machine has what the tests need, then run type checking, the build
# and the whole node:test suite on the pinned Node 24 (scripts/run-tests.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
exec node_modules/node/bin/node scripts/run-tests.ts "$@"
