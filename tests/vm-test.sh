#!/bin/bash
# The make check driver of every VM test: boot Debian's netem kernel (tests/vm/run.sh) and
# run one guest script in it, keeping its results.txt as test-results/NAME.txt.
#   tests/vm-test.sh NAME TIMEOUT GUEST-SCRIPT [run.sh options...]
# In CI (CI=true) a missing piece is a failure; on a laptop it skips with the reason
# (tests/skip.sh).
set -uo pipefail
: "${top_srcdir:?}" "${top_builddir:?}"
name=$1 timeout=$2 script=$3
shift 3
# shellcheck source=tests/skip.sh
. "$top_srcdir/tests/skip.sh"
command -v qemu-system-x86_64 >/dev/null || skip_or_fail "qemu-system-x86_64 missing: run tests/install-deps.sh"
[ "$(id -u)" = 0 ] || skip_or_fail "the VM tests need root (network namespaces in the guest run as root, the 9p share must read everything)"
if [[ " $* " == *" --systemd "* ]]; then
	[ -x /lib/systemd/systemd ] || skip_or_fail "no /lib/systemd/systemd on this host to boot in the VM"
	command -v systemd-sysusers >/dev/null || skip_or_fail "systemd-sysusers missing (the guest runs the host's)"
fi
out=$(mktemp -d)
export CHAOSD_BUILDDIR=$top_builddir CHAOSD_SRCDIR=$top_srcdir
"$top_srcdir/tests/vm/prepare.sh" || skip_or_fail "could not prepare the VM kernel (apt-get download linux-image-amd64)"
"$top_srcdir/tests/vm/run.sh" "$@" --timeout "$timeout" --out "$out" "$top_srcdir/tests/vm/$script"
rc=$?
if [ -s "$out/results.txt" ]; then
	mkdir -p "$top_builddir/test-results"
	cp "$out/results.txt" "$top_builddir/test-results/$name.txt"
fi
rm -rf "$out"
exit $rc
