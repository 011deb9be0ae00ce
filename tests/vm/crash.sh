#!/bin/bash
# Crash safety on a real netem kernel (run inside the VM by tests/vm-crash-tests.sh):
#  1. Pre-existing qdiscs on the interface (tbf, an htb tree, fq_codel, a clsact with user
#     filters, a legacy ingress qdisc) come back byte-for-byte after inject/revert, after a
#     SIGKILL + restart + revert, and after a SIGKILL + `chaosd --cleanup`.
#  2. A revert and the kill switch SIGKILLed at the one point where the kernel has done them
#     and the journal does not know yet (chaosd held there by a full log pipe): a restart must
#     not re-apply what they removed.
#  3. Kill loop: SIGKILL chaosd at random points (while it applies an inject, a revert or the
#     kill switch; while idle with faults active; while a restart or `chaosd --cleanup` is itself
#     cleaning up), then recover with `chaosd --cleanup` or with a restart. A restart cleans up
#     and re-adopts the confirmed faults still in time, so there the daemon is asked to revert
#     them one by one (revert --all, not the kill switch's remove-everything): what it neither
#     cleaned nor adopted stays behind and is found. Either way the kernel state (tc qdiscs,
#     classes and filters, `ip -j link`, the nft ruleset) must then be exactly the pre-fault
#     one, every cycle. Phase 2 runs the same loop over a user's tbf root, clsact with filters
#     and nftables table, which must come through untouched. What a restart re-adopts is
#     checked too: never a fault whose revert (or the kill switch's) the kernel had confirmed
#     before the kill, nothing after a `chaosd --cleanup`, and every untouched 10-minute one.
#
# Environment:
#   CHAOSD_CRASH_SEED        seed of the kill loop's choices (default 1)
#   CHAOSD_CRASH_CYCLES      cycles to run (default 240: ~7 minutes at 1.8 s a cycle beside another
#                            VM test; a count, not a time, so a fast day does not buy more cycles
#                            at CI's expense and a slow one still has to reach MIN_CYCLES)
#   CHAOSD_CRASH_BUDGET      seconds of script time (preservation included) after which the loop
#                            stops early (default 660; 3 to 3.7 s a cycle were seen with four VMs
#                            on two cores)
#   CHAOSD_CRASH_MIN_CYCLES  fewer cycles than this fails the test, leftovers or not (default
#                            200, or all the cycles asked for if that is fewer)
#   CHAOSD_CRASH_EXTRA       seconds the loop may run past the budget on a slow machine to reach
#                            CHAOSD_CRASH_MIN_CYCLES (default 480: 200 cycles at up to ~4.5 s)
#   CHAOSD_CRASH_FIRST       first cycle to run (reproducing one: earlier plans are drawn, not run)
#   CHAOSD_CRASH_PHASE2_AT   cycle at which phase 2 starts (default: half the cycles or the time)
set -uo pipefail
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

SEED=${CHAOSD_CRASH_SEED:-1}
CYCLES=${CHAOSD_CRASH_CYCLES:-240}
BUDGET=${CHAOSD_CRASH_BUDGET:-660}
MIN_CYCLES=${CHAOSD_CRASH_MIN_CYCLES:-200}
EXTRA=${CHAOSD_CRASH_EXTRA:-480}
FIRST=${CHAOSD_CRASH_FIRST:-1}
PHASE2_AT=${CHAOSD_CRASH_PHASE2_AT:-0}
for v in SEED CYCLES BUDGET MIN_CYCLES EXTRA FIRST PHASE2_AT; do
	[[ ${!v} =~ ^[0-9]+$ ]] && continue
	echo "FAIL: CHAOSD_CRASH_$v must be a number, got '${!v}'"
	exit 1
done
asked=$((CYCLES - FIRST + 1))
((MIN_CYCLES > asked)) && MIN_CYCLES=$asked
((MIN_CYCLES < 1)) && MIN_CYCLES=1

uname -r
topology || { echo "FAIL: topology"; exit 1; }
write_config
# A service edge (issue 17): root's sockets to 10.77.0.3, marked in table inet chaosd_mark, in
# the kill loop with the others (its mark table and connection marks must go as well).
printf '\n[edge svc]\ninterface = a0\ndestination = 10.77.0.3/32\nuser = 0\n' >>"$T/chaosd.conf"

# ------------------------------------------------------------------ helpers
# A process start costs ~45 ms here (far more under load), so the loop does its waiting, timing
# and /proc reading with bash builtins and runs as few programs as it can.

# Sleeping: read with a timeout on a FIFO nobody writes (sleep(1) would be a process start).
mkfifo "$T/sleep.fifo"
exec {SLEEP_FD}<>"$T/sleep.fifo"
ms_sleep() {
	(($1 > 0)) || return 0
	local s
	printf -v s '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
	read -rt "$s" -u "$SLEEP_FD" _ || true
}

# chaosctl needs no netns: the socket is a path.
ctlq() { "$CHAOSCTL" --socket "$SOCK" "$@"; }

alive() { # PID is running (not gone, not a zombie)
	local st
	read -r _ _ st _ 2>/dev/null <"/proc/$1/stat" && [ "$st" != Z ]
}
listening() { # chaosd PID listens on $SOCK: its netns's /proc/net/unix, flag __SO_ACCEPTCON
	local line
	while read -r line; do
		[[ $line == *" 00010000 "*" $SOCK" ]] && return 0
	done 2>/dev/null <"/proc/$1/net/unix"
	return 1
}

