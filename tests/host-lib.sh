#!/bin/bash
# Shared start of the host tests (make check, on this machine's kernel, in network
# namespaces): skip or fail when a requirement is missing, and sourcing tests/vm/lib.sh with
# a test directory of their own. Sourced, not run: . host-lib.sh NAME [COMMAND...]
: "${top_srcdir:?}" "${top_builddir:?}"
# Every host test uses the same namespaces (cd-a, cd-b) and make check -j runs tests at the
# same time: one host test at a time, the lock held by flock itself (-o: not by the daemons
# and servers a test starts in the background).
if [ -z "${CHAOSD_HOST_LOCKED:-}" ]; then
	export CHAOSD_HOST_LOCKED=1
	exec flock -o -w 900 /run/chaosd-host-tests.lock bash "$0"
fi
skip_or_fail() {
	if [ "${CI:-}" = true ]; then
		echo "FAIL: $* (CI=true: a skip is a failure)"
		exit 1
	fi
	echo "SKIP: $*"
	exit 77
}
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
