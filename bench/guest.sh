#!/bin/bash
# The benchmark itself, run inside the netem VM by bench/run.sh (`make bench`): chaosd against
# the same changes done the way tc-exec tools do them, all measured from outside both by
# bench/benchtool watching rtnetlink. Raw numbers go to $CHAOSD_VM_OUT/bench.raw, the table to
# stdout and $CHAOSD_VM_OUT/bench.txt.
#
# Environment: CHAOSD_BENCH_QUICK=1 repeats less and leaves out the slowest baseline (one tc
# process per change for 1000 faults: about 3000 processes, 4 minutes or more), which
# CHAOSD_BENCH_FULL=0 or 1 leaves out or runs either way;
# CHAOSD_BENCH_SMOKE=1 tries the script in a few minutes; CHAOSD_BENCH_ONLY=floor runs only
# chaosd against the floor (bench/floor.c), a few minutes; CHAOSD_BENCH_ONLY=profile is a
# debug knob (see profile_part).
set -uo pipefail
# shellcheck source=tests/vm/lib.sh
. "$CHAOSD_SRCDIR/tests/vm/lib.sh"

BT=$CHAOSD_BUILDDIR/bench/benchtool
FLOOR=$CHAOSD_BUILDDIR/bench/floor
ONLY=${CHAOSD_BENCH_ONLY:-}
OUT=${CHAOSD_VM_OUT:-$T}
RAW=$OUT/bench.raw
: >"$RAW"
QUICK=${CHAOSD_BENCH_QUICK:-0}
FULL=${CHAOSD_BENCH_FULL:-$((QUICK ? 0 : 1))}
# CHAOSD_BENCH_SMOKE=1: a few seconds of everything, to try the script itself
SMOKE=${CHAOSD_BENCH_SMOKE:-0}
NS="1 10 100 1000" N_EDGES=1000 IDLE_S=60 BULK_S=3 DP_PAIRS=5
((SMOKE)) && NS="1 10" N_EDGES=40 IDLE_S=3 BULK_S=1 DP_PAIRS=2 QUICK=1
# Runs of the apply measurement (N_EDGES faults one by one), also in QUICK. The emulator's
# speed drifts by up to 2x within seconds (the host is itself a virtual machine; see the
# a0/a1 pairs of datapath), so one run of three seconds can land in a slow stretch: the
# table shows every run, all of them pooled, and judges the median run.
APPLY_RUNS=3

