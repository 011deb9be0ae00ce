#!/bin/bash
# Set up a fresh Debian/Ubuntu machine and run every test chaosd has (README "Quick start";
# .ci/run calls this): gcc and clang -Werror builds, the fast suite (make check: unit tests,
# fuzz corpus replay, man pages, the host suites), the VM suites on a real netem kernel (make
# check-vm), unit tests under ASan+UBSan and valgrind, and a bounded libFuzzer run of each
# parser. Fails if a process it started outlives it, naming it.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
jobs=$(nproc)
step() { printf '\n=== %s\n' "$*"; }

step "dependencies (apt-get)"
tests/install-deps.sh

# From here on every process this run starts carries CHAOSD_RUN_ALL=<id> in its environment
# (make, flock, ip netns exec, qemu and the daemons the tests start pass it on): at exit, any
# still running is a leftover of a test. (Not before: installing a package may start a service.)
run_id=$$.$(date +%s%N)
export CHAOSD_RUN_ALL=$run_id
survivors() { # (grep's own /proc entry is not in its list: the shell expands it first)
	local f
	# shellcheck disable=SC2013 # /proc/PID/environ: no spaces
	for f in $(grep -lzx "CHAOSD_RUN_ALL=$run_id" /proc/[0-9]*/environ 2>/dev/null); do
		f=${f#/proc/}
		echo "${f%/environ}"
	done
}
# no_survivors: wait up to 5 s for the last ones to go, then name, kill and fail on the rest
no_survivors() {
	local pids
	for _ in $(seq 50); do
		pids=$(survivors)
		[ -n "$pids" ] || return 0
		sleep 0.1
	done
	echo "FAIL: processes started by this run outlived it (now killed):"
	ps -o pid=,args= -p "${pids//$'\n'/,}" || true
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null || true
	return 1
}
on_exit() {
	local rc=$?
	no_survivors || rc=1
	exit "$rc"
}
trap on_exit EXIT

step "autoreconf"
autoreconf -fi >/dev/null

step "clang -Werror build"
rm -rf build-clang && mkdir build-clang
(cd build-clang && ../configure -q CC=clang >/dev/null && make -s -j"$jobs" all)

step "gcc build and the fast suite (make check)"
rm -rf build && mkdir build
(
	cd build
	../configure -q >/dev/null
	make -s -j"$jobs" all
	if ! make -j"$jobs" check; then
		cat test-suite.log
		exit 1
	fi
)

step "the VM suites on a netem kernel (make check-vm)"
(
	cd build
	if ! make -j"$jobs" check-vm; then
		cat test-suite-vm.log
		exit 1
	fi
)
[ -f build/test-results/vm-e2e.txt ] && { step "measured in the VM"; cat build/test-results/vm-e2e.txt; }
[ -f build/test-results/vm-scenario.txt ] && { step "GameDay scenarios measured in the VM"; cat build/test-results/vm-scenario.txt; }
[ -f build/test-results/vm-crash.txt ] && { step "crash tests in the VM (kill -9 loop, qdisc preservation)"; cat build/test-results/vm-crash.txt; }
[ -f build/test-results/vm-deb.txt ] && { step "Debian package: built, linted, installed, used and purged in the VM"; cat build/test-results/vm-deb.txt; }

step "unit tests under ASan+UBSan"
rm -rf build-asan && mkdir build-asan
(
	cd build-asan
	../configure -q --enable-sanitizers >/dev/null
	if ! make -s -j"$jobs" check-unit; then
		cat test-suite.log
		exit 1
	fi
)

step "unit tests under valgrind"
# One test per core: they share nothing (the *-host ones, which need namespaces and netlink,
# are left to the sanitizers).
valgrind_one() {
	CK_FORK=no valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
		"$1" >/dev/null 2>"$1.valgrind" || { cat "$1.valgrind"; echo "valgrind: $1 failed"; return 1; }
	rm -f "$1.valgrind"
	echo "valgrind clean: $1"
}
export -f valgrind_one
# shellcheck disable=SC2016 # expanded by the inner bash
for t in build/tests/test-*; do
	if [ ! -x "$t" ] || [ "${t%.*}" != "$t" ]; then continue; fi
	case $t in *-host) continue ;; esac
	printf '%s\0' "$t"
done | xargs -0 -n1 -P"$jobs" bash -c 'valgrind_one "$0"'

step "libFuzzer, ${CHAOSD_FUZZ_SECONDS:=60}s per parser"
(cd build && make -s fuzz)
# One parser per core; each prints its lines when done, so they do not interleave.
fuzz_one() {
	local work out rc
	work=$(mktemp -d)
	cp "fuzz/corpus/$1"/* "$work/"
	out=$(build/fuzz-build/fuzz-"$1" -max_total_time="$CHAOSD_FUZZ_SECONDS" -print_final_stats=1 \
		"$work" 2>&1) && rc=0 || rc=$?
	rm -rf "$work"
	grep -E 'stat::number_of_executed_units|ERROR|SUMMARY' <<<"$out" | sed "s/^/fuzz-$1: /"
	((rc == 0)) || { tail -40 <<<"$out" | sed "s/^/fuzz-$1: /"; echo "fuzz-$1: failed (exit $rc)"; }
	return "$rc"
}
export -f fuzz_one
export CHAOSD_FUZZ_SECONDS
# shellcheck disable=SC2016 # expanded by the inner bash
printf '%s\0' config fault proto scenario journal | xargs -0 -n1 -P"$jobs" bash -c 'fuzz_one "$0"'

step "no process left behind"
no_survivors
echo "none"

step "all tests passed"
