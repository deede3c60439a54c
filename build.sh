#!/usr/bin/env bash
# Builds the single executable (default dist/gateway; OUT=path to place it elsewhere). No node_modules needed beside it.
set -euo pipefail
cd "$(dirname "$0")"
[ -x node_modules/.bin/bun ] || npm ci --no-audit --no-fund
out="${OUT:-dist/gateway}"
mkdir -p "$(dirname "$out")"
node_modules/.bin/bun build --compile --minify --bytecode --sourcemap=none src/main.ts --outfile "$out"
echo "built $out ($(du -h "$out" | cut -f1))"
