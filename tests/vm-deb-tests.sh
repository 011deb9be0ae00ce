#!/bin/bash
# make check: the Debian package. dpkg-buildpackage builds chaosd_*.deb from a copy of the
# source tree (a package build writes into the tree it builds), lintian must find no error,
# then tests/vm/deb.sh installs, uses and purges it in the netem VM under systemd.
set -uo pipefail
: "${top_srcdir:?}" "${top_builddir:?}"
# shellcheck source=tests/skip.sh
. "$top_srcdir/tests/skip.sh"
need() { # need COMMAND PACKAGE: in CI (CI=true) a missing tool fails, elsewhere it skips
	command -v "$1" >/dev/null ||
		skip_or_fail "$1 missing (Debian package $2): run tests/install-deps.sh"
}
# Without root the VM cannot run: vm-test.sh says so, before an unused package build.
[ "$(id -u)" = 0 ] || exec "$top_srcdir/tests/vm-test.sh" vm-deb 1200 deb.sh --systemd
need dpkg-buildpackage dpkg-dev
need dh debhelper
need lintian lintian
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

# Under /var/tmp, not /run: the guest sees the host's / but has its own /run.
work=$(mktemp -d /var/tmp/chaosd-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/src"
# The tree as it is (uncommitted edits included) without what .gitignore lists: no build
# directories, no generated configure. Not a git checkout (a tarball, or git refusing a tree
# owned by another user): all of it but build directories.
if git -C "$top_srcdir" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git -C "$top_srcdir" ls-files -z -co --exclude-standard |
		tar -C "$top_srcdir" --null -T - --ignore-failed-read -cf - 2>/dev/null
else
	tar -C "$top_srcdir" --exclude=./.git --exclude='./build*' -cf - .
fi | tar -C "$work/src" -xf - || { echo "FAIL: could not copy $top_srcdir"; exit 1; }

# nocheck: this make check runs the unit tests itself. The parent make's jobserver and the
# test environment stay out of the package build.
t0=$(now_ms)
(cd "$work/src" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u top_srcdir -u top_builddir \
	DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -us -uc -b) \
	>"$work/build.log" 2>&1
rc=$?
t_build=$(($(now_ms) - t0))
debs=("$work"/chaosd_*.deb)
if [ "$rc" != 0 ] || [ ! -f "${debs[0]}" ]; then
	tail -n 60 "$work/build.log"
	echo "FAIL: dpkg-buildpackage -us -uc -b exited $rc (no chaosd_*.deb)"
	exit 1
fi
echo "PASS: dpkg-buildpackage built $(basename "${debs[0]}") in $((t_build / 1000)) s"

mkdir -p "$top_builddir/test-results"
lint=$top_builddir/test-results/lintian.txt
lintian --fail-on error --display-info "$work"/chaosd_*.changes >"$lint" 2>&1
lrc=$?
cat "$lint"
counts="$(grep -c '^E:' "$lint") errors, $(grep -c '^W:' "$lint") warnings, $(grep -c '^I:' "$lint") info"
if [ "$lrc" != 0 ]; then
	echo "FAIL: lintian: $counts (exit $lrc)"
	exit 1
fi
echo "PASS: lintian: $counts"

CHAOSD_DEB=${debs[0]} "$top_srcdir/tests/vm-test.sh" vm-deb 1200 deb.sh --systemd
rc=$?
printf 'deb: dpkg-buildpackage %s ms; lintian %s\n' "$t_build" "$counts" \
	>>"$top_builddir/test-results/vm-deb.txt"
exit $rc
