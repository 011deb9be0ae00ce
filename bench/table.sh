#!/bin/bash
# Print bench/guest.sh's raw numbers (bench.raw) as the table doc/performance.md quotes.
#   bench/table.sh BENCH.RAW
set -euo pipefail
raw=${1:?usage: bench/table.sh BENCH.RAW}
awk '
function ms(us) { return sprintf("%.1f ms", us / 1000) }
function num(s) { return s + 0 }
# p50 and max of the first number after the key, over every line of the key
function add(k, v) { n[k]++; val[k, n[k]] = v }
function sorted(k,    i, j, t) {
	for (i = 1; i <= n[k]; i++) s[i] = val[k, i]
	for (i = 2; i <= n[k]; i++) for (j = i; j > 1 && s[j - 1] > s[j]; j--) { t = s[j]; s[j] = s[j - 1]; s[j - 1] = t }
}
function p50(k) { if (!n[k]) return -1; sorted(k); return s[int((n[k] + 1) / 2)] }
function pmax(k) { if (!n[k]) return -1; sorted(k); return s[n[k]] }
function cell(k) { return n[k] ? sprintf("%9s %9s", ms(p50(k)), ms(pmax(k))) : sprintf("%19s", "not run") }
function verdict(ok) { return ok < 0 ? "not measured" : ok ? "met" : "MISSED" }
function target(what, value, ok) { printf "  %-66s %18s  %s\n", what, value, verdict(ok) }
function list(k,    f, i, o) { split(runs[k], f, " "); for (i = 2; i in f; i++) o = o sprintf("%s%.1f", i > 2 ? " " : "", f[i] / 1000); return o " ms" }
function ratio(a, b) { return (a > 0 && b > 0) ? sprintf("%6.1fx", b / a) : "     -" }
$1 ~ /^floor_apply_/ { runs[$1] = $0; next }
$1 ~ /^floor_kill_/ { add($1, num($2)); add($1 "_gone", num($3)); next }
$1 ~ /^kill_own_/ { if ($2 != "nan") add($1, num($2) * 1000); next }
$1 ~ /^kill_/ && $2 != "skipped" { add($1, num($2)); add($1 "_cmd", num($3)); next }
$1 == "scenario_100" { sc = $0; next }
# each run'"'"'s number: "key v1 v2 ...", printed as a list
$1 ~ /_runs_/ { runs[$1] = $0; next }
$1 == "apply_rt_mean100" { for (i = 2; i <= NF; i++) mean100 = mean100 sprintf("%s%.1f", i > 2 ? " " : "", $i / 1000); next }
$1 == "apply_rt_slowest" { for (i = 2; i <= NF; i++) { split($i, p, ":"); slowest = slowest sprintf("%s%s: %.1f", i > 2 ? ", " : "", p[1], p[2] / 1000) }; next }
{ v[$1] = $2 }
function lmed(k,    f, i, c, t, j) { c = split(runs[k], f, " ") - 1; if (c < 1) return -1
	for (i = 1; i <= c; i++) t[i] = f[i + 1] + 0
	for (i = 2; i <= c; i++) for (j = i; j > 1 && t[j - 1] > t[j]; j--) { x = t[j]; t[j] = t[j - 1]; t[j - 1] = x }
	return t[int((c + 1) / 2)] }