DPID=""
start_daemon() { # in the background; $DPID is chaosd itself (ip netns exec execs it)
	echo "=== $*" >>"$T/chaosd.log"
	ip netns exec cd-a "$CHAOSD" --config "$T/chaosd.conf" --socket "$SOCK" \
		--state-dir "$T/state" >>"$T/chaosd.log" 2>&1 &
	DPID=$!
}
wait_ready() { # start-up cleanup runs before listen(): listening means it is done
	local i
	for ((i = 0; i < 6000; i++)); do
		listening "$DPID" && return 0
		alive "$DPID" || break
		ms_sleep 5
	done
	echo "chaosd (pid $DPID) did not come up; end of its log:"
	tail -n 20 "$T/chaosd.log"
	return 1
}
kill_daemon() {
	[ -n "$DPID" ] || return 0
	kill -KILL "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	DPID=""
}
stop_daemon() { # SIGTERM: chaosd reverts what it has and exits
	[ -n "$DPID" ] || return 0
	kill -TERM "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	DPID=""
}
cleanup_cmd() {
	ip netns exec cd-a "$CHAOSD" --cleanup --state-dir "$T/state" >>"$T/chaosd.log" 2>&1
}

# Send a request while chaosd is stopped, and let it go once the request sits in its socket
# and the client waits for the reply (recvfrom or recvmsg, syscalls 45 and 47 on x86-64): a
# random delay after that lands in chaosd's handling of it, whatever a process start costs at
# the time. HELD_MISS counts requests not seen waiting (then the delay is from the release).
BG=""
HELD_MISS=0
send_held() { # CHAOSCTL-ARGS...
	local sc i
	kill -STOP "$DPID"
	"$CHAOSCTL" --socket "$SOCK" "$@" >"$T/bg.out" 2>&1 &
	BG=$!
	for ((i = 0; i < 1500; i++)); do
		sc=""
		read -r sc _ 2>/dev/null <"/proc/$BG/syscall"
		[[ $sc == 45 || $sc == 47 ]] && break
		alive "$BG" || break
		ms_sleep 2
	done
	[[ $sc == 45 || $sc == 47 ]] || HELD_MISS=$((HELD_MISS + 1))
	kill -CONT "$DPID"
}

# ploss TARGET COUNT: LOSS in percent from a quick ping (two program starts, not lib.sh's ten).
ploss() {
	local out
	out=$(ip netns exec cd-a ping -n -q -c "$2" -i 0.02 -W 1 "$1" 2>&1)
	LOSS=100
	[[ $out =~ \ ([0-9.]+)%\ packet\ loss ]] && LOSS=${BASH_REMATCH[1]}
}

# The kernel state chaosd must leave as it found it, in three program starts: every qdisc in
# cd-a, a0's classes and filters on each hook, `ip -j link` of cd-a (every link with all its
# attributes: tc does not list a link whose only qdisc is the built-in noop, as a new IFB's is)
# and the whole nft ruleset. A superset of lib.sh's snapshot; lib.sh's same_state also runs at
# the end of each phase. The three run at once (the guest has two CPUs) into files that
# builtins read back.
printf '%s\n' "qdisc show" "class show dev a0" "filter show dev a0" "filter show dev a0 egress" \
	"filter show dev a0 ingress" >"$T/kstate.batch"
kstate() {
	local p1 p2 tcs="" links="" rules=""
	tc -n cd-a -j -force -batch "$T/kstate.batch" >"$T/kstate.tc" 2>&1 &
	p1=$!
	ip -n cd-a -j link show >"$T/kstate.link" 2>&1 &
	p2=$!
	ip netns exec cd-a nft list ruleset >"$T/kstate.nft" 2>&1
	wait "$p1" "$p2"
	IFS= read -r -d '' tcs <"$T/kstate.tc"
	IFS= read -r -d '' links <"$T/kstate.link"
	IFS= read -r -d '' rules <"$T/kstate.nft"
	KSTATE="$tcs--- links"$'\n'"$links--- nft ruleset"$'\n'"$rules"
}

# a0's tc configuration on every parent a user's setup may use, for byte-for-byte comparison.
printf '%s\n' "qdisc show dev a0" "class show dev a0" "filter show dev a0" \
	"filter show dev a0 parent 1:" "filter show dev a0 parent ffff:" \
	"filter show dev a0 ingress" "filter show dev a0 egress" >"$T/tcsnap.batch"
tcsnap() { tc -n cd-a -j -force -batch "$T/tcsnap.batch" 2>&1; }

# tc -j prints one line per command: one object per line makes a diff readable.
show_diff() { diff <(echo "${1//'},{"'/$'},\n{"'}") <(echo "${2//'},{"'/$'},\n{"'}"); }
same_text() { # DESC BEFORE AFTER: check, with a diff on failure
	if [[ $2 == "$3" ]]; then
		ok "$1"
	else
		bad "$1"
		show_diff "$2" "$3"
	fi
}

# ------------------------------------------------------------------ 1. pre-existing qdiscs
# One daemon for all cases; each case sets up a0 with tc, faults it, reverts, crashes.
pres_start=$SECONDS
kstate
PRISTINE=$KSTATE
start_daemon "preservation"
wait_ready || { echo "FAIL: chaosd did not start"; exit 1; }

# A refusal because of a legacy ingress qdisc must say what is in the way and why.
clear_refusal() { grep -q "ingress" <<<"$1" && grep -q "clsact" <<<"$1" && grep -q "a0" <<<"$1"; }

# a0 as the user left it (tc configuration, and the whole kstate) or not: "yes"/"NO"
# A revert lets netem's queue drain before the objects go (chaosd(8), lossless revert): they
# are gone within the fault's delay and a few hundred ms. Wait for that, 5 s at most, so what
# is still there after it is a real leftover.
drained() { # drained BEFORE KBEFORE
	local end=$((SECONDS + 5))
	while ((SECONDS < end)); do
		kstate
		[[ $(tcsnap) == "$1" && $KSTATE == "$2" ]] && return 0
		sleep 0.1
	done
	return 1
}
as_before() {
	local after
	drained "$BEFORE" "$KBEFORE"
	after=$(tcsnap)
	same_text "$NAME: a0's qdiscs, classes and filters byte-for-byte $1" "$BEFORE" "$after"
	kstate
	same_text "$NAME: no chaosd link, qdisc or nft table left $1" "$KBEFORE" "$KSTATE"
	[[ $after == "$BEFORE" && $KSTATE == "$KBEFORE" ]] && AS_BEFORE=yes || AS_BEFORE=NO
}

