#!/bin/bash
# `make bench`: install what is missing (tests/install-deps.sh), boot Debian's netem kernel
# under qemu (tests/vm) and run bench/guest.sh there; print the table and where it ran.
# Results are also kept in $top_builddir/bench-results/.
#
# Environment: BENCH_QUICK=1 (fewer repeats, and no one-tc-per-change baseline for 1000 faults,
# ~3000 tc processes), BENCH_FULL=0|1 (that baseline left out or run, whatever BENCH_QUICK says),
# BENCH_ONLY=floor (only chaosd against the floor, bench/floor.c: a few minutes),
# and the CHAOSD_VM_* variables of tests/vm/run.sh.
set -euo pipefail
: "${top_srcdir:?}" "${top_builddir:?}"

[ "$(id -u)" = 0 ] || { echo "bench: needs root (network namespaces and tc in the guest)" >&2; exit 1; }
"$top_srcdir/tests/install-deps.sh"
"$top_srcdir/tests/vm/prepare.sh"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export CHAOSD_BUILDDIR=$top_builddir CHAOSD_SRCDIR=$top_srcdir
[ -n "${BENCH_QUICK:-}" ] && export CHAOSD_BENCH_QUICK=$BENCH_QUICK
[ -n "${BENCH_FULL:-}" ] && export CHAOSD_BENCH_FULL=$BENCH_FULL
[ -n "${BENCH_ONLY:-}" ] && export CHAOSD_BENCH_ONLY=$BENCH_ONLY
load0=$(cut -d' ' -f1-3 /proc/loadavg)
start=$SECONDS
"$top_srcdir/tests/vm/run.sh" --timeout 5400 --out "$out" "$top_srcdir/bench/guest.sh"
res=$top_builddir/bench-results
mkdir -p "$res"
cp "$out/bench.raw" "$out/bench.txt" "$res/"
rm -f "$res"/apply*.txt # an earlier run's, which may have had other runs
cp "$out"/apply[0-9]*.txt "$res/" 2>/dev/null || true # per inject of each run: round trip, in kernel (us)
{
	echo
	echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs, $(free -g | awk '/^Mem:/ { print $2 }') GiB;"
	echo "guest: qemu TCG (no KVM), 2 vCPUs, 2 GiB, kernel $(cat "${CHAOSD_VM_CACHE:-$HOME/.cache/chaosd-vm}/kver"); veth between two namespaces."
	echo "Run: $(date -u +%Y-%m-%d), $((SECONDS - start)) s, chaosd $(git -C "$top_srcdir" describe --always --dirty 2>/dev/null || echo '?');"
	echo "host load average before/after: $load0 / $(cut -d' ' -f1-3 /proc/loadavg)."
} | tee -a "$res/bench.txt"
