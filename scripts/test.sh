#!/usr/bin/env bash
# The README's test command: install what the tests need, build, typecheck, run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-deps.sh
npm ci
npm run build
npm run typecheck   # sources, tests, scripts and benchmarks, strict
npm run lint        # one formatter and linter (Biome) for the whole tree
mkdir -p test/artifacts
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=test/artifacts/vitest.json "$@" || status=$?
# One plain closing line with the totals (vitest's own summary is decorated for terminals).
node -e '
  const r = JSON.parse(require("node:fs").readFileSync("test/artifacts/vitest.json", "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`\nvitest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' || true
exit "$status"
