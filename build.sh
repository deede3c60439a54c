#!/usr/bin/env bash
# Builds the single executable (default dist/gateway; OUT=path to place it elsewhere). No node_modules needed beside it.
# The usage writer thread (src/store/usage-writer-worker.ts) is a second entrypoint: Bun bundles a Worker only if listed.
set -euo pipefail
cd "$(dirname "$0")"
[ -x node_modules/.bin/bun ] || npm ci --no-audit --no-fund
out="${OUT:-dist/gateway}"
mkdir -p "$(dirname "$out")"
node_modules/.bin/bun build --compile --minify --bytecode --sourcemap=none src/main.ts src/store/usage-writer-worker.ts --outfile "$out"
echo "built $out ($(du -h "$out" | cut -f1))"