preserve_body() {
	local out rc lat part rev_ok restart_ok cleanup_ok nfaults=2
	if [ "$NAME" = ingress ]; then
		# clsact and the legacy ingress qdisc share ffff:fff1: chaosd cannot add its clsact.
		out=$(ctlq inject latency --edge db --ms 30 --direction in --for 10m 2>&1)
		rc=$?
		echo "  inject --direction in: exit $rc: $out"
		record "legacy ingress qdisc, latency --direction in: exit $rc: $out"
		check "$NAME: --direction in refused" [ "$rc" -ne 0 ]
		check "$NAME: the refusal names the ingress qdisc, clsact and a0" \
			clear_refusal "$out"
		same_text "$NAME: refused --direction in changed nothing" "$BEFORE" "$(tcsnap)"
		out=$(ctlq inject latency --edge db --ms 30 --direction out --for 10m 2>&1)
		rc=$?
		echo "  inject --direction out: exit $rc: $out"
		record "legacy ingress qdisc, latency --direction out: exit $rc: $out"
		if ((rc == 0)); then
			rtt 10.77.0.2 20
			lat=$RTT
			check "$NAME: egress latency composes with the ingress qdisc (rtt $lat)" \
				in_range "$lat" 30 45
			lat="egress only: rtt $lat ms"
		else
			# Egress filters need a clsact too: a refusal is fair, if it is clear.
			check "$NAME: the egress refusal names the ingress qdisc, clsact and a0" \
				clear_refusal "$out"
			same_text "$NAME: refused --direction out changed nothing" \
				"$BEFORE" "$(tcsnap)"
			lat="refused (legacy ingress qdisc)"
			nfaults=1
		fi
	else
		out=$(ctlq inject latency --edge db --ms 30 --direction both --for 10m 2>&1)
		check "$NAME: inject latency in+out accepted ($out)" [ $? -eq 0 ]
		rtt 10.77.0.2 20
		lat="rtt $RTT ms"
		check "$NAME: latency 30 ms both ways bites (rtt $RTT, expect 60-75)" \
			in_range "$RTT" 60 75
	fi
	out=$(ctlq inject partition --edge db --direction both --for 10m 2>&1)
	check "$NAME: inject partition accepted ($out)" [ $? -eq 0 ]
	ploss 10.77.0.2 3
	part=$LOSS
	check "$NAME: partition bites (loss $part%)" in_range "$part" 100 100
	ploss 10.77.0.3 10
	check "$NAME: the rest of a0 still reachable (loss $LOSS%)" in_range "$LOSS" 0 0
	ctlq revert --all >/dev/null
	as_before "after revert"
	rev_ok=$AS_BEFORE

	# The same faults, then SIGKILL. A restart re-adopts them (they must still bite and
	# revert cleanly); `chaosd --cleanup` removes them.
	add_faults() {
		((nfaults == 2)) &&
			ctlq inject latency --edge db --ms 30 --direction both --for 10m >/dev/null
		ctlq inject partition --edge db --for 10m >/dev/null
	}
	add_faults
	kill_daemon
	start_daemon "preservation: restart after SIGKILL ($NAME)"
	wait_ready || { bad "$NAME: chaosd did not restart"; return 1; }
	ploss 10.77.0.2 3
	check "$NAME: the restarted chaosd re-adopted the partition (loss $LOSS%)" \
		in_range "$LOSS" 100 100
	out=$(ctlq revert --all 2>&1)
	check "$NAME: the restarted chaosd reverts the $nfaults faults it re-adopted ($out)" \
		[ "$out" = "reverted $nfaults fault(s)" ]
	as_before "after SIGKILL, restart and revert"
	restart_ok=$AS_BEFORE
	add_faults
	kill_daemon
	check "$NAME: chaosd --cleanup after SIGKILL" cleanup_cmd
	as_before "after SIGKILL and --cleanup"
	cleanup_ok=$AS_BEFORE
	start_daemon "preservation: after --cleanup ($NAME)"
	wait_ready || { bad "$NAME: chaosd did not start after --cleanup"; return 1; }
	if [ "$NAME" = clsact ]; then
		out=$(tc -n cd-a -j filter show dev a0 egress)
		check "clsact: the user's egress filter (prio 1, 10.77.0.9) is still there" \
			grep -q '"pref":1,.*"value":"a4d0009"' <<<"$out"
		out=$(tc -n cd-a -j qdisc show dev a0)
		check "clsact: the user's clsact is still there" grep -q '"kind":"clsact"' <<<"$out"
	fi
	record "preserve $NAME: latency 30ms both ways: $lat, partition loss $part%;" \
		"byte-for-byte after revert $rev_ok, after SIGKILL+restart+revert $restart_ok," \
		"after SIGKILL+--cleanup $cleanup_ok"
}

preserve_case() { # NAME TEARDOWN-COMMAND SETUP-COMMANDS... (tc batch lines)
	NAME=$1
	local teardown=$2
	shift 2
	echo "--- preservation: $NAME"
	printf '%s\n' "$@" >"$T/setup.batch"
	if tc -n cd-a -batch "$T/setup.batch"; then
		BEFORE=$(tcsnap)
		kstate
		KBEFORE=$KSTATE
		preserve_body
	else
		bad "$NAME: setting it up with tc failed"
	fi
	# Whatever happened, the next case starts from a clean a0 and a running daemon.
	if [ -z "$DPID" ] || ! alive "$DPID"; then
		cleanup_cmd
		start_daemon "preservation: after $NAME"
		wait_ready
	fi
	ctlq revert --all >/dev/null
	read -ra teardown <<<"$teardown"
	tc -n cd-a "${teardown[@]}"
	kstate
	same_text "$NAME: torn down to the pristine state" "$PRISTINE" "$KSTATE"
}

