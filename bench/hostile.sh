#!/bin/bash
# `make bench-hostile`: root's kill-switch latency under each attack class of
# tests/host-hostile-tests.sh (which it runs with HOSTILE_ATTACKS_ONLY=1, on this machine's
# kernel, in network namespaces) and chaosd's peak RSS (VmHWM) after each. The latencies are
# from connect() to the whole reply, timed by a raw-protocol client (tests/hostile.py), so no
# process start-up is in them; "chaosctl kill" is one end-to-end run of the real client.
# The suite's own verdicts (ok / not ok) are printed above the table.
#
# Environment: BENCH_TRIES (pings and kills timed per class, default 100), MEM_BOUND_KIB.
# The table is also kept in $top_builddir/bench-results/hostile.txt.
set -uo pipefail
: "${top_srcdir:?}" "${top_builddir:?}"

[ "$(id -u)" = 0 ] || { echo "bench-hostile: needs root (users, network namespaces)" >&2; exit 1; }
export top_srcdir top_builddir
raw=/run/chaosd-hostile-test/results.txt # host-lib.sh's test directory for "hostile"
start=$SECONDS
HOSTILE_ATTACKS_ONLY=1 TRIES=${BENCH_TRIES:-100} "$top_srcdir/tests/host-hostile-tests.sh"
rc=$?
[ -s "$raw" ] || { echo "bench-hostile: the suite recorded nothing ($raw)" >&2; exit 1; }
res=$top_builddir/bench-results
mkdir -p "$res"
{
	echo
	printf '%-58s %21s %21s %9s %9s\n' "attack class (latency: p50 / p99 / max, ms)" \
		"root ping" "root kill" "chaosctl" "VmHWM"
	printf '%-58s %21s %21s %9s %9s\n' "" "" "" "kill, ms" "KiB"
	sed -n 's/^BENCH //p' "$raw" | while read -r line; do
		class=$(sed -n "s/^class='\\([^']*\\)'.*/\\1/p" <<<"$line")
		v() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$line"; }
		printf '%-58s %21s %21s %9s %9s' "$class" \
			"$(v ping_p50) / $(v ping_p99) / $(v ping_max)" \
			"$(v kill_p50) / $(v kill_p99) / $(v kill_max)" "$(v e2e_kill_ms)" "$(v vmhwm_kib)"
		[ "$(v errors)" = 0 ] || printf '  (%s requests failed)' "$(v errors)"
		echo
	done
	echo
	echo "$(sed -n 's/^BENCH .* n=\([0-9]*\) .*/\1/p' "$raw" | head -1) pings and kills per class" \
		"(inf: no reply within 2 s); VmHWM is chaosd's peak since its start, after that class."
	echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs;" \
		"kernel $(uname -r); run $(date -u +%Y-%m-%d), $((SECONDS - start)) s, chaosd" \
		"$(git -C "$top_srcdir" describe --always --dirty 2>/dev/null || echo '?');" \
		"load average after: $(cut -d' ' -f1-3 /proc/loadavg)."
} | tee "$res/hostile.txt"
exit $rc
