#!/bin/bash
# Lossless revert and measurements chaosd does not distort, on a real netem kernel (issue 18):
# a bulk TCP transfer through 200 ms of latency reverted mid-transfer retransmits nothing
# because of the revert (the kill switch, which deletes at once, is the comparison in the same
# run); a connect loop across the end of a 50 ms fault sees no SYN retry; the first inject
# after start is not slower than later ones; a probe on an untouched address sees no change
# while another edge's faults change.
set -uo pipefail
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/vm/pg.sh
. "$(dirname "$0")/pg.sh"
{ topology && write_config; } || { echo "FAIL: topology"; exit 1; }
# PostgreSQL on db (10.77.0.2:5432) for the pgbench cases; started before the snapshot
pg_start || { echo "FAIL: PostgreSQL did not start"; exit 1; }
snapshot "$T/before"
# chaosd loads the kernel's modules before it answers: this is the fresh kernel's first start
start_chaosd || exit 1

# A sink in cd-b that accepts any number of connections and discards what they send. Not
# through B(): $! must be python itself. The bulk transfers' two ends run on CPU 0: veth hands
# a packet to the backlog of the CPU that sends it, so a flow sent from both of a TCG guest's
# CPUs in turn (the IFB's tasklet runs where htb was dequeued) reaches the receiver out of
# order whenever one vCPU stalls, fault or no fault. Measured with tc alone, 2.5 s of a bulk
# transfer through the IFB: a steady 200 ms resent 86, 0 and 2 segments (receiver: 7, 0, 0
# out-of-order), a steady 0 ms 157, 45 and 0; both ends on CPU 0, 0 to 1 and never out of
# order. A real NIC's ring keeps the order the tasklet sends in.
ip netns exec cd-b taskset -c 0 python3 -c '
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5001)); s.listen(512)
def drain(c):
    while c.recv(1 << 16): pass
    c.close()
while True:
    c, _ = s.accept(); threading.Thread(target=drain, args=(c,), daemon=True).start()
' &
SINK=$!
trap 'kill $SINK 2>/dev/null; pg_stop' EXIT
wait_until 30 port_open 10.77.0.2 5001

IFX=$(A cat /sys/class/net/a0/ifindex)
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
# tcp_counters FILE [B]: cd-a's (or cd-b's) TCP counters that say what was resent and why.
# TCPSynRetrans counts a client's resent SYNs and a server's resent SYN-ACKs: a connection
# that waited for the 1 s retry.
TCP_CTRS="TcpRetransSegs TcpExtTCPLossProbes TcpExtTCPFastRetrans TcpExtTCPSlowStartRetrans TcpExtTCPTimeouts TcpExtTCPLostRetransmit TcpExtTCPDSACKRecv TcpExtTCPSynRetrans"
# shellcheck disable=SC2086
tcp_counters() { "${2:-A}" nstat -az $TCP_CTRS | awk 'NF >= 2 && $1 ~ /^Tcp/ { print $1, $2 }' | sort >"$1"; }
# tcp_delta BEFORE AFTER NAME: how much NAME grew
tcp_delta() { join "$1" "$2" | awk -v n="$3" '$1 == n { print $3 - $2 }'; }

# --- the first inject after start costs what later ones do (modules loaded before READY)
inject_ms=()
for i in 1 2 3 4; do
	t0=$(now_ms)
	ctl inject latency --edge db --ms 5 --for 10m >/dev/null
	inject_ms+=("$(($(now_ms) - t0))")
	ctl revert --edge db >/dev/null
	sleep 0.3
done
record "inject wall time (chaosctl, ms): first ${inject_ms[0]}, then ${inject_ms[*]:1}"
later=$(printf '%s\n' "${inject_ms[@]:1}" | sort -n | tail -1)
# A loaded TCG guest varies by 2-3x between calls; loading the modules on the first inject
# cost it 4-5 s more than the others here (6374 ms against 2060 and 541 before the warm-up)
check "first inject not slower than later ones (${inject_ms[0]} ms <= 2 x $later + 1000 ms)" \
	test "${inject_ms[0]}" -le $((later * 2 + 1000))
