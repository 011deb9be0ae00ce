#!/bin/bash
# The one skip helper of every test script (sourced, not run). A test that cannot run here says
# why and skips on a developer's machine; under CI=true nothing may pass by not running, so
# there a skip is a failure. The guest of tests/vm/run.sh gets the caller's CI.
#   skip_or_fail WHY         the whole script cannot run: exit 77 (automake's SKIP), 1 in CI
#   skip_or_fail --case WHY  one case of a script using tests/vm/lib.sh cannot: the script
#                            goes on, and its finish() exits 77 (or 1) if nothing else failed
skip_or_fail() {
	local one_case=
	if [ "${1:-}" = --case ]; then
		one_case=1
		shift
	fi
	if [ "${CI:-}" = true ]; then
		echo "FAIL: $* (CI=true: a skip is a failure)"
		[ -n "$one_case" ] || exit 1
		fail=$((fail + 1))
		failed+=("$* (skipped in CI)")
		return 0
	fi
	echo "SKIP: $* (this is a failure in CI)"
	[ -n "$one_case" ] || exit 77
	skipped=$((skipped + 1))
}
