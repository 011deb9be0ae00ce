#!/bin/bash
# Shared start of the host tests (make check, on this machine's kernel, in network
# namespaces): skip or fail when a requirement is missing (tests/skip.sh), sourcing
# tests/vm/lib.sh with a test directory of their own, and an exit that leaves nothing running.
# Sourced, not run: . host-lib.sh NAME [COMMAND...]
# A suite's own `cleanup` function, if it defines one, runs first at exit; then every
# background job of the suite and every process in cd-a, cd-b and cd-c is ended and the
# namespaces are deleted.
: "${top_srcdir:?}" "${top_builddir:?}"
# Every host test uses the same namespaces (cd-a, cd-b) and make check -j runs tests at the
# same time: one host test at a time, the lock held by flock itself (-o: not by the daemons
# and servers a test starts in the background).
if [ -z "${CHAOSD_HOST_LOCKED:-}" ]; then
	export CHAOSD_HOST_LOCKED=1
	flock -o -w 900 -E 75 /run/chaosd-host-tests.lock bash "$0"
	rc=$?
	# flock's own timeout says nothing: say why this suite did not run
	[ "$rc" != 75 ] || echo "FAIL: /run/chaosd-host-tests.lock still held by other host suites after 900 s"
	exit "$rc"
fi
# shellcheck source=tests/skip.sh
. "$top_srcdir/tests/skip.sh"
[ "$(id -u)" = 0 ] || skip_or_fail "needs root for network namespaces"
for c in ip "${@:2}"; do
	command -v "$c" >/dev/null || skip_or_fail "'$c' missing: run tests/install-deps.sh"
done
export CHAOSD_BUILDDIR=$top_builddir CHAOSD_SRCDIR=$top_srcdir
export CHAOSD_TEST_DIR=/run/chaosd-$1-test
# shellcheck source=tests/vm/lib.sh
. "$top_srcdir/tests/vm/lib.sh"
# wait_until SECONDS CMD...: poll every 0.1 s
wait_until() {
	local n=$(($1 * 10))
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}
host_exit() {
	local rc=$? jobs
	if declare -F cleanup >/dev/null; then cleanup; fi
	jobs=$(jobs -p)
	# shellcheck disable=SC2086
	[ -z "$jobs" ] || kill $jobs 2>/dev/null
	netns_del cd-a cd-b cd-c
	exit "$rc"
}
trap host_exit EXIT