grep "modules loaded before" "$T/chaosd.log" | sed 's/^/  | /'
sleep 1
# a fault on a destination nothing talks to: flagged once 30 s went by (checked at the end)
ctl inject latency --edge cache --ms 10 --for 10m >/dev/null
T_QUIET=$(date +%s)

# bulk: a TCP transfer from cd-a to db as fast as it goes, in the background, until
# $T/bulk.stop exists (at most 60 s): a loaded guest's slow commands cannot end it early.
bulk() {
	rm -f "$T/bulk.stop"
	A taskset -c 0 python3 -c '
import os, socket, sys, time
s = socket.create_connection(("10.77.0.2", 5001)); buf = b"x" * 65536
end = time.monotonic() + 60; sent = 0
while time.monotonic() < end and not os.path.exists(sys.argv[1]): sent += s.send(buf)
s.close(); print(sent)
' "$T/bulk.stop" >"$T/bulk.out" 2>&1 &
	BULK=$!
}

db_draining() { A tc qdisc show dev "chd-o$IFX" 2>/dev/null | grep netem | grep -q rate; }

# through_revert HOW: 200 ms on db under a bulk transfer, taken off by HOW (revert, kill, or
# none: no fault at all) 2.5 s in, the transfer going on for 2 s more; a revert's qdisc events
# are in $T/monitor (tc monitor, from before the inject: its first event is the inject's, so
# it listens before the revert; no polling, which a slow guest can be too late for); prints what
# TCP resent from just before it until the drained netem is gone after the transfer
# (TcpRetransSegs, of them tail-loss probes, then fast, slow-start and timeout retransmits),
# whether the transfer was still running when HOW returned, and the packets the 200 ms held
# just before (what deleting at once would drop).
through_revert() {
	local id out mid=no mon="" c held=0
	bulk
	sleep 1
	if [ "$1" = revert ]; then
		ip netns exec cd-a tc monitor >"$T/monitor" 2>&1 &
		mon=$!
		sleep 0.3
	fi
	if [ "$1" != none ]; then
		out=$(ctl inject latency --edge db --ms 200 --for 10m)
		id=$(sed -n 's/.*injected fault \([0-9]*\).*/\1/p' <<<"$out")
	fi
	sleep 2.5
	tcp_counters "$T/tcp0"
	# HOW comes while the fault holds packets: the receiver, sharing the CPU, now and then
	# lets the window close and the 200 ms empty (seen: 0 once in 4 looks)
	for _ in $(seq 20); do
		[ "$1" = none ] && break
		held=$(A tc -s qdisc show dev "chd-o$IFX" | awk '/qdisc netem/ { f = /delay 200ms/ }
			f && /backlog/ { sub(/p$/, "", $3); print $3; exit }')
		[ "${held:-0}" -gt 0 ] && break
	done
	case $1 in
	revert)
		ctl revert "$id" >/dev/null
		;;
	kill) ctl kill --edge db --reason "revert test" >/dev/null ;;
	esac
	kill -0 "$BULK" 2>/dev/null && mid=yes
	sleep 2
	touch "$T/bulk.stop"
	wait "$BULK"
	# the drained netem goes once the link is quiet, after the transfer
	for _ in $(seq 150); do db_draining || break; sleep 0.1; done
	sleep 0.5
	tcp_counters "$T/tcp1"
	[ -n "$mon" ] && kill "$mon"
	[ "$1" = kill ] && ctl arm >/dev/null
	for c in $TCP_CTRS; do printf '%s ' "$(tcp_delta "$T/tcp0" "$T/tcp1" "$c")"; done
	echo "$mid ${held:-0}"
}

