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
trap 'rm -rf "$LODGE_TEST_IMAGES"' EXIT
# system tests start their own lodged and real guests: one file at a time
node --test --test-concurrency=1 --test-reporter=spec "${unit[@]}" "${system[@]}"
