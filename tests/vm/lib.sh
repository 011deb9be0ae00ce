#!/bin/bash
# Shared helpers for guest-side test scripts: topology, measurement, assertions.
# Sourced, not run. Every check prints PASS/FAIL with the observed value.

: "${CHAOSD_BUILDDIR:?}" "${CHAOSD_SRCDIR:?}"
CHAOSD=$CHAOSD_BUILDDIR/chaosd
CHAOSCTL=$CHAOSD_BUILDDIR/chaosctl
T=${CHAOSD_TEST_DIR:-/run/chaosd-test}
SOCK=$T/chaosd.sock
rm -rf "$T"
mkdir -p "$T"
# shellcheck source=tests/skip.sh
. "$CHAOSD_SRCDIR/tests/skip.sh"
pass=0
fail=0
skipped=0
failed=() # what failed, named again at the end: a CI log keeps a run's head and tail
RESULTS=${CHAOSD_VM_OUT:-$T}/results.txt
: >"$RESULTS"

ok() { pass=$((pass + 1)); echo "PASS: $*"; }
bad() {
	fail=$((fail + 1))
	failed+=("$*")
	echo "FAIL: $*"
}
check() { # check DESC CMD...
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else bad "$desc"; fi
}
record() { echo "$*" | tee -a "$RESULTS"; }
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }
# wait_until SECONDS CMD...: 0 as soon as CMD succeeds (tried every 0.1 s), 1 once SECONDS
# have passed. By the clock, not by tries: under emulation one try can take seconds.
wait_until() {
	local end=$(($(now_ms) + $1 * 1000))
	shift
	until "$@"; do
		(($(now_ms) < end)) || return 1
		sleep 0.1
	done
}
port_open() { A bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; } # port_open ADDR PORT, from cd-a
finish() { # the script's status: 1 if a check failed, else 77 if a case skipped, else 0
	local f
	for f in "${failed[@]}"; do echo "failed: $f"; done
	echo "$pass passed, $fail failed, $skipped skipped"
	[ "$fail" -eq 0 ] || return 1
	[ "$skipped" -eq 0 ] || return 77
}

A() { ip netns exec cd-a "$@"; }
B() { ip netns exec cd-b "$@"; }
ctl() { A "$CHAOSCTL" --socket "$SOCK" "$@"; }

# netns_del NS...: end every process still in the namespaces, then delete them. Killing a
# server is not enough (socat ...,fork leaves its children), and a namespace whose name is
# deleted lives on, unnamed, for as long as a process is in it.
netns_del() {
	local ns pids i
	for i in $(seq 30); do
		pids=$(for ns in "$@"; do ip netns pids "$ns" 2>/dev/null; done)
		[ -n "$pids" ] || break
		# TERM first (chaosd reverts on it), KILL what is left after two seconds
		# shellcheck disable=SC2086
		case $i in
		1) kill $pids 2>/dev/null ;;
		20) kill -KILL $pids 2>/dev/null ;;
		esac
		sleep 0.1
	done
	for ns in "$@"; do ip netns del "$ns" 2>/dev/null; done
	return 0
}

# Two namespaces joined by veth: cd-a is the host under test (chaosd runs there), cd-b the
# peer, with one address inside the edges and others outside them on the same link.
topology() {
	# A run that died may have left them: start from nothing.
	netns_del cd-a cd-b
	ip netns add cd-a
	ip netns add cd-b
	ip link add a0 netns cd-a type veth peer name b0 netns cd-b
	A ip link set lo up
	B ip link set lo up
	A ip addr add 10.77.0.1/24 dev a0
	A ip addr add fd77::1/64 dev a0 nodad
	B ip addr add 10.77.0.2/24 dev b0
	B ip addr add 10.77.0.3/24 dev b0
	B ip addr add 10.77.0.4/24 dev b0
	B ip addr add fd77::2/64 dev b0 nodad
	B ip addr add fd77::3/64 dev b0 nodad
	A ip link set a0 up
	B ip link set b0 up
	# A busy host can take seconds before a fresh veth pair passes its first packets (CI once
	# failed a single 2 s ping of fd77::2): each address gets 20 s, and a failure says what
	# the link looked like.
	local addr
	for addr in 10.77.0.2 fd77::2; do
		if ! wait_until 20 A ping -c 1 -W 1 "$addr" >/dev/null; then
			echo "topology: $addr does not answer from cd-a within 20 s" >&2
			A ip -br addr >&2
			A ip -6 neigh >&2
			return 1
		fi
	done
}

write_config() {
	cat >"$T/chaosd.conf" <<CONF
[chaosd]
default_duration = 5m
max_duration = 1h
link_rate = 2gbit

[edge db]
interface = a0
destination = 10.77.0.2/32, fd77::2/128

[edge cache]
# no interface: found by the route to the destination
destination = 10.77.0.4
port = 6379
protocol = tcp

[edge ghost]
interface = nosuch0
destination = 10.88.0.9/32
CONF
}

