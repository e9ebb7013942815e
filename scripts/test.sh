#!/usr/bin/env bash
# The README's test command: install what the tests need, build, run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-deps.sh
npm ci
npm run build
npm run typecheck   # sources, tests, scripts and benchmarks, strict
npx vitest run "$@"