function fratio(c, f) { return (c > 0 && f > 0) ? sprintf("%.2fx", c / f) : "-" }
# chaosd against the floor variant K (raw floor_apply_K_p50/p99), named NAME
function versus(k, name,    i, q, c, f) {
	for (i = 1; i <= 2; i++) {
		q = i == 1 ? "p50" : "p99"
		c = lmed("floor_apply_chaosd_" q); f = lmed("floor_apply_" k "_" q)
		printf "    %s  chaosd %8s  %s %s (%s the floor)  chaosd/%s %6s   runs: %s\n", q, ms(c), name, ms(f), fratio(f, lmed("floor_apply_floor_" q)), name, fratio(c, f), list("floor_apply_" k "_" q)
	}
}
function floor_table(    q, N, i, c, f) {
	if (!("floor_apply_floor_p50" in runs) && !n["floor_kill_floor_1"]) return
	print "chaosd against the floor (bench/floor.c: chaosd'"'"'s kernel messages and nothing else),"
	print "each pair measured one right after the other; medians of the runs / repeats"
	print "  apply, 1000 faults one by one (chaosd: request round trip; floor: its batch)"
	for (i = 1; i <= 2; i++) {
		q = i == 1 ? "p50" : "p99"
		c = lmed("floor_apply_chaosd_" q); f = lmed("floor_apply_floor_" q)
		printf "    %s  chaosd %8s  floor %8s  chaosd/floor %6s   runs: chaosd %s, floor %s\n", q, ms(c), ms(f), fratio(c, f), list("floor_apply_chaosd_" q), list("floor_apply_floor_" q)
		fl["apply_" q] = (c > 0 && f > 0) ? c / f : -1
	}
	if ("floor_apply_floorrt_p50" in runs) {
		print "  ... the floor behind a request round trip (bench/floor.c apply-rt: its batch made by"
		print "  a second process, one request per fault over a UNIX socket): what the round trip costs"
		versus("floorrt", "floor+rt")
	}
	if ("floor_apply_floord_p50" in runs) {
		print "  ... the floor behind a minimal daemon with chaosd'"'"'s duties (apply-daemon: one sd-event"
		print "  loop, a durable write-ahead record, the batch, a confirmation, an audit line, the reply)"
		versus("floord", "daemon")
	}
	print "  kill switch (chaosd: its own time for the kill; floor: its one batch; gone: until"
	print "  the kernel is clean seen from outside, both with a process start: chaosctl, floor)"
	for (i = 1; i <= 3; i++) {
		N = i == 1 ? 1 : i == 2 ? 100 : 1000
		c = p50("floor_kill_chaosd_" N); f = p50("floor_kill_floor_" N)
		printf "    N=%-5d chaosd %9s  floor %9s  chaosd/floor %6s   gone: chaosd %9s, floor %9s (%s)\n", N, ms(c), ms(f), fratio(c, f), ms(p50("floor_kill_chaosd_" N "_gone")), ms(p50("floor_kill_floor_" N "_gone")), fratio(p50("floor_kill_chaosd_" N "_gone"), p50("floor_kill_floor_" N "_gone"))
		fl["kill_" N] = (c > 0 && f > 0) ? c / f : -1
	}
	print ""
}
function floor_targets(    q, N, i) {
	if (!("apply_p50" in fl)) return
	print ""
	print "Targets (issue 21), chaosd / floor, judged on the medians above"
	for (i = 1; i <= 2; i++) {
		q = i == 1 ? "p50" : "p99"
		target("apply " q ": <= 2x the floor", fl["apply_" q] >= 0 ? sprintf("%.2fx", fl["apply_" q]) : "-", fl["apply_" q] >= 0 ? fl["apply_" q] <= 2 : -1)
		# what the bound leaves a daemon: the minimal one with the same duties, same run
		if (("floor_apply_floord_" q) in runs)
			printf "    (the minimal daemon with chaosd'"'"'s duties: %s the floor)\n", fratio(lmed("floor_apply_floord_" q), lmed("floor_apply_floor_" q))
	}
	for (i = 1; i <= 3; i++) {
		N = i == 1 ? 1 : i == 2 ? 100 : 1000
		target("kill switch, " N " faults: <= 1.5x the floor", fl["kill_" N] >= 0 ? sprintf("%.2fx", fl["kill_" N]) : "-", fl["kill_" N] >= 0 ? fl["kill_" N] <= 1.5 : -1)
	}
}
END {
	floor_table()
	if (!n["kill_chaosd_1"] && !("apply_rt_p50" in v)) { floor_targets(); exit }
	print "Kill switch: chaosctl kill issued -> none of chaosd'"'"'s objects left in the kernel"
	print "(p50 and max over the repeats; baseline: the same objects deleted one tc process per"
	print "change, and with one tc -batch)"
	printf "%-8s %19s %19s %19s %10s %10s\n", "faults", "chaosd p50   max", "tc per change", "tc -batch", "tc/chaosd", "batch/chaosd"
	for (i = 1; i <= 4; i++) {
		N = (i == 1) ? 1 : (i == 2) ? 10 : (i == 3) ? 100 : 1000
		c = "kill_chaosd_" N; t1 = "kill_tc1_" N; tb = "kill_tcb_" N
		printf "%-8s %s %s %s %10s %10s\n", N, cell(c), cell(t1), cell(tb), ratio(p50(c), p50(t1)), ratio(p50(c), p50(tb))
	}
	printf "chaosctl kill returned (p50): 1: %s, 10: %s, 100: %s, 1000: %s\n", ms(p50("kill_chaosd_1_cmd")), ms(p50("kill_chaosd_10_cmd")), ms(p50("kill_chaosd_100_cmd")), ms(p50("kill_chaosd_1000_cmd"))
	printf "chaosd'"'"'s own time for the kill (p50): 1: %s, 10: %s, 100: %s, 1000: %s\n", ms(p50("kill_own_1")), ms(p50("kill_own_10")), ms(p50("kill_own_100")), ms(p50("kill_own_1000"))
	print ""
	print "Apply one fault: runs of 1000 faults injected one by one over one connection"
	print "(p50 / p99 of the median run, which the targets judge; each run'"'"'s p99; all runs pooled)"
	printf "  chaosd request round trip:                %s / %s   runs: %s   pooled: %s / %s\n", ms(v["apply_rt_p50"]), ms(v["apply_rt_p99"]), list("apply_rt_runs_p99"), ms(v["apply_rt_pooled_p50"]), ms(v["apply_rt_pooled_p99"])
	printf "  ... until its redirect is in the kernel:  %s / %s   runs: %s   pooled: %s / %s\n", ms(v["apply_vis_p50"]), ms(v["apply_vis_p99"]), list("apply_vis_runs_p99"), ms(v["apply_vis_pooled_p50"]), ms(v["apply_vis_pooled_p99"])
	if ("apply_runs_floor_p50" in runs)
		printf "  ... a ping request right after each run (the emulator'"'"'s speed then), p50: %s, p99: %s\n", list("apply_runs_floor_p50"), list("apply_runs_floor_p99")
	if ("apply_rt_last_p99" in v)
		printf "  ... the round trip of each run'"'"'s first 100 faults: %s / %s, of its last 100: %s / %s\n", ms(v["apply_rt_first_p50"]), ms(v["apply_rt_first_p99"]), ms(v["apply_rt_last_p50"]), ms(v["apply_rt_last_p99"])
	if (mean100 != "")
		printf "  ... mean round trip per 100 faults, all runs (ms): %s\n", mean100
	if (slowest != "")
		printf "  ... the 10 slowest (run.fault: ms): %s\n", slowest
	printf "  the same, chaosd and the client on one vCPU: %s / %s   runs: %s (in the kernel %s / %s)\n", ms(v["apply_pin_rt_p50"]), ms(v["apply_pin_rt_p99"]), list("apply_pin_rt_runs_p99"), ms(v["apply_pin_vis_p50"]), ms(v["apply_pin_vis_p99"])
	if ("ping_rt_p99" in v)
		printf "  floor: a ping request (no kernel, no journal):     %s / %s (one vCPU: %s / %s)\n", ms(v["ping_rt_p50"]), ms(v["ping_rt_p99"]), ms(v["ping_pin_rt_p50"]), ms(v["ping_pin_rt_p99"])
	printf "  chaosctl inject (a process), until in the kernel:    %s / %s (process exits %s / %s)\n", ms(v["apply_ctl_vis_p50"]), ms(v["apply_ctl_vis_p99"]), ms(v["apply_ctl_rt_p50"]), ms(v["apply_ctl_rt_p99"])
	printf "  tc, one process per change (4), until in the kernel: %s / %s   chaosctl %s faster\n", ms(v["apply_tc1_p50"]), ms(v["apply_tc1_p99"]), ratio(v["apply_ctl_vis_p50"], v["apply_tc1_p50"])
	printf "  tc -batch (one process), until in the kernel:        %s / %s   chaosctl %s faster\n", ms(v["apply_tcb_p50"]), ms(v["apply_tcb_p99"]), ratio(v["apply_ctl_vis_p50"], v["apply_tcb_p50"])
	split(sc, f, " ")
	if (f[2] == "none" || f[2] == "")
		print "  100-step scenario: not yet measured: scenarios not landed"
	else
		printf "  100-step scenario (chaosctl run, all steps at 0s), until all 100 in the kernel: %s p50, %s max\n", ms(f[2]), ms(f[3])
	print ""
	print "Unaffected traffic: TCP to an address outside every edge, on the interface with the"
	print "edges; ratio to 0 edges, each run paired with one on a second link without edges"
	printf "%-26s %12s %8s %14s %8s\n", "edges with an active fault", "bulk Mbit/s", "ratio", "ping-pong us", "ratio"
	b = v["dp_mbit_ratio_0"]; r = v["dp_rr_ratio_0"]
	split("0 10 100 1000 linear1000", L, " ")
	for (i = 1; i <= 5; i++) {
		k = L[i]; name = (k == "linear1000") ? "1000, flat u32 list (tc)" : k
		if (!(("dp_mbit_" k) in v)) continue
		printf "%-26s %12.0f %8.2f %14.0f %8.2f\n", name, v["dp_mbit_" k], v["dp_mbit_ratio_" k] / b, v["dp_rr_us_" k], v["dp_rr_ratio_" k] / r
	}
	print ""
	print "Footprint"
	printf "  RSS idle %d KiB, with 1000 faults %d KiB\n", v["rss_idle_kib"], v["rss_full_kib"]
	printf "  idle %.0f s: CPU %d ms, %d wakeups (%d of them watchdog pings): %.2f/s besides the watchdog\n", v["idle_seconds"], v["idle_cpu_ms"], v["idle_wakeups"], v["idle_watchdog_pings"], (v["idle_wakeups"] - v["idle_watchdog_pings"]) / (v["idle_seconds"] > 0 ? v["idle_seconds"] : 1)
	if ("idle_preemptions" in v)
		printf "  (wakeups: voluntary context switches; %d preemptions while running not counted)\n", v["idle_preemptions"]
	print ""
	print "Targets (issue 6), judged on the numbers above"
	k = p50("kill_chaosd_100"); t = p50("kill_tc1_100"); bt = p50("kill_tcb_100"); k1k = p50("kill_chaosd_1000")
	target("kill switch, 100 faults: >= 20x faster than one tc per change", (k > 0 && t > 0) ? sprintf("%.1fx", t / k) : "-", (k > 0 && t > 0) ? t / k >= 20 : -1)
	target("kill switch, 100 faults: faster than tc -batch", (k > 0 && bt > 0) ? sprintf("%.1fx", bt / k) : "-", (k > 0 && bt > 0) ? bt < k ? 0 : 1 : -1)
	target("kill switch, 1000 faults: under one tc per change for 100 (p50)", (k1k > 0 && t > 0) ? sprintf("%s < %s", ms(k1k), ms(t)) : "-", (k1k > 0 && t > 0) ? k1k < t : -1)
	a = ("apply_pin_rt_p99" in v) ? v["apply_pin_rt_p99"] + 0 : -1
	target("apply: p99 round trip under 5 ms (median run), both on one vCPU", a >= 0 ? ms(a) : "-", a >= 0 ? a < 5000 : -1)
	a = ("apply_rt_p99" in v) ? v["apply_rt_p99"] + 0 : -1
	target("apply: p99 round trip under 5 ms (median run), client on any vCPU", a >= 0 ? ms(a) : "-", a >= 0 ? a < 5000 : -1)
	if ("apply_rt_runs_p99" in runs)
		printf "  (every run'"'"'s p99: %s; all runs pooled: %s)\n", list("apply_rt_runs_p99"), ms(v["apply_rt_pooled_p99"])
	if ("ping_rt_p99" in v)
		printf "  (the floor, a ping request with no kernel work, p99: %s on one vCPU, %s on any)\n", ms(v["ping_pin_rt_p99"]), ms(v["ping_rt_p99"])
	dp = (("dp_mbit_ratio_1000" in v) && b > 0) ? v["dp_mbit_ratio_1000"] / b : -1
	target("datapath: bulk throughput with 1000 edges >= 90 % of 0 edges", dp >= 0 ? sprintf("%.2f", dp) : "-", dp >= 0 ? dp >= 0.9 : -1)
	w = ("idle_wakeups" in v) ? v["idle_wakeups"] - v["idle_watchdog_pings"] : -1
	target("idle: no wakeups besides the watchdog", w >= 0 ? sprintf("%d in %.0f s", w, v["idle_seconds"]) : "-", ("idle_wakeups" in v) ? w <= 0 : -1)
	target("idle: RSS under 4 MiB", ("rss_idle_kib" in v) ? sprintf("%d KiB", v["rss_idle_kib"]) : "-", ("rss_idle_kib" in v) ? v["rss_idle_kib"] < 4096 : -1)
	floor_targets()
}' "$raw"