say() { echo "bench: [$SECONDS s] $*" >&2; }
raw() { echo "$*" >>"$RAW"; }
# pctl P: the P-quantile (nearest rank) of the numbers on stdin
pctl() { sort -n | awk -v p="$1" '{ a[NR] = $1 } END { if (!NR) { print "nan"; exit }
	i = int(p * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; print a[i] }'; }
# edge i's destination: 10.99.x.y, outside everything the traffic below goes to
edge_addr() { echo "10.99.$(($1 / 250)).$(($1 % 250 + 1))"; }

write_bench_config() {
	{
		printf '[chaosd]\nmax_duration = 2h\ndefault_duration = 1h\nlink_rate = 10gbit\n\n'
		for ((i = 0; i < N_EDGES; i++)); do
			printf '[edge e%d]\ninterface = a0\ndestination = %s/32\n\n' "$i" "$(edge_addr "$i")"
		done
	} >"$T/chaosd.conf"
}

start_bench_chaosd() {
	# As under systemd (WatchdogSec=10s): the watchdog pings are its only expected wakeups.
	A "$BT" notify "$T/notify" >"$T/pings" &
	NOTIFY_PID=$!
	sleep 0.5
	NOTIFY_SOCKET=$T/notify WATCHDOG_USEC=10000000 ip netns exec cd-a "$CHAOSD" \
		--config "$T/chaosd.conf" --socket "$SOCK" --state-dir "$T/state" >>"$T/chaosd.log" 2>&1 &
	CHAOSD_PID=$!
	for _ in $(seq 300); do
		ctl ping >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	say "chaosd did not come up"
	cat "$T/chaosd.log"
	return 1
}

proc_field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# A wakeup is a voluntary switch (chaosd blocks in epoll_wait again); an involuntary one is a
# preemption while it runs, which is not a wakeup of its own.
ctx_switches() { proc_field "$1" voluntary_ctxt_switches; }
preemptions() { proc_field "$1" nonvoluntary_ctxt_switches; }

uptime_s() { cut -d' ' -f1 /proc/uptime; }

footprint_idle() {
	local c0 c1 w0 w1 p0 p1 t0 t1
	sleep 5 # past start-up
	raw "rss_idle_kib $(proc_field "$CHAOSD_PID" VmRSS | tr -d ' kB')"
	t0=$(uptime_s) c0=$(cpu_ticks "$CHAOSD_PID") w0=$(ctx_switches "$CHAOSD_PID")
	p0=$(preemptions "$CHAOSD_PID")
	sleep "$IDLE_S"
	t1=$(uptime_s) c1=$(cpu_ticks "$CHAOSD_PID") w1=$(ctx_switches "$CHAOSD_PID")
	p1=$(preemptions "$CHAOSD_PID")
	raw "idle_preemptions $((p1 - p0))"
	raw "idle_seconds $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
	raw "idle_cpu_ms $(((c1 - c0) * 1000 / $(getconf CLK_TCK)))"
	raw "idle_wakeups $((w1 - w0))"
	raw "idle_watchdog_pings $(awk -v a="$t0" -v b="$t1" '$1 >= a && $1 <= b { n++ } END { print n + 0 }' "$T/pings")"
}

# inject N: faults on e0..e(N-1), one request each over one connection; apply times to FILE
inject_n() {
	A "$BT" inject "$SOCK" a0 e 0 "$1" 10 >"${2:-/dev/null}" || { say "inject $1 failed"; return 1; }
}

# A second link between the namespaces, a1 - b1, that never has edges: each measurement on a0
# is paired with one on a1 right after it, so the ratio is free of the emulator's drift (other
# guests on the host, TCG's speed).
second_link() {
	ip link add a1 netns cd-a type veth peer name b1 netns cd-b
	A ip addr add 10.78.0.1/24 dev a1
	B ip addr add 10.78.0.3/24 dev b1
	A ip link set a1 up
	B ip link set b1 up
	A ping -c 1 -W 2 10.78.0.3 >/dev/null
}

# datapath LABEL: TCP bulk throughput and ping-pong to 10.77.0.3 over a0 (outside every edge),
# each against the same over a1; raw: a0's medians and the median of the a0/a1 ratios. The
# server runs on CPU 1, the bulk sender on CPU 0 and the ping-pong client next to the server:
# an emulated CPU-to-CPU wakeup costs milliseconds at random, which a round trip would measure.
datapath() {
	local i a b mb=() rt=() mbr=() rtr=()
	for ((i = 0; i < DP_PAIRS; i++)); do
		a=$(A taskset -c 0 "$BT" bulk 10.77.0.3 5201 "$BULK_S")
		b=$(A taskset -c 0 "$BT" bulk 10.78.0.3 5201 "$BULK_S")
		mb+=("$a") mbr+=("$(awk -v a="$a" -v b="$b" 'BEGIN { print a / b }')")
		a=$(A taskset -c 1 "$BT" rr 10.77.0.3 5201 1000 | cut -d' ' -f1)
		b=$(A taskset -c 1 "$BT" rr 10.78.0.3 5201 1000 | cut -d' ' -f1)
		rt+=("$a") rtr+=("$(awk -v a="$a" -v b="$b" 'BEGIN { print a / b }')")
	done
	raw "dp_mbit_$1 $(printf '%s\n' "${mb[@]}" | pctl 0.5)"
	raw "dp_mbit_ratio_$1 $(printf '%s\n' "${mbr[@]}" | pctl 0.5)"
	raw "dp_rr_us_$1 $(printf '%s\n' "${rt[@]}" | pctl 0.5)"
	raw "dp_rr_ratio_$1 $(printf '%s\n' "${rtr[@]}" | pctl 0.5)"
	say "datapath $1: a0 ${mb[*]} Mbit/s (a0/a1 ${mbr[*]}), rr ${rt[*]} us (a0/a1 ${rtr[*]})"
}

# apply_stats NAME: raw numbers of the runs $T/NAME<r>.txt (lines "round-trip in-kernel", us):
# each run's p50 and p99, the median run's (which the targets judge) and all runs pooled.
apply_stats() {
	local name=$1 col key r q v vals part
	for col in 1 2; do
		key=$name$([ "$col" = 1 ] && echo _rt || echo _vis)
		for q in 0.5 0.99; do
			vals=()
			for ((r = 0; r < APPLY_RUNS; r++)); do
				vals+=("$(awk -v c="$col" '{ print $c }' "$T/$name$r.txt" | pctl "$q")")
			done
			v=$([ "$q" = 0.5 ] && echo p50 || echo p99)
			raw "${key}_$v $(printf '%s\n' "${vals[@]}" | pctl 0.5)"
			raw "${key}_runs_$v ${vals[*]}"
			raw "${key}_pooled_$v $(cat "$T/$name"[0-9]*.txt | awk -v c="$col" '{ print $c }' | pctl "$q")"
		done
	done
	# the first and the last 100 faults of every run, pooled
	for part in first last; do
		for ((r = 0; r < APPLY_RUNS; r++)); do
			if [ "$part" = first ]; then head -n 100 "$T/$name$r.txt"; else tail -n 100 "$T/$name$r.txt"; fi
		done | awk '{ print $1 }' >"$T/$name.$part"
		raw "${name}_rt_${part}_p50 $(pctl 0.5 <"$T/$name.$part")"
		raw "${name}_rt_${part}_p99 $(pctl 0.99 <"$T/$name.$part")"
	done
}

# ---------------------------------------------------------------- chaosd
chaosd_part() {
	local n r reps
	write_bench_config
	start_bench_chaosd || return 1
	say "chaosd idle: $IDLE_S s"
	footprint_idle
	datapath 0
	# Each repeat kills chaosd's faults and then the same objects made the tc way, so both
	# see the same load on the host (other guests make the emulator's speed drift).
	for n in $NS; do
		reps=3
		((QUICK)) && reps=2
		((n == ${NS##* })) && reps=$APPLY_RUNS
		for ((r = 0; r < reps; r++)); do
			if ((n == ${NS##* })); then
				# the apply measurement: every repeat of the largest N is a run of it
				inject_n "$n" "$T/apply$r.txt" || return 1
				((r == 0)) && raw "rss_full_kib $(proc_field "$CHAOSD_PID" VmRSS | tr -d ' kB')"
				# the emulator's speed right after the run: the floor, with the faults there
				A "$BT" ping "$SOCK" 300 >"$T/floor$r.txt" || return 1
			else
				inject_n "$n" || return 1
			fi
			((r == 0 && n >= 10)) && datapath "$n"
			: >"$T/kill.out"
			A "$BT" gone a0 --out "$T/kill.out" -- "$CHAOSCTL" --socket "$SOCK" kill \
				--reason bench >"$T/kill" || return 1
			read -r gone cmd <"$T/kill"
			# chaosctl prints chaosd's own time for the whole kill
			own=$(sed -n 's/.* reverted in \([0-9.]*\) ms.*/\1/p' "$T/kill.out")
			raw "kill_chaosd_$n $gone $cmd"
			raw "kill_own_$n ${own:-nan}"
			say "kill $n faults: kernel clean after $gone us, chaosctl returned after $cmd us (chaosd: $own ms)"
			ctl arm >/dev/null
			baseline_kill "$n" batch || return 1
			# one tc per change: about 3 processes per fault
			if ((n <= 10 || (n == 100 && r == 0) || (n == 1000 && r == 0 && FULL))); then
				baseline_kill "$n" each || return 1
			fi
		done
	done
	((FULL)) || raw "kill_tc1_1000 skipped"
	# The same one by one with chaosd and the client on one vCPU: under TCG a wakeup across
	# emulated CPUs costs milliseconds at random (see datapath), and a round trip takes two.
	local mask f
	mask=$(taskset -p "$CHAOSD_PID" | awk '{ print $NF }')
	taskset -p -c 1 "$CHAOSD_PID" >/dev/null
	for ((r = 0; r < APPLY_RUNS; r++)); do
		if ((r > 0)); then
			A "$BT" gone a0 -- "$CHAOSCTL" --socket "$SOCK" kill >/dev/null
			ctl arm >/dev/null
		fi
		A taskset -c 1 "$BT" inject "$SOCK" a0 e 0 "$N_EDGES" 10 >"$T/apply_pin$r.txt" ||
			return 1
	done
	# The floor under those: a request that does no kernel work and writes no journal, the
	# same way, with the faults still there (they cost a ping nothing).
	A taskset -c 1 "$BT" ping "$SOCK" 1000 >"$T/ping_pin.txt" || return 1
	taskset -p "$mask" "$CHAOSD_PID" >/dev/null
	A "$BT" ping "$SOCK" 1000 >"$T/ping.txt" || return 1
	A "$BT" gone a0 -- "$CHAOSCTL" --socket "$SOCK" kill >/dev/null
	ctl arm >/dev/null
	# apply through chaosctl (a process per request, like a script would), on an interface
	# that has other faults
	inject_n $((N_EDGES / 10)) || return 1
	for ((r = 0; r < 30 && r < N_EDGES / 2; r++)); do
		A "$BT" appear a0 1 -- "$CHAOSCTL" --socket "$SOCK" inject latency \
			--edge e$((N_EDGES / 2 + r)) --ms 10 >>"$T/apply_ctl.txt"
	done
	A "$BT" gone a0 -- "$CHAOSCTL" --socket "$SOCK" kill >/dev/null
	ctl arm >/dev/null
	scenario_100
	say "chaosd against the floor"
	floor_part || return 1
	kill -TERM "$CHAOSD_PID"
	wait "$CHAOSD_PID"
	kill "$NOTIFY_PID" 2>/dev/null
	apply_stats apply
	apply_stats apply_pin
	for ((r = 0; r < APPLY_RUNS; r++)); do
		cp "$T/apply$r.txt" "$OUT/apply$r.txt"
	done
	# the floor right after each run: how fast the emulator was then
	raw "apply_runs_floor_p50 $(for ((r = 0; r < APPLY_RUNS; r++)); do pctl 0.5 <"$T/floor$r.txt"; done | tr '\n' ' ')"
	raw "apply_runs_floor_p99 $(for ((r = 0; r < APPLY_RUNS; r++)); do pctl 0.99 <"$T/floor$r.txt"; done | tr '\n' ' ')"
	# whether an inject costs more with more faults there, and which ones make the p99
	raw "apply_rt_mean100 $(awk '{ s[int((FNR - 1) / 100)] += $1; n[int((FNR - 1) / 100)]++ }
		END { for (i = 0; i in n; i++) printf "%d ", s[i] / n[i] }' "$T"/apply[0-9]*.txt)"
	raw "apply_rt_slowest $(for ((r = 0; r < APPLY_RUNS; r++)); do
		awk -v r="$r" '{ print r "." FNR - 1 ":" $1 }' "$T/apply$r.txt"; done |
		sort -t: -k2 -n -r | head -n 10 | tr '\n' ' ')"
	for f in ping ping_pin; do
		pctl 0.5 <"$T/$f.txt" | sed "s/^/${f}_rt_p50 /" >>"$RAW"
		pctl 0.99 <"$T/$f.txt" | sed "s/^/${f}_rt_p99 /" >>"$RAW"
	done
	awk '{ print $1 }' "$T/apply_ctl.txt" | pctl 0.5 | sed 's/^/apply_ctl_vis_p50 /' >>"$RAW"
	awk '{ print $1 }' "$T/apply_ctl.txt" | pctl 0.99 | sed 's/^/apply_ctl_vis_p99 /' >>"$RAW"
	awk '{ print $2 }' "$T/apply_ctl.txt" | pctl 0.5 | sed 's/^/apply_ctl_rt_p50 /' >>"$RAW"
	awk '{ print $2 }' "$T/apply_ctl.txt" | pctl 0.99 | sed 's/^/apply_ctl_rt_p99 /' >>"$RAW"
}

scenario_100() {
	local sc=$T/s100.ini i
	if ! "$CHAOSCTL" --help 2>&1 | grep -q '^ *run'; then
		raw "scenario_100 none"
		return 0
	fi
	local steps=$((N_EDGES < 100 ? N_EDGES : 100))
	{
		printf '[scenario]\nname = bench-100\nmax_duration = 1h\n\n'
		for ((i = 0; i < steps; i++)); do
			printf '[step %d]\nat = 0s\nfault = latency\nedge = e%d\nms = 10\nfor = 30m\n\n' \
				"$i" "$i"
		done
	} >"$sc"
	for i in 1 2 3; do
		A "$BT" appear a0 "$steps" -- "$CHAOSCTL" --socket "$SOCK" run "$sc" --detach >>"$T/s100" ||
			return 1
		A "$BT" gone a0 -- "$CHAOSCTL" --socket "$SOCK" kill >/dev/null
		ctl arm >/dev/null
	done
	raw "scenario_100 $(awk '{ print $1 }' "$T/s100" | pctl 0.5) $(awk '{ print $1 }' "$T/s100" | pctl 1)"
}

# ---------------------------------------------------------------- the floor
# chaosd against bench/floor (chaosd's kernel messages and nothing else), each pair measured
# one right after the other on a0: apply, N_EDGES faults one by one (chaosd's request round
# trip, as inject_n times it, against the floor's batch; timed with nothing listening to
# rtnetlink, benchtool inject ... rt, chaosd's p50 came out 2-3x higher still, 7.7-20.7 ms,
# and on one vCPU 6.4-7.9 ms, against 2.8-2.9 ms this way, all on a loaded host), and the kill switch of N faults (chaosd's own time for the kill against
# the floor's one batch; and both until the kernel is clean, seen from outside, each
# including the start of a process: chaosctl, the floor). Each apply run also times the
# floor behind a request round trip (floor apply-rt), which splits chaosd's ratio into what
# any daemon pays and chaosd's own work, and the same behind a minimal daemon with chaosd's
# duties (floor apply-daemon: one sd-event loop, a durable write-ahead record, a confirmation,
# an audit line, in the state directory's file system).
FLOOR_KILL_NS="1 100 1000" FLOOR_KILL_REPS=5
floor_part() {
	local r n q v own gone cmd
	((SMOKE)) && FLOOR_KILL_NS="1 10" FLOOR_KILL_REPS=2
	for ((r = 0; r < APPLY_RUNS; r++)); do
		inject_n "$N_EDGES" "$T/fl_chaosd$r.txt" || return 1
		A "$BT" gone a0 -- "$CHAOSCTL" --socket "$SOCK" kill >/dev/null || return 1
		ctl arm >/dev/null
		A "$FLOOR" apply a0 "$N_EDGES" 10 >"$T/fl_floor$r.txt" || return 1
		A "$BT" gone a0 -- "$FLOOR" kill a0 >/dev/null || return 1
		A "$FLOOR" apply-rt a0 "$N_EDGES" 10 >"$T/fl_floorrt$r.txt" || return 1
		A "$BT" gone a0 -- "$FLOOR" kill a0 >/dev/null || return 1
		A "$FLOOR" apply-daemon a0 "$N_EDGES" 10 "$T/state" >"$T/fl_floord$r.txt" || return 1
		rm -f "$T/state/floor.journal" "$T/state/floor.audit"
		A "$BT" gone a0 -- "$FLOOR" kill a0 >/dev/null || return 1
		say "floor apply run $r: chaosd p50 $(pctl 0.5 <"$T/fl_chaosd$r.txt" | awk '{ print $1 }') us, floor p50 $(pctl 0.5 <"$T/fl_floor$r.txt") us, floor+rt p50 $(pctl 0.5 <"$T/fl_floorrt$r.txt") us, floor daemon p50 $(pctl 0.5 <"$T/fl_floord$r.txt") us"
	done
	for q in 0.5 0.99; do
		v=$([ "$q" = 0.5 ] && echo p50 || echo p99)
		raw "floor_apply_chaosd_$v $(for ((r = 0; r < APPLY_RUNS; r++)); do
			awk '{ print $1 }' "$T/fl_chaosd$r.txt" | pctl "$q"; done | tr '\n' ' ')"
		raw "floor_apply_floor_$v $(for ((r = 0; r < APPLY_RUNS; r++)); do
			pctl "$q" <"$T/fl_floor$r.txt"; done | tr '\n' ' ')"
		raw "floor_apply_floorrt_$v $(for ((r = 0; r < APPLY_RUNS; r++)); do
			pctl "$q" <"$T/fl_floorrt$r.txt"; done | tr '\n' ' ')"
		raw "floor_apply_floord_$v $(for ((r = 0; r < APPLY_RUNS; r++)); do
			pctl "$q" <"$T/fl_floord$r.txt"; done | tr '\n' ' ')"
	done
	for n in $FLOOR_KILL_NS; do
		for ((r = 0; r < FLOOR_KILL_REPS; r++)); do
			inject_n "$n" || return 1
			: >"$T/kill.out"
			A "$BT" gone a0 --out "$T/kill.out" -- "$CHAOSCTL" --socket "$SOCK" kill \
				--reason bench >"$T/kill" || return 1
			read -r gone cmd <"$T/kill"
			own=$(sed -n 's/.* reverted in \([0-9.]*\) ms.*/\1/p' "$T/kill.out")
			raw "floor_kill_chaosd_$n $(awk -v m="${own:-0}" 'BEGIN { printf "%d", m * 1000 }') $gone"
			ctl arm >/dev/null
			say "kill $n: chaosd ${own:-?} ms (gone $gone us)"
			A "$FLOOR" apply a0 "$n" 10 >/dev/null || return 1
			: >"$T/kill.out"
			A "$BT" gone a0 --out "$T/kill.out" -- "$FLOOR" kill a0 >"$T/kill" || return 1
			read -r gone cmd <"$T/kill"
			own=$(cat "$T/kill.out")
			raw "floor_kill_floor_$n ${own:-0} $gone"
			say "kill $n: floor ${own:-?} us (gone $gone us)"
		done
	done
}

# ---------------------------------------------------------------- the tc-exec way
# The same objects as chaosd's datapath (clsact, an IFB with htb, per fault a class, its netem
# and a u32 filter on each side), with flat u32 filter lists as tc-exec tools make them.
tc_setup() { # tc_setup N: clsact, IFB and N faults, quickly (tc -batch); not measured
	local n=$1 i f=$T/setup.batch
	A ip link add name chd-o9 type ifb
	A ip link set chd-o9 up
	{
		echo "qdisc add dev a0 clsact"
		echo "qdisc add dev chd-o9 root handle 1: htb"
		for ((i = 0; i < n; i++)); do
			tc_add_fault "$i"
		done
	} >"$f"
	A tc -batch "$f" || say "tc setup failed"
}

tc_add_fault() { # the four changes of one fault, as tc command lines without "tc"
	local i=$1 cls=$(($1 + 2)) a
	a=$(edge_addr "$i")
	printf 'class add dev chd-o9 parent 1: classid 1:%x htb rate 1tbit quantum 200000\n' "$cls"
	printf 'qdisc add dev chd-o9 parent 1:%x handle %x: netem delay 10ms\n' "$cls" "$cls"
	printf 'filter add dev chd-o9 parent 1: prio 50337 protocol ip handle ::%x u32 match ip dst %s/32 flowid 1:%x\n' \
		"$((i + 1))" "$a" "$cls"
	printf 'filter add dev a0 egress prio 50337 protocol ip handle ::%x u32 match ip dst %s/32 action mirred egress redirect dev chd-o9\n' \
		"$((i + 1))" "$a"
}

tc_del_fault() { # what reverting one fault takes
	local i=$1 ht_a=$2 ht_i=$3
	printf 'filter del dev a0 egress prio 50337 protocol ip handle %s::%x u32\n' "$ht_a" "$((i + 1))"
	printf 'filter del dev chd-o9 parent 1: prio 50337 protocol ip handle %s::%x u32\n' "$ht_i" "$((i + 1))"
	printf 'class del dev chd-o9 classid 1:%x\n' "$((i + 2))"
}

root_ht() { # the kernel's id of the root table of the u32 instance at prio 50337 on a device
	A tc filter show dev "$@" prio 50337 | grep -o 'fh [0-9a-f]*::' | head -1 | sed 's/fh //;s/:://'
}

baseline_kill() { # baseline_kill N batch|each: make N faults the tc way, remove them timed
	local n=$1 i ht_a ht_i cmds=$T/kill.cmds batch=$T/kill.batch
	tc_setup "$n"
	ht_a=$(root_ht a0 egress) ht_i=$(root_ht chd-o9 parent 1:)
	if [ "$2" = each ]; then
		for ((i = 0; i < n; i++)); do
			tc_del_fault "$i" "$ht_a" "$ht_i" | sed 's/^/tc /'
		done >"$cmds"
		printf 'ip link del chd-o9\ntc qdisc del dev a0 clsact\n' >>"$cmds"
	else
		for ((i = 0; i < n; i++)); do
			tc_del_fault "$i" "$ht_a" "$ht_i"
		done >"$batch"
		echo "qdisc del dev a0 clsact" >>"$batch"
		printf 'tc -batch %s\nip link del chd-o9\n' "$batch" >"$cmds"
	fi
	A "$BT" gone a0 --cmds "$cmds" >"$T/kill" || return 1
	raw "kill_tc$([ "$2" = each ] && echo 1 || echo b)_$n $(cat "$T/kill")"
	say "kill $n the tc way, $2 ($(wc -l <"$cmds") processes): $(cat "$T/kill")"
}

baseline_apply() {
	local r cmds=$T/apply.cmds batch=$T/apply.batch
	tc_setup $((N_EDGES / 10))
	for ((r = 0; r < 20; r++)); do
		tc_add_fault $((N_EDGES / 2 + r)) | sed 's/^/tc /' >"$cmds"
		A "$BT" appear a0 1 --cmds "$cmds" >>"$T/apply_tc1.txt"
		tc_add_fault $((N_EDGES / 2 + 20 + r)) >"$batch"
		echo "tc -batch $batch" >"$cmds"
		A "$BT" appear a0 1 --cmds "$cmds" >>"$T/apply_tcb.txt"
	done
	A ip link del chd-o9
	A tc qdisc del dev a0 clsact
	awk '{ print $1 }' "$T/apply_tc1.txt" | pctl 0.5 | sed 's/^/apply_tc1_p50 /' >>"$RAW"
	awk '{ print $1 }' "$T/apply_tc1.txt" | pctl 0.99 | sed 's/^/apply_tc1_p99 /' >>"$RAW"
	awk '{ print $1 }' "$T/apply_tcb.txt" | pctl 0.5 | sed 's/^/apply_tcb_p50 /' >>"$RAW"
	awk '{ print $1 }' "$T/apply_tcb.txt" | pctl 0.99 | sed 's/^/apply_tcb_p99 /' >>"$RAW"
}

baseline_datapath() { # 1000 edges as one flat u32 list, none matching the traffic
	tc_setup "$N_EDGES"
	datapath linear1000
	A ip link del chd-o9
	A tc qdisc del dev a0 clsact
}

baseline_part() {
	baseline_datapath
	baseline_apply
}

# ---------------------------------------------------------------- the table
report() {
	"$CHAOSD_SRCDIR/bench/table.sh" "$RAW"
}

# CHAOSD_BENCH_ONLY=profile, a debug knob (not part of make bench): where an inject's time
# goes, all in $OUT. Run it as
#   CHAOSD_BUILDDIR=$PWD/build CHAOSD_SRCDIR=$PWD CHAOSD_BENCH_ONLY=profile \
#     tests/vm/run.sh --out DIR bench/guest.sh
# Two rounds of: chaosd's user and system CPU (/proc, tick-sampled) over N_EDGES injects with
# and without an rtnetlink listener and over as many pings (a request with no work), and the
# floor's with and without one; then strace -c of chaosd over 200 injects. (perf has no
# samples under TCG; valgrind --tool=callgrind on chaosd counts its instructions.)
cpu_split() { awk '{ print $14, $15 }' "/proc/$1/stat"; }
# prof_cpu NAME CMD...: chaosd's user and system CPU (ms) over CMD, to $OUT/cpu.txt
prof_cpu() {
	local name=$1 u0 s0 u1 s1 hz
	shift
	hz=$(getconf CLK_TCK)
	read -r u0 s0 < <(cpu_split "$CHAOSD_PID")
	"$@" || return 1
	read -r u1 s1 < <(cpu_split "$CHAOSD_PID")
	echo "$name: chaosd user $(((u1 - u0) * 1000 / hz)) ms, system $(((s1 - s0) * 1000 / hz)) ms" >>"$OUT/cpu.txt"
}
kill_all() {
	A "$BT" gone a0 -- "$CHAOSCTL" --socket "$SOCK" kill >/dev/null || return 1
	ctl arm >/dev/null
}
profile_part() {
	local r
	cat /sys/devices/system/cpu/vulnerabilities/* >"$OUT/vuln.txt" 2>&1
	grep -m1 flags /proc/cpuinfo >>"$OUT/vuln.txt"
	for r in 0 1; do
		prof_cpu "inject, listener" inject_n "$N_EDGES" "$OUT/p-inject$r.txt" || return 1
		kill_all || return 1
		prof_cpu "inject rt, no listener" A "$BT" inject "$SOCK" a0 e 0 "$N_EDGES" 10 rt \
			>"$OUT/p-inject-rt$r.txt" || return 1
		prof_cpu "ping x1000" A "$BT" ping "$SOCK" 1000 >"$OUT/p-ping$r.txt" || return 1
		kill_all || return 1
		{ time A "$FLOOR" apply a0 "$N_EDGES" 10 >"$OUT/p-floor$r.txt"; } 2>>"$OUT/cpu.txt" || return 1
		A "$BT" gone a0 -- "$FLOOR" kill a0 >/dev/null || return 1
		{ time A "$BT" appear a0 "$N_EDGES" --out "$OUT/p-floor-listener$r.txt" -- \
			"$FLOOR" apply a0 "$N_EDGES" 10; } 2>>"$OUT/cpu.txt" || return 1
		A "$BT" gone a0 -- "$FLOOR" kill a0 >/dev/null || return 1
	done
	strace -f -c -o "$OUT/strace-chaosd.txt" -p "$CHAOSD_PID" &
	r=$!
	sleep 2
	inject_n 200 || return 1
	kill -INT "$r"
	wait "$r"
}

uname -r
nproc
# A clock without vDSO support makes every clock read a system call (chaosd's loop reads some).
echo "clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
topology || { echo "FAIL: topology"; exit 1; }
second_link
B taskset -c 1 "$BT" serve 5201 &
if [ "$ONLY" = floor ]; then
	write_bench_config
	start_bench_chaosd || exit 1
	say "chaosd against the floor"
	floor_part || { echo "FAIL: floor part"; cat "$T/chaosd.log"; exit 1; }
	kill -TERM "$CHAOSD_PID"
	wait "$CHAOSD_PID"
	kill "$NOTIFY_PID" 2>/dev/null
	report | tee "$OUT/bench.txt"
	exit 0
fi
if [ "$ONLY" = profile ]; then
	write_bench_config
	start_bench_chaosd || exit 1
	profile_part || { echo "FAIL: profile part"; cat "$T/chaosd.log"; exit 1; }
	kill -TERM "$CHAOSD_PID"
	wait "$CHAOSD_PID"
	exit 0
fi
say "chaosd part"
chaosd_part || { echo "FAIL: chaosd part"; cat "$T/chaosd.log"; exit 1; }
say "tc-exec baseline part"
baseline_part || { echo "FAIL: baseline part"; exit 1; }
report | tee "$OUT/bench.txt"