# The user's own tc setup (also phase 2 of the kill loop).
TBF="qdisc add dev a0 root handle 1: tbf rate 500mbit burst 64kb latency 50ms"
USER_EGRESS="filter add dev a0 egress prio 1 protocol ip u32 match ip dst 10.77.0.9 action pass"
USER_INGRESS="filter add dev a0 ingress prio 1 protocol ip u32 match ip src 10.77.0.9 action pass"
preserve_case tbf "qdisc del dev a0 root" "$TBF"
preserve_case htb "qdisc del dev a0 root" \
	"qdisc add dev a0 root handle 1: htb default 10" \
	"class add dev a0 parent 1: classid 1:10 htb rate 100mbit" \
	"class add dev a0 parent 1: classid 1:20 htb rate 50mbit" \
	"filter add dev a0 parent 1: protocol ip prio 1 u32 match ip dst 10.77.0.3/32 flowid 1:20"
preserve_case fq_codel "qdisc del dev a0 root" \
	"qdisc add dev a0 root fq_codel"
preserve_case clsact "qdisc del dev a0 clsact" \
	"qdisc add dev a0 clsact" "$USER_EGRESS" "$USER_INGRESS"
preserve_case ingress "qdisc del dev a0 ingress" \
	"qdisc add dev a0 ingress" "${USER_INGRESS/ingress/parent ffff:}"
stop_daemon
record "preservation: 5 cases in $((SECONDS - pres_start))s"

# ------------------------------------------------------------------ 2. between kernel and journal
# The loop's random kills only now and then land between a revert the kernel has confirmed and
# the journal's record of it. Here chaosd is held exactly there: its stderr is a FIFO that is
# kept full, so it blocks writing the audit line that follows a confirmed revert (it logs
# nothing on the way in), and is SIGKILLed while blocked. The revert was done; a restart must
# not re-apply it.
mkfifo "$T/gap.fifo"
exec {GAPFD}<>"$T/gap.fifo" # a reader that never reads: chaosd's writes block once it is full
fifo() { # drain FIFO OUT | fill FIFO: empty it into OUT, or fill it to the last byte
	python3 - "$@" <<'PY'
import os, sys
op, path = sys.argv[1], sys.argv[2]
if op == "drain":
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with open(sys.argv[3], "ab") as out:
        while True:
            try:
                b = os.read(fd, 65536)
            except BlockingIOError:
                break
            out.write(b)
else:
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    for size in (4096, 1):
        while True:
            try:
                os.write(fd, b"\n" * size)
            except BlockingIOError:
                break
PY
}
gap_case() { # NAME CHAOSCTL-ARGS...: the request cut off between the kernel and the journal
	local name=$1 expect sc="" i gone out kgap
	shift
	echo "--- $name, SIGKILLed after the kernel confirmed it, before the journal knew"
	rm -rf "$T/state"
	echo "=== gap: $name (chaosd's log goes to a FIFO: $T/gap.log)" >>"$T/chaosd.log"
	ip netns exec cd-a "$CHAOSD" --config "$T/chaosd.conf" --socket "$SOCK" \
		--state-dir "$T/state" >"$T/gap.fifo" 2>&1 &
	DPID=$!
	wait_ready || { bad "$name: chaosd did not start"; return; }
	if ! ctlq inject latency --edge db --ms 40 --for 10m >/dev/null ||
		! ctlq inject loss --edge cache --percent 10 --for 10m >/dev/null; then
		bad "$name: the two faults could not be injected"
		return
	fi
	fifo drain "$T/gap.fifo" "$T/gap.log"
	fifo fill "$T/gap.fifo"
	ctlq "$@" >"$T/gap.out" 2>&1 &
	BG=$!
	for ((i = 0; i < 2000; i++)); do
		read -r sc _ 2>/dev/null <"/proc/$DPID/syscall"
		[ "$sc" = 1 ] && break # write(2), to the full FIFO
		alive "$BG" || break
		ms_sleep 5
	done
	kstate
	kgap=$KSTATE
	kill_daemon
	wait "$BG"
	fifo drain "$T/gap.fifo" "$T/gap.log"
	if [ "$sc" != 1 ]; then
		bad "$name: chaosd never blocked on its log (request: $(<"$T/gap.out")): not staged"
		stop_daemon
		cleanup_cmd
		return
	fi
	# Where it blocked: after the kernel change (the audit line) or before it?
	if [ "$name" = "revert --edge db" ]; then
		[[ $kgap != *'"delay":0.04'* && $kgap == *'"kind":"netem"'* ]] && gone=yes || gone=NO
		expect=1 # cache's loss, untouched
	else
		[[ $kgap == "$GAPBASE" ]] && gone=yes || gone=NO
		expect=0
	fi
	check "$name: the kernel had done it when chaosd was killed, blocked on its log ($gone)" \
		[ "$gone" = yes ]
	start_daemon "gap: restart after $name"
	if wait_ready; then
		out=$(ctlq revert --all 2>&1)
		check "$name: the restart re-adopted only the $expect fault(s) not reverted ($out)" \
			[ "$out" = "reverted $expect fault(s)" ]
		record "cut between kernel and journal: $name done in the kernel ($gone), then" \
			"SIGKILL; the restart re-applied: $out (expected $expect)"
		if [ "$name" = "kill switch" ]; then
			# The latch outlives the SIGKILL (STATE_DIR/kill-switch): nothing may be
			# injected until someone arms it.
			local verdict=accepted
			out=$(ctlq inject latency --edge db --ms 5 --for 1m 2>&1) || verdict=refused
			record "kill switch latch after the restart: inject $verdict: $out"
			check "$name: the kill switch is still engaged after SIGKILL and restart" \
				[ "$verdict" = refused ]
			ctlq revert --all >/dev/null
			ctlq arm >/dev/null
		fi
	else
		bad "$name: chaosd did not restart"
	fi
	kstate
	same_text "$name: back to the state before the faults" "$GAPBASE" "$KSTATE"
	stop_daemon
}
kstate
GAPBASE=$KSTATE
gap_case "revert --edge db" revert --edge db
gap_case "kill switch" kill --reason gap-test
exec {GAPFD}<&-