start_chaosd() {
	# Not through A(): $! must be chaosd itself (ip netns exec execs it), so that signals in
	# the tests reach the daemon and not a shell around it.
	ip netns exec cd-a "$CHAOSD" --config "$T/chaosd.conf" --socket "$SOCK" \
		--state-dir "$T/state" >>"$T/chaosd.log" 2>&1 &
	CHAOSD_PID=$!
	# by the clock: two guests on two cores have taken over 10 s to start it
	wait_until 60 ctl ping >/dev/null 2>&1 && return 0
	echo "chaosd did not come up:"
	cat "$T/chaosd.log"
	return 1
}

stop_chaosd() {
	kill -TERM "$CHAOSD_PID" 2>/dev/null || true
	wait "$CHAOSD_PID" 2>/dev/null || true
}

# The kernel state chaosd must leave exactly as it found it: a0's qdiscs and filters in both
# directions, and the set of links in cd-a (names and kinds).
snapshot() {
	{
		A tc -j qdisc show dev a0
		echo
		A tc -j filter show dev a0 egress 2>/dev/null || true
		echo
		A tc -j filter show dev a0 ingress 2>/dev/null || true
		echo
		A ip -j link show | sed -e 's/"ifindex":[0-9]*,//' | grep -o '"ifname":"[^"]*"' | sort
		A nft list tables 2>/dev/null || true
	} >"$1"
}

same_state() { # same_state BEFORE-FILE
	local now=$T/state.now t0=$SECONDS end=$((SECONDS + 10))
	# A revert lets netem's queue drain before its objects go (chaosd(8)): on a quiet guest
	# they are gone within the fault's delay and a few hundred ms. The drain may also wait
	# 1 s for a count on the IFB path to hold still, and each snapshot here starts five
	# processes, seconds under emulation on a busy host (a CI run with two guests on two
	# cores went past 4 s). What is still there after 10 s is real.
	snapshot "$now"
	while ! cmp -s "$1" "$now" && ((SECONDS < end)); do
		sleep 0.2
		snapshot "$now"
	done
	if cmp -s "$1" "$now"; then
		(((SECONDS - t0) >= 4)) && echo "(the prior state came back after $((SECONDS - t0)) s)"
		return 0
	fi
	echo "state differs from the snapshot:"
	diff "$1" "$now" || true
	return 1
}

# rtt TARGET COUNT: from cd-a, RTT as the median of the replies in ms (emulated machines
# have scheduling hiccups that move a mean but not a median), MEAN, SD (standard deviation),
# RSD (a robust SD: 1.4826 x the median absolute deviation, equal to SD for a normal
# distribution but blind to the odd scheduling spike), and LOSS in percent.
median() { awk '{ a[NR] = $1 } END { if (NR == 0) print "inf"; else print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
rtt() {
	local out times
	out=$(A ping -n -c "$2" -i 0.02 -W 2 "$1" 2>&1 || true)
	LOSS=$(echo "$out" | sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p')
	[ -n "$LOSS" ] || LOSS=100
	times=$(echo "$out" | grep -v 'DUP!' | sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' | sort -n)
	# shellcheck disable=SC2034 # read by the sourcing scripts
	RTT=$(echo "$times" | grep . | median)
	# shellcheck disable=SC2034
	read -r MEAN SD < <(echo "$times" | awk 'NF { n++; s += $1; ss += $1 * $1 }
		END { if (n == 0) { print "inf inf"; exit }
			m = s / n; v = ss / n - m * m; if (v < 0) v = 0; printf "%.3f %.3f\n", m, sqrt(v) }')
	# shellcheck disable=SC2034
	RSD=$(echo "$times" | grep . | awk -v m="$RTT" '{ d = $1 - m; print (d < 0 ? -d : d) }' |
		sort -n | median | awk '{ print ($1 == "inf") ? "inf" : $1 * 1.4826 }')
}

# expect_refused DESC PATTERN CHAOSCTL-ARGS...: the request fails and the message has PATTERN.
expect_refused() {
	local desc=$1 pat=$2 err
	shift 2
	if err=$(ctl "$@" 2>&1); then
		bad "$desc: accepted"
		return 1
	fi
	echo "  -> $err"
	if grep -q -- "$pat" <<<"$err"; then
		ok "$desc"
	else
		bad "$desc ($err)"
		return 1
	fi
}

# in_range VALUE LO HI (floats)
in_range() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v != "inf" && v >= lo && v <= hi) }'; }

# udp_dropped FIRST-PORT: from cd-a, one UDP datagram from each of 200 source ports (FIRST-PORT
# on; above ip_local_port_range, so no ephemeral socket of an earlier case holds one) to
# 10.77.0.2:9, twice. Prints how many the first pass had dropped (a drop in postrouting
# fails the send with EPERM at once) and how many went the other way on the second pass.
udp_dropped() {
	A python3 - "$1" <<'PY'
import socket, sys
first_port = int(sys.argv[1])
def send(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("10.77.0.1", port))
    try:
        s.sendto(b"x", ("10.77.0.2", 9))
        return 1
    except PermissionError:
        return 0
    finally:
        s.close()
first = [send(first_port + i) for i in range(200)]
again = [send(first_port + i) for i in range(200)]
print(200 - sum(first), sum(a != b for a, b in zip(first, again)))
PY
}
