#!/usr/bin/env bash
# The test command: installs what the tests need, typechecks, and runs every test
# (unit tests beside the code, system tests against real engines in test/system).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
npm run --silent typecheck
mapfile -t unit < <(find dist/src -name '*.test.js' | sort)
mapfile -t system < <(find dist/test -name '*.test.js' | sort)
# images built once in this run and shared by the test files that need them (debian/12 takes minutes)
LODGE_TEST_IMAGES=$(mktemp -d /tmp/lodge-test-images-XXXXXX)
export LODGE_TEST_IMAGES
results=$(mktemp -d /tmp/lodge-test-results-XXXXXX)
trap 'rm -rf "$LODGE_TEST_IMAGES" "$results"' EXIT
status=0
# unit tests use no engine and spend most of their time waiting (timers, child processes): three files at a time
node --test --test-concurrency=3 --test-reporter=spec "${unit[@]}" | tee "$results/unit" || status=1
# system tests start their own lodged and real guests: one file at a time
node --test --test-concurrency=1 --test-reporter=spec "${system[@]}" | tee "$results/system" || status=1
# one closing line for both runs (node's runner counts a timed-out test as cancelled, not failed)
count() { awk -v key="$1" '$1 == "ℹ" && $2 == key { n += $3 } END { print n + 0 }' "$results/unit" "$results/system"; }
echo "tests: $(count pass) passed, $(( $(count fail) + $(count cancelled) )) failed"
exit "$status"