# ------------------------------------------------------------------ 3. kill loop
RANDOM=$SEED
KINDS=(latency loss rate partition)
DIRS=(out in both)
EDGES=(db cache svc)
# Where the SIGKILL lands: during an inject, a revert, the kill switch, while idle with faults
# active, or in the recovery itself (a restart's or a `chaosd --cleanup`'s own cleaning up).
POINTS=(inject revert kill idle restart cleanup)

# Every cycle draws the same number of random values whatever happens, so a seed and a cycle
# number name one plan (CHAOSD_CRASH_FIRST skips to it).
draw_plan() {
	local i kind dir edge v dur
	P_N=$((RANDOM % 4 + 1))
	P_F=()
	for ((i = 0; i < 4; i++)); do
		kind=${KINDS[RANDOM % 4]} dir=${DIRS[RANDOM % 3]} edge=${EDGES[RANDOM % 3]}
		v=$RANDOM dur=10m
		((RANDOM % 5)) || dur=1s
		case $kind in
		latency) v="--ms $((v % 200 + 1))" ;;
		loss) v="--percent $((v % 50 + 1))" ;;
		rate) v="--kbit $((v % 100 * 1000 + 1000))" ;;
		partition) v="" ;;
		esac
		# Some faults end by their deadline during the cycle: a kill may hit that revert.
		P_F+=("$kind --edge $edge --direction $dir $v --for $dur")
	done
	v=$((RANDOM % 100))
	if ((v < 35)); then P_POINT=inject
	elif ((v < 55)); then P_POINT=revert
	elif ((v < 70)); then P_POINT="kill"
	elif ((v < 88)); then P_POINT=idle
	else P_POINT=recovery; fi
	P_DELAY=$((RANDOM % 31))   # ms after chaosd can see the request
	P_FRESH=$((RANDOM % 2))    # start on an empty state dir (else on the previous one)
	P_REV=$((RANDOM % 3))      # revert --all, --edge db, --edge cache
	P_RDELAY=$((RANDOM % 201)) # ms into a restart / --cleanup that is killed too
	P_RKIND=$((RANDOM % 2))    # which of the two is killed
}

declare -A KILLS=() CUT=() LEFT=()
for p in "${POINTS[@]}"; do KILLS[$p]=0 CUT[$p]=0 LEFT[$p]=0; done
leftovers=0 inject_errors=0 cleanup_errors=0 restart_errors=0 cycles=0 loop_us=0
adopted_total=0 adopt_errors=0 by_cleanup=0 by_restart=0 stale_adopt=0
reverted_restart=0 came_back=0
declare -A CAME_BACK=([revert]=0 [kill]=0)
REPRO=""

repair() { # back to the baseline by any means, so that later cycles still test something
	local l
	stop_daemon
	cleanup_cmd
	kstate
	[[ $KSTATE == "$BASE" ]] && return 0
	for l in $(A ip -o link show | grep -o 'chd-[a-z0-9]*'); do A ip link del "$l"; done
	A nft delete table inet chaosd 2>/dev/null
	for l in egress ingress; do
		A tc filter del dev a0 "$l" prio 50337 2>/dev/null
		A tc filter del dev a0 "$l" prio 50338 2>/dev/null
	done
	[ "$PHASE" = 1 ] && A tc qdisc del dev a0 clsact 2>/dev/null
	kstate
	[[ $KSTATE == "$BASE" ]]
}