read -r base base_tlp bfast bss brto blost bdsack _ < <(through_revert none)
record "bulk TCP with no fault, same timeline: $base segments resent ($base_tlp tail-loss probes; fast, slow-start, timeouts, lost retransmits, DSACKs: $bfast $bss $brto $blost $bdsack)"
lossless=()
REV_ALL=()
for i in 1 2 3; do
	read -r n tlp fast ss rto lost dsack _ mid held < <(through_revert revert)
	lossless+=("$n")
	record "revert $i mid-transfer ($mid, the 200 ms held $held packets): $n segments resent: $tlp tail-loss probes, $fast fast, $ss slow-start, $rto timeouts, $lost lost retransmits, $dsack DSACKs"
	check "revert $i happened mid-transfer, with packets inside the fault ($mid, $held held)" \
		test "$mid" = yes -a "$held" -gt 0
	if [ "$i" = 1 ]; then
		grep netem "$T/monitor" | sed 's/^/  | /'
	fi
	# still there after the revert, ordered behind what it holds, without the 200 ms for new
	# packets, until the path is empty and the link quiet; then deleted. Heard, not polled:
	# the drain can end within the delay and a pause in the transfer, less than a loaded
	# guest takes to start tc after chaosctl returns (a CI run polled too late once).
	draining=$(grep "qdisc netem" "$T/monitor" | grep -F "dev chd-o$IFX " | grep -v '^deleted' |
		awk '/delay 200ms/ { heard = 1 } heard && !/delay/ && / rate / { d = 1 }
			END { print d ? "yes" : heard ? "no" : "no: the monitor did not hear the inject" }')
	check "revert $i keeps the netem draining (no delay, ordered by a rate) right after ($draining)" \
		test "$draining" = yes
	# The IFB stays for cache's quiet fault: db's draining netem (the one with a rate) must go.
	gone=$(db_draining && echo no || echo yes)
	check "revert $i: the drained netem is gone once the transfer ended ($gone)" test "$gone" = yes
	REV_ALL+=("$n $tlp $fast $ss $rto")
	sleep 1
done
read -r killed _ _ _ krto _ _ _ kmid kheld < <(through_revert kill)
record "bulk TCP through 200 ms, reverted mid-transfer 3 times: ${lossless[*]} segments retransmitted (kill switch, deleting at once the $kheld packets the 200 ms held, in the same run: $killed, $krto timeouts)"
check "the kill switch happened mid-transfer, with packets inside the fault ($kmid, $kheld held)" \
	test "$kmid" = yes -a "$kheld" -gt 0
check "delete at once (kill switch) loses the queue: retransmissions > 0 (got $killed)" test "$killed" -gt 0
# Caused by the revert: every segment resent other than the tail-loss probes TCP sends when a
# transfer ends (the no-fault transfer sends them too): 0, with no fast retransmit and no
# timeout.
for i in 0 1 2; do
	read -r n tlp fast ss rto _ <<<"${REV_ALL[$i]}"
	by=$((n > tlp ? n - tlp : 0))
	check "revert $((i + 1)) mid-transfer: 0 segments resent because of it ($by: $n resent, $tlp tail-loss probes, $fast fast, $ss slow-start, $rto timeouts; delete-at-once: $killed)" \
		test "$by" -eq 0 -a "$fast" -eq 0 -a "$ss" -eq 0 -a "$rto" -eq 0
done

# --- a connect loop across the end of a 50 ms fault: no connect waits for a SYN retry
connects() {
	A python3 -c '
import socket, sys, time
# the first connect of a process loads the resolver (NSS): not part of the measurement
socket.create_connection(("10.77.0.2", 5001), timeout=5).close()
t0 = time.monotonic(); end = t0 + float(sys.argv[1]); worst = 0.0; n = 0; slow = []
while time.monotonic() < end:
    t = time.monotonic()
    s = socket.create_connection(("10.77.0.2", 5001), timeout=5)
    d = time.monotonic() - t; worst = max(worst, d); n += 1
    if d > 0.5: slow.append("%.0fms@%.2fs" % (d * 1000, t - t0))
    s.close(); time.sleep(0.005)
print(int(worst * 1000), n, ",".join(slow) or "-")
' "$1"
}
ctl inject latency --edge db --ms 50 --for 3s >/dev/null
read -r worst n slow < <(connects 5)
record "connects across the deadline revert (3 s after the inject) of a 50 ms fault: worst $worst ms over $n connects (slow ones at: $slow)"
# a lost SYN is resent after 1 s; a loaded guest's own hiccups stay below that
check "no connect stalled for a SYN retry across the revert (worst $worst ms < 900)" test "$worst" -lt 900
ctl inject latency --edge db --ms 50 --for 10m >/dev/null
tcp_counters "$T/ck0"
( sleep 1.5; ctl kill --edge db --reason "revert test" >/dev/null ) &
killer=$!
read -r kworst kn kslow < <(connects 3)
wait "$killer"
tcp_counters "$T/ck1"
ctl arm >/dev/null
record "the same across the kill switch (deletes at once, at 1.5 s): worst $kworst ms over $kn connects (slow ones at: $kslow; SYNs resent: $(tcp_delta "$T/ck0" "$T/ck1" TcpExtTCPSynRetrans))"

# --- PostgreSQL clients (pgbench) across the end of a 20 ms fault on db: no stall beyond the
# fault's own delay. Two pgbench runs at once: one connecting per transaction (-C: the SYN of a
# connection opened as the fault ends must not wait for its 1 s retry), one on open
# connections. With a rate (-R) a transaction's latency counts from its scheduled start, so it
# includes its connection and any wait behind a stalled one.
pg_across() { # pg_across HOW (revert or kill): prints "NAME MEDIAN WORST STALL N_DURING N_AFTER WORST_DURING"
	local t_inj t0 n
	PGB_PIDS=()
	# a connection costs a fork of a backend, slow in a TCG guest: a rate it keeps up with
	# long enough to run on past the revert however slow chaosctl starts in a loaded guest (in
	# a CI run with two guests on two cores, 8 s ended before it: no transaction after)
	pgbench_bg "conn-$1" 14 -C -c 2 -R 3
	pgbench_bg "tx-$1" 14 -c 2 -R 40
	sleep 1.5
	ctl inject latency --edge db --ms 20 --for 10m >/dev/null
	t_inj=$(date +%s.%N)
	# what starting chaosctl costs the guest, during the fault too: the revert pays it
	sleep 1.5
	ctl status >/dev/null
	sleep 1.5
	tcp_counters "$T/pg0-$1"
	tcp_counters "$T/pgb0-$1" B
	t0=$(date +%s.%N)
	if [ "$1" = revert ]; then
		ctl revert --edge db >/dev/null
	else
		ctl kill --edge db --reason "pgbench" >/dev/null
	fi
	wait "${PGB_PIDS[@]}"
	tcp_counters "$T/pg1-$1"
	tcp_counters "$T/pgb1-$1" B
	[ "$1" = kill ] && ctl arm >/dev/null
	for n in conn tx; do echo "$n $(pgbench_stall "$n-$1" "$t_inj" "$t0")"; done
}
# pg_syns HOW: the SYNs the client and the SYN-ACKs the server resent across pg_across HOW
pg_syns() {
	echo "$(tcp_delta "$T/pg0-$1" "$T/pg1-$1" TcpExtTCPSynRetrans)" \
		"$(tcp_delta "$T/pgb0-$1" "$T/pgb1-$1" TcpExtTCPSynRetrans)"
}
pg_across revert >"$T/pg-revert.txt"
for c in $TCP_CTRS; do printf '%s ' "$(tcp_delta "$T/pg0-revert" "$T/pg1-revert" "$c")"; done >"$T/pg-tcp"
read -r pn ptlp pfast pss prto _ <"$T/pg-tcp"
record "pgbench connections across the revert: $pn segments resent ($ptlp tail-loss probes, $pfast fast, $pss slow-start, $prto timeouts)"
check "pgbench across the revert: no retransmission timeout ($prto)" test "$prto" -eq 0
check "pgbench across the revert: nothing resent but tail-loss probes ($pn resent, $ptlp probes, $pfast fast, $pss slow-start)" \
	test "$((pn - ptlp))" -eq 0
for n in conn tx; do
	read -r _ med worst stall nd na wd < <(grep "^$n " "$T/pg-revert.txt")
	record "pgbench ($n) across the revert of 20 ms on db: median $med ms with the fault ($nd transactions, worst $wd ms), worst $worst ms from the revert on ($na), $stall ms over the median, $(awk "BEGIN { print $worst - $wd }") ms over the fault's worst"
	if [ "$n" = tx ]; then
		# A packet the revert lost would cost TCP at least its 200 ms minimum RTO (the
		# kill switch's worst is that and more); that nothing was lost or resent is the
		# counters' check above. The time bound is half an RTO over the fault's own worst:
		# a CI run with two guests on two cores saw 36 ms over it with nothing resent.
		check "pgbench (tx): no stall of a lost packet's size across the revert (worst $worst ms <= the fault's worst $wd ms + 100 ms, $na transactions)" \
			bash -c "[ '$na' -gt 0 ] && [ '$nd' -gt 0 ] && awk 'BEGIN { exit !($worst <= $wd + 100) }'"
	else
		# A lost SYN (or SYN-ACK) is resent after 1 s: the kernels' counters say whether
		# one was. A new connection forks a backend, which in a TCG guest varies by more
		# than that second (a CI run: median 383 ms, worst 1334 ms during the fault, 1623
		# after, nothing resent), so the clients' times are bounded by the fault's worst
		# plus a retry.
		read -r syn_a syn_b < <(pg_syns revert)
		check "pgbench (conn): no SYN or SYN-ACK resent across the revert (client $syn_a, server $syn_b, $na transactions)" \
			test "$na" -gt 0 -a "$syn_a" -eq 0 -a "$syn_b" -eq 0
		check "pgbench (conn): no connection stalled a SYN retry past the fault's worst (worst $worst ms < $wd ms + 1000 ms)" \
			awk "BEGIN { exit !($worst < $wd + 1000) }"
	fi
	grep -h "failed\|aborted" "$T/pgb-$n-revert.out" | sed 's/^/  | /'
done
pg_across kill >"$T/pg-kill.txt"
read -r ksyn_a ksyn_b < <(pg_syns kill)
while read -r n med worst stall nd na wd; do
	record "pgbench ($n) across the kill switch (deletes at once): median $med ms with the fault (worst $wd), worst $worst ms after, stall $stall ms$([ "$n" = conn ] && echo "; SYNs resent: client $ksyn_a, server $ksyn_b")"
done <"$T/pg-kill.txt"

# A scenario that should hold: 20 ms on db for 10 s under pgbench load, a probe across db's
# edge and one on an address no fault touches; both steady states must hold after the revert.
cat >"$T/db20.ini" <<'INI'
[scenario]
name = db-20ms

[probe db]
type = tcp
target = 10.77.0.2:5001
interval = 100ms
timeout = 2s
steady_state = p99 < 500ms over 3s

[probe api]
type = tcp
target = 10.77.0.3:5001
interval = 100ms
timeout = 2s
steady_state = success_rate >= 99% over 3s

[step slow-db]
at = 0s
fault = latency
edge = db
ms = 20
for = 10s
INI
PGB_PIDS=()
pgbench_bg scenario 22 -C -c 2 -R 10
ctl run "$T/db20.ini" >"$T/db20.out" 2>&1
rc=$?
wait "${PGB_PIDS[@]}"
id=$(sed -n 's/^run \([^ ]*\) started.*/\1/p' "$T/db20.out")
rep=$T/state/reports/$id.json
grep -E "revert|end|violated" "$T/db20.out" | sed 's/^/  | /'
outcome=$(json "$rep" 'd["outcome"]' 2>/dev/null)
after=$(json "$rep" '[(p["name"], p["phases"].get("steady-state-after", {}).get("p99_ms")) for p in d["probes"]]' 2>/dev/null)
record "scenario 20 ms on db for 10 s under pgbench: $outcome (exit $rc); probes' p99 after the revert: $after"
check "the scenario with a 20 ms step on db holds (exit $rc, $outcome)" test "$rc" = 0 -a "$outcome" = held

# --- a probe on an address no fault touches sees no change while db's faults come and go
# (the daemon's loop is busy with them; the probe is timed by the kernel)
cat >"$T/other.ini" <<'INI'
[scenario]
name = other-edge

[probe other]
type = tcp
target = 10.77.0.3:5001
interval = 100ms
timeout = 2s

[step slow-db]
at = 0s
fault = latency
edge = db
ramp = 20ms..200ms over 3s in 4 steps
INI
ctl run "$T/other.ini" >"$T/other.out" 2>&1
id=$(sed -n 's/^run \([^ ]*\) started.*/\1/p' "$T/other.out")
rep=$T/state/reports/$id.json
m99=$(json "$rep" 'd["probes"][0]["phases"]["method"]["p99_ms"]')
mn=$(json "$rep" 'd["probes"][0]["phases"]["method"]["count"]')
record "probe on an untouched address while db changes 5 times: p99 $m99 ms ($mn samples)"
check "untouched probe: p99 during the method below 20 ms ($m99 ms)" in_range "$m99" 0 20

# --- stacked latency and loss on db: each counts its own, and together what was sent
ctl inject latency --edge db --ms 5 --for 10m >/dev/null
ctl inject loss --edge db --percent 20 --for 10m >/dev/null
A ping -n -q -i 0.01 -c 500 -W 1 10.77.0.2 >/dev/null 2>&1
sleep 0.6 # the kernel's counters are read at most every 500 ms
ctl --json status >"$T/status.json"
ctl status | sed 's/^/  | /'
read -r delayed dropped < <(python3 -c '
import json, sys
f = {x["kind"]: x for x in json.load(open(sys.argv[1]))["faults"] if x["edge"] == "db"}
print(f["latency"]["affected_packets"], f["loss"]["affected_packets"])' "$T/status.json")
record "500 pings through stacked latency + 20 % loss on db: the latency fault delayed $delayed, the loss fault dropped $dropped"
check "stacked faults count their own: delayed + dropped = 500 sent ($delayed + $dropped)" \
	test $((delayed + dropped)) -eq 500
check "the loss fault dropped about 20 % ($dropped in [50, 150])" in_range "$dropped" 50 150
ctl revert --edge db >/dev/null

# --- the quiet fault on cache, 30 s on: flagged in status, --json and metrics
while [ $(($(date +%s) - T_QUIET)) -lt 32 ]; do sleep 1; done
ctl status >"$T/quiet-status.txt"
sed 's/^/  | /' "$T/quiet-status.txt"
check "status flags the fault with no traffic" grep -q "no packet matched in 30 s: check the destination, the route and the address family" "$T/quiet-status.txt"
check "status --json has the warning" bash -c "ip netns exec cd-a $CHAOSCTL --socket $SOCK --json status | grep -q '\"warning\": *\"no packet matched'"
check "metrics flag it" bash -c "ip netns exec cd-a $CHAOSCTL --socket $SOCK metrics | grep -Eq '^chaosd_fault_no_traffic\{.*edge=\"cache\".*\} 1'"
ctl revert --edge cache >/dev/null

# --- a step that requires traffic fails the run when its fault matched nothing
cat >"$T/quiet.ini" <<'INI'
[scenario]
name = quiet

[step quiet-cache]
at = 0s
fault = latency
edge = cache
ms = 10
for = 2s
require_traffic = yes
INI
ctl run "$T/quiet.ini" >"$T/quiet.out" 2>&1; rc=$?
sed 's/^/  | /' "$T/quiet.out" | head -20
id=$(sed -n 's/^run \([^ ]*\) started.*/\1/p' "$T/quiet.out")
check "require_traffic: the run fails (exit 2, got $rc)" test "$rc" = 2
check "require_traffic: the reason says why" grep -q "no packet matched: check the destination" "$T/quiet.out"
check "require_traffic: the report says what the fault did (0 packets)" grep -q "delayed 0 packets" "$T/state/reports/$id.txt"

sleep 1
check "kernel state as before" same_state "$T/before"
stop_chaosd
finish
