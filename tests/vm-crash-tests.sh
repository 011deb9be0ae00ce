#!/bin/bash
# make check: boot a real netem kernel (tests/vm) and run the crash tests inside it: SIGKILL at
# random points never leaves kernel state behind once chaosd restarts or `chaosd --cleanup`
# runs, and the user's own qdiscs come back byte-for-byte (tests/vm/crash.sh).
# In CI (CI=true) a missing piece is a failure; on a laptop it skips with the reason.
# CHAOSD_CRASH_SEED / _CYCLES / _BUDGET pass through to the guest (see tests/vm/crash.sh).
set -uo pipefail
: "${top_srcdir:?}" "${top_builddir:?}"
skip_or_fail() {
	if [ "${CI:-}" = true ]; then
		echo "FAIL: $*"
		exit 1
	fi
	echo "SKIP: $* (this is a failure in CI)"
	exit 77
}
command -v qemu-system-x86_64 >/dev/null || skip_or_fail "qemu-system-x86_64 missing: run tests/install-deps.sh"
[ "$(id -u)" = 0 ] || skip_or_fail "the VM tests need root (network namespaces in the guest run as root, the 9p share must read everything)"
out=$(mktemp -d)
export CHAOSD_BUILDDIR=$top_builddir CHAOSD_SRCDIR=$top_srcdir
"$top_srcdir/tests/vm/prepare.sh" || skip_or_fail "could not prepare the VM kernel (apt-get download linux-image-amd64)"
# The kill loop stops itself after CHAOSD_CRASH_BUDGET (720 s) of script time; the timeout
# only catches a hang.
"$top_srcdir/tests/vm/run.sh" --timeout 1200 --out "$out" "$top_srcdir/tests/vm/crash.sh"
rc=$?
if [ -s "$out/results.txt" ]; then
	mkdir -p "$top_builddir/test-results"
	cp "$out/results.txt" "$top_builddir/test-results/vm-crash.txt"
fi
rm -rf "$out"
exit $rc