# Which faults a restart may and must re-adopt. ACK[edge/kind] = the duration of the last
# inject chaosd confirmed this cycle. It may re-adopt those, except what a confirmed revert or
# kill removed, plus a cut-off inject that chaosd had finished applying (it logs the apply,
# then marks it applied in the journal, then replies: a kill in between is a fair race). An
# inject cut off before chaosd logged it applied must not come back. It must re-adopt the
# 10-minute ones that no request was touching when it was killed, unless the kill also hit a
# restart or --cleanup (then some may be lost: reverted, the safe side).
declare -A ACK=()
touched() { # KEY: the kill-point request concerns this fault
	case $P_POINT in
	inject) [ "$1" = "$BGKEY" ] ;;
	revert)
		((P_REV == 0)) || { ((P_REV == 1)) && [[ $1 == db/* ]]; } ||
			{ ((P_REV == 2)) && [[ $1 == cache/* ]]; }
		;;
	kill) true ;;
	*) false ;;
	esac
}
adopt_bounds() { # -> LO HI
	local k
	LO=0 HI=0
	for k in "${!ACK[@]}"; do
		if touched "$k"; then
			# A confirmed revert or kill removed it; a confirmed inject is in ACK as is.
			[ "$P_POINT" != inject ] && ((!BGCUT)) && continue
			((BGCUT)) && { HI=$((HI + 1)); continue; }
		fi
		HI=$((HI + 1))
		[ "${ACK[$k]}" = 10m ] && [ "$P_POINT" != recovery ] && LO=$((LO + 1))
	done
	if [ "$P_POINT" = inject ] && ((BGCUT && BGAPPLIED)) && [ -z "${ACK[$BGKEY]+set}" ]; then
		HI=$((HI + 1))
	fi
}

# chaosd's log, read from where the last read stopped (the fd keeps the offset, and read is a
# builtin): LOGHIT=1 if a new line matches the regular expression, and IDS lists the fault
# ids the matching lines name (" 3 5 "), from the regular expression's first group.
exec {LOGFD}<"$T/chaosd.log"
log_scan() { # [REGEX]
	local line
	LOGHIT=0 IDS=" "
	while IFS= read -r -u "$LOGFD" line || [ -n "$line" ]; do
		if [ $# -gt 0 ] && [[ $line =~ $1 ]]; then
			LOGHIT=1
			[ -n "${BASH_REMATCH[1]:-}" ] && IDS+="${BASH_REMATCH[1]} "
		fi
		line=""
	done
}

# Where a cycle's time goes: ms since the previous lap, appended to LAPS.
lap() {
	local t=${EPOCHREALTIME/./}
	LAPS+="/$(((t - TLAP) / 1000))"
	TLAP=$t
}

run_cycle() { # CYCLE
	local c=$1 i n args rc t0 what="" adopted re k key=$P_POINT delay=$P_DELAY
	# A recovery kill point is named after what it kills, and its delay is into that.
	[ "$P_POINT" = recovery ] && { ((P_RKIND)) && key=restart || key=cleanup; } && delay=$P_RDELAY
	t0=${EPOCHREALTIME/./} TLAP=$t0 LAPS=""
	echo "=== cycle $c: $key" >>"$T/chaosd.log"
	# A restart that did not answer last cycle may have died: start afresh then.
	[ -n "$DPID" ] && ! alive "$DPID" && kill_daemon
	if [ -z "$DPID" ]; then
		((P_FRESH)) && rm -rf "$T/state"
		log_scan
		start_daemon "cycle $c start (fresh state dir: $P_FRESH)"
		wait_ready || { restart_errors=$((restart_errors + 1)); return 1; }
		# A kill switch pulled last cycle outlives the kill (STATE_DIR/kill-switch).
		ctlq arm >/dev/null
		# The last cycle ended with `chaosd --cleanup` (or a repair), which forgets every
		# fault: a start on that state dir has nothing to re-adopt. Adoption is logged
		# before the socket listens.
		log_scan "re-adopted fault"
		if ((LOGHIT)); then
			stale_adopt=$((stale_adopt + 1))
			echo "cycle $c (seed $SEED): chaosd re-adopted faults after chaosd --cleanup:"
			sed -n "/^=== cycle $c: /,\$p" "$T/chaosd.log" | sed 's/^/    /'
		fi
	fi
	lap
	n=$P_N
	[ "$P_POINT" = inject ] && n=$((n - 1))
	ACK=()
	for ((i = 0; i < n; i++)); do
		read -ra args <<<"${P_F[i]}"
		if ctlq inject "${args[@]}" >"$T/ctl.out" 2>&1; then
			ACK[${args[2]}/${args[0]}]=${args[-1]}
		else
			inject_errors=$((inject_errors + 1))
			echo "cycle $c: inject ${P_F[i]} failed: $(<"$T/ctl.out")"
		fi
	done
	lap
	BG="" BGKEY="" BGCUT=0 BGAPPLIED=0 BGREVERTED=" "
	log_scan
	case $P_POINT in
	inject)
		read -ra args <<<"${P_F[P_N - 1]}"
		BGKEY=${args[2]}/${args[0]} BGDUR=${args[-1]}
		send_held inject "${args[@]}"
		;;
	revert)
		case $P_REV in
		0) send_held revert --all ;;
		1) send_held revert --edge db ;;
		2) send_held revert --edge cache ;;
		esac
		;;
	kill) send_held kill --reason crash-test ;;
	esac
	ms_sleep "$P_DELAY"
	kill_daemon
	KILLS[$key]=$((KILLS[$key] + 1))
	if [ -n "$BG" ]; then
		wait "$BG"
		rc=$?
		# No reply: the kill cut the request off (else chaosd had finished it).
		if ((rc != 0)); then
			BGCUT=1
			CUT[$key]=$((CUT[$key] + 1))
			what=" (cut off)"
			if [ "$P_POINT" = inject ]; then
				re="action=(inject|update) id=[0-9]+ edge='${BGKEY%/*}'"
				log_scan "$re fault=${BGKEY#*/} .*result='ok'"
				BGAPPLIED=$LOGHIT
				((BGAPPLIED)) && what=" (cut off after the apply)"
			else
				# chaosd audits each fault a revert took out of the kernel, and every
				# fault the kill switch took out in one record (ids='1 2 3'), once the
				# kernel confirmed it: those were gone before the kill.
				log_scan "audit: action=$P_POINT (id=[0-9]+|ids='[0-9 ]+') .*result='ok'"
				IDS=$(echo $IDS | sed "s/ids=//g; s/id=//g; s/'//g")
				IDS=" ${IDS:+$IDS }"
				BGREVERTED=$IDS
				((LOGHIT)) && what=" (cut off after reverting fault(s)${BGREVERTED% })"
			fi
		elif [ "$P_POINT" = inject ]; then
			ACK[$BGKEY]=$BGDUR
		fi
	fi
	if [ "$P_POINT" = recovery ]; then
		# Kill the cleaning-up itself: a restart, or a --cleanup as systemd's ExecStopPost=.
		if ((P_RKIND)); then
			start_daemon "cycle $c restart, killed after $P_RDELAY ms"
		else
			echo "=== cycle $c --cleanup, killed after $P_RDELAY ms" >>"$T/chaosd.log"
			# Not through cleanup_cmd: a function in the background is a subshell, and
			# $! must be chaosd itself for the kill to hit it.
			ip netns exec cd-a "$CHAOSD" --cleanup --state-dir "$T/state" \
				>>"$T/chaosd.log" 2>&1 &
			DPID=$!
		fi
		ms_sleep "$P_RDELAY"
		alive "$DPID" && CUT[$key]=$((CUT[$key] + 1)) && what=" (cut off)"
		kill_daemon
		what=" into it$what (idle kill +$P_DELAY ms before it)"
	fi
	lap
	if ((c % 2)); then
		by_cleanup=$((by_cleanup + 1))
		what+=", --cleanup"
		if ! cleanup_cmd; then
			cleanup_errors=$((cleanup_errors + 1))
			echo "cycle $c: chaosd --cleanup failed; end of its log:"
			tail -n 5 "$T/chaosd.log"
		fi
	else
		# The restart cleans up and re-adopts; reverting what it adopted, one fault at a
		# time, must then leave nothing behind.
		by_restart=$((by_restart + 1))
		log_scan
		start_daemon "cycle $c restart"
		if wait_ready && ctlq revert --all >"$T/ctl.out" 2>&1 && ctlq arm >/dev/null &&
			read -r _ adopted _ <"$T/ctl.out" && [[ $adopted =~ ^[0-9]+$ ]]; then
			adopt_bounds
			adopted_total=$((adopted_total + adopted))
			what+=", restart re-adopted $adopted"
			# A fault whose revert the kernel had confirmed before the kill must stay
			# reverted: the user asked for it to go, and it went. Re-applying it undoes
			# a revert or the kill switch behind the user's back.
			if [ "$BGREVERTED" != " " ]; then
				reverted_restart=$((reverted_restart + 1))
				log_scan "re-adopted fault ([0-9]+) "
				re=""
				for k in $IDS; do [[ $BGREVERTED == *" $k "* ]] && re+=" $k"; done
				if [ -n "$re" ]; then
					came_back=$((came_back + 1))
					CAME_BACK[$key]=$((CAME_BACK[$key] + 1))
					what+=" (fault(s)$re came back)"
					echo "cycle $c (seed $SEED): the $key request was cut off after" \
						"chaosd had reverted fault(s)${BGREVERTED% } in the kernel" \
						"(audited result='ok'); the restart re-applied$re:"
					sed -n "/^=== cycle $c: /,\$p" "$T/chaosd.log" | sed 's/^/    /'
				fi
			fi
			if ((adopted < LO || adopted > HI)); then
				adopt_errors=$((adopt_errors + 1))
				what+=" (expected $LO..$HI)"
				re="cycle $c (seed $SEED): the restart re-adopted $adopted fault(s)"
				re+=", expected $LO..$HI; confirmed:"
				for k in "${!ACK[@]}"; do re+=" $k(${ACK[$k]})"; done
				[ -n "$BGKEY" ] &&
					re+="; cut off: $BGKEY ($BGCUT, logged applied $BGAPPLIED)"
				echo "$re"
				sed -n "/^=== cycle $c: /,\$p" "$T/chaosd.log" | sed 's/^/    /'
			fi
		else
			restart_errors=$((restart_errors + 1))
			echo "cycle $c: the restarted chaosd does not answer: $(<"$T/ctl.out")"
		fi
	fi
	lap
	kstate
	# a revert's drain (see drained()) may still hold the netem for a moment
	for _ in $(seq 25); do
		[[ $KSTATE == "$BASE" ]] && break
		sleep 0.2
		kstate
	done
	lap
	if [[ $KSTATE == "$BASE" ]]; then
		what+=", clean"
	else
		leftovers=$((leftovers + 1))
		LEFT[$key]=$((LEFT[$key] + 1))
		what+=", LEFTOVER"
		echo "LEFTOVER after cycle $c (seed $SEED, phase $PHASE):" \
			"kill point $key +${delay} ms$(
				[ -n "$BG" ] && echo ", client: $(tr '\n' ' ' <"$T/bg.out")")"
		echo "  faults: $(printf '[%s] ' "${P_F[@]:0:P_N}")"
		echo "  reproduce: CHAOSD_CRASH_SEED=$SEED CHAOSD_CRASH_FIRST=$c" \
			"CHAOSD_CRASH_CYCLES=$c" \
			"CHAOSD_CRASH_PHASE2_AT=$((PHASE == 2 ? c : c + 1))" \
			"tests/vm/run.sh tests/vm/crash.sh"
		show_diff "$BASE" "$KSTATE"
		echo "  chaosd's log of this cycle:"
		sed -n "/^=== cycle $c: /,\$p" "$T/chaosd.log" | sed 's/^/    /'
		REPRO+="seed $SEED cycle $c ($key +${delay} ms); "
		if ! repair; then
			echo "FAIL: cannot get back to the baseline; stopping the loop"
			return 1
		fi
	fi
	t0=$((${EPOCHREALTIME/./} - t0))
	loop_us=$((loop_us + t0))
	printf 'cycle %d: %d fault(s), kill during %s +%d ms%s' "$c" "$P_N" "$key" "$delay" "$what"
	printf ' (%d ms: %s for start/inject/kill/recover/check)\n' $((t0 / 1000)) "${LAPS#/}"
}

