#!/bin/bash
# make check: boot the host's systemd as PID 1 in the netem VM (tests/vm/run.sh --systemd) and
# check chaosd's units there: socket activation, sd_notify, watchdog, ExecStopPost cleanup,
# stop, reload, audit journal. In CI (CI=true) a missing piece is a failure; else it skips.
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
[ "$(id -u)" = 0 ] || skip_or_fail "the VM tests need root (the 9p share must read everything)"
[ -x /lib/systemd/systemd ] || skip_or_fail "no /lib/systemd/systemd on this host to boot in the VM"
command -v systemd-sysusers >/dev/null || skip_or_fail "systemd-sysusers missing (the guest runs the host's)"
out=$(mktemp -d)
export CHAOSD_BUILDDIR=$top_builddir CHAOSD_SRCDIR=$top_srcdir
"$top_srcdir/tests/vm/prepare.sh" || skip_or_fail "could not prepare the VM kernel (apt-get download linux-image-amd64)"
"$top_srcdir/tests/vm/run.sh" --systemd --timeout 900 --out "$out" "$top_srcdir/tests/vm/systemd.sh"
rc=$?
if [ -s "$out/results.txt" ]; then
	mkdir -p "$top_builddir/test-results"
	cp "$out/results.txt" "$top_builddir/test-results/vm-systemd.txt"
fi
rm -rf "$out"
exit $rc
