#!/usr/bin/env bash
# Builds the single executable dist/gateway (no node_modules needed beside it).
set -euo pipefail
cd "$(dirname "$0")"
[ -x node_modules/.bin/bun ] || npm ci --no-audit --no-fund
mkdir -p dist
node_modules/.bin/bun build --compile --minify --bytecode --sourcemap=none src/main.ts --outfile dist/gateway
echo "built dist/gateway ($(du -h dist/gateway | cut -f1))"