# Phase 1 on a bare a0; phase 2 with the user's own tbf root, a clsact with filters and an
# nftables table with a base chain on output, which the cleanups must leave alone (the journal
# says the clsact is not chaosd's; the table is not chaosd's by name).
PHASE=1
kstate
BASE=$KSTATE
snapshot "$T/before-1"
loop_start=$SECONDS
half_time=$((loop_start + (BUDGET - loop_start) / 2))
stopped_by=count extended=""
for ((c = 1; c <= CYCLES; c++)); do
	draw_plan
	((c < FIRST)) && continue
	# A loop squeezed by a slow machine must not pass as the real thing: past the budget it
	# goes on until it has MIN_CYCLES cycles, for EXTRA seconds at most, then fails below.
	if ((SECONDS >= BUDGET)); then
		if ((cycles >= MIN_CYCLES)); then
			stopped_by="time budget (${BUDGET}s)"
			[ -n "$extended" ] &&
				stopped_by+=", $((SECONDS - BUDGET))s more to reach $MIN_CYCLES cycles"
			break
		fi
		if ((SECONDS >= BUDGET + EXTRA)); then
			stopped_by="time budget (${BUDGET}s) and ${EXTRA}s more"
			break
		fi
		extended=yes
	fi
	if ((PHASE2_AT)); then
		to_phase2=$((c >= PHASE2_AT))
	else
		to_phase2=$((c > CYCLES / 2 || SECONDS >= half_time))
	fi
	if [ "$PHASE" = 1 ] && ((to_phase2)); then
		stop_daemon
		check "phase 1: lib.sh same_state after cycle $((c - 1))" same_state "$T/before-1"
		PHASE=2
		echo "--- phase 2: a0 has a tbf root, a clsact with user filters, and a user nft table"
		printf '%s\n' "$TBF" "qdisc add dev a0 clsact" "$USER_EGRESS" "$USER_INGRESS" \
			>"$T/phase2.batch"
		tc -n cd-a -batch "$T/phase2.batch" || bad "phase 2 setup with tc"
		printf '%s\n' "table inet user {" "chain out {" \
			"type filter hook output priority 0; policy accept;" \
			"ip daddr 10.77.0.9 tcp dport 7 drop" "}" "}" >"$T/phase2.nft"
		ip netns exec cd-a nft -f "$T/phase2.nft" || bad "phase 2 setup with nft"
		kstate
		BASE=$KSTATE
		[[ $BASE == *'"kind":"tbf"'*'"kind":"clsact"'*'table inet user'* ]] ||
			bad "phase 2: the user's tbf, clsact and nft table are not in the baseline"
		snapshot "$T/before-2"
		record "kill-loop: phase 2 (tbf root, clsact with user filters, user nft table)" \
			"from cycle $c"
	fi
	cycles=$((cycles + 1))
	run_cycle "$c" || break
