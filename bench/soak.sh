#!/usr/bin/env bash
# The full soak (issue: 2 minutes of mixed load with RSS sampled); CI runs the same test for 20 s.
set -euo pipefail
cd "$(dirname "$0")/.."
SOAK_SECONDS="${SOAK_SECONDS:-120}" node_modules/.bin/bun test test/integration/reliability/soak.test.ts
