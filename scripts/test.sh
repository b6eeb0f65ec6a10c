#!/usr/bin/env bash
# The test command: installs what the tests need, typechecks, and runs every test
# (unit tests beside the code, system tests against real engines in test/system).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
npm run --silent typecheck
mapfile -t unit < <(find dist/src -name '*.test.js' | sort)
mapfile -t system < <(find dist/test -name '*.test.js' | sort)
# system tests start their own lodged and real guests: one file at a time
exec node --test --test-concurrency=1 --test-reporter=spec "${unit[@]}" "${system[@]}"