done
loop_s=$((SECONDS - loop_start))
stop_daemon
check "phase $PHASE: lib.sh same_state after the last cycle" same_state "$T/before-$PHASE"

found=$(grep -c 'left by an earlier run' "$T/chaosd.log")
record "kill-loop: $cycles cycles (seed $SEED), leftovers $leftovers;" \
	"recovered by chaosd --cleanup $by_cleanup, by a restart + revert --all $by_restart"
record "kill-loop: per kill point: kills, how many cut the request or recovery off before" \
	"it finished (idle: no request), leftovers:"
for p in "${POINTS[@]}"; do
	cut=${CUT[$p]}
	[ "$p" = idle ] && cut=-
	record "$(printf '  %-8s %4d  (cut off %3s, leftovers %d)' "$p" "${KILLS[$p]}" "$cut" \
		"${LEFT[$p]}")"
done
record "kill-loop: ${loop_s}s, $((cycles ? loop_us / cycles / 1000 : 0)) ms per cycle," \
	"stopped by $stopped_by; start-up cleanups that removed leftovers: $found;" \
	"faults re-adopted by restarts: $adopted_total" \
	"(outside the expected range: $adopt_errors; after --cleanup: $stale_adopt);" \
	"inject errors $inject_errors, --cleanup errors $cleanup_errors," \
	"restarts not answering $restart_errors"
record "kill-loop: a revert or kill switch cut off after the kernel had confirmed some of its" \
	"reverts, then recovered by a restart: $reverted_restart cycles; in $came_back of them the" \
	"restart re-applied such a fault (revert ${CAME_BACK[revert]}, kill ${CAME_BACK[kill]})"
[ -n "$REPRO" ] && record "kill-loop leftovers: $REPRO"
check "kill loop: at least $MIN_CYCLES cycles (ran $cycles, stopped by $stopped_by)" \
	[ "$cycles" -ge "$MIN_CYCLES" ]
check "kill loop: no leftovers in $cycles cycles" [ "$leftovers" -eq 0 ]
if ((cycles >= 100)); then
	# Six points at 6-35 % each: in 100 cycles every one is hit several times, and a delay
	# of 0-30 ms (0-200 ms into a recovery) cuts the work off often. None cut off means the
	# kills no longer land inside chaosd's work (e.g. a much faster machine): the loop would
	# prove little. Idle has no work to cut off; it only has to be hit.
	check "kill loop: idle (faults active, no request) was hit" [ "${KILLS[idle]}" -gt 0 ]
	for p in inject revert kill restart cleanup; do
		check "kill loop: some kills landed inside $p, before it finished" \
			[ "${CUT[$p]}" -gt 0 ]
	done
else
	echo "NOTE: $cycles cycles: too few to require every kill point to be cut off"
fi
check "kill loop: every chaosd --cleanup succeeded ($cleanup_errors failed)" \
	[ "$cleanup_errors" -eq 0 ]
check "kill loop: every restart answered ($restart_errors did not)" [ "$restart_errors" -eq 0 ]
check "kill loop: every inject before the kill succeeded ($inject_errors failed)" \
	[ "$inject_errors" -eq 0 ]
check "kill loop: every held request was seen queued before chaosd went on ($HELD_MISS not)" \
	[ "$HELD_MISS" -eq 0 ]
check "kill loop: restarts re-adopted what they may and must ($adopt_errors cycles off)" \
	[ "$adopt_errors" -eq 0 ]
check "kill loop: a start after chaosd --cleanup re-adopted nothing ($stale_adopt did)" \
	[ "$stale_adopt" -eq 0 ]
desc="kill loop: no restart re-applied a fault whose revert the kernel had confirmed before"
check "$desc the SIGKILL ($came_back of $reverted_restart such cycles did)" [ "$came_back" -eq 0 ]

echo "--- chaosd's errors and warnings"
grep -E '^<[0-4]>' "$T/chaosd.log" | sort | uniq -c | sort -rn | head -n 20
echo "--- results"
cat "$RESULTS"
finish
