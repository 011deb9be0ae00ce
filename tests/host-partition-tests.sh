#!/bin/bash
# make check: partitions as real clients meet them, on this machine's kernel (nf_tables and
# conntrack; no netem needed) in network namespaces. chaosd runs in cd-a, a TCP and UDP echo
# server (tests/partition-client.py) in cd-b at 10.77.0.2, edge db. Cases:
#   - drop: a TCP connect times out; reject: it fails with ECONNREFUSED within 50 ms, also
#     with direction = both, and with flows = 50% only about half of 40 connects are refused;
#     a UDP sender fails at once (EPERM here, ICMP port unreachable for a routed one)
#   - connections = new: an echo session open before the fault keeps answering while new
#     connects fail; established: that session is cut while a new one works
#   - a UDP flow that started inside a partition: its conntrack entry (no reply) is gone
#     right after the revert and the flow answers within 1 s
set -uo pipefail
# shellcheck source=tests/host-lib.sh
. "$top_srcdir/tests/host-lib.sh" partition nft python3 conntrack
PC=(python3 "$top_srcdir/tests/partition-client.py")
cleanup() { stop_chaosd; }

topology
write_config
start_chaosd || exit 1
host_firewall A
B "${PC[@]}" serve 7000 &
wait_until 5 A "${PC[@]}" connect 10.77.0.2 7000 0.5 >/dev/null ||
	{ bad "the echo server in cd-b did not come up"; finish; exit; }
reply() { A "${PC[@]}" "$@"; }
# matches STRING GLOB
# shellcheck disable=SC2053 # the right side is the glob
matches() { [[ $1 == $2 ]]; }
# the parts of a "WORD MS" answer
word() { echo "${1%% *}"; }
ms() { echo "${1##* }"; }

# --- drop: clients wait
ctl inject partition --edge db --for 10m >/dev/null
out=$(reply connect 10.77.0.2 7000 1)
record "drop: TCP connect -> $out"
check "drop: a TCP connect times out ($out)" [ "$(word "$out")" = timeout ]
ctl revert --edge db >/dev/null

# --- reject: clients fail at once
ctl inject partition --edge db --mode reject --for 10m >/dev/null
out=$(reply connect 10.77.0.2 7000 1)
record "reject: TCP connect -> $out"
check "reject: a TCP connect is refused ($out)" [ "$(word "$out")" = refused ]
check "reject: ... within 50 ms ($(ms "$out") ms)" in_range "$(ms "$out")" 0 50
out=$(A python3 -c '
import socket, time, errno
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("10.77.0.2", 7000))
s.settimeout(1)
t0 = time.monotonic()
try:
    s.send(b"x"); s.recv(16); print("answered")
except socket.timeout:
    print("timeout")
except OSError as e:
    print("%s %.1f" % (errno.errorcode[e.errno], (time.monotonic() - t0) * 1000))')
record "reject: connected UDP socket -> $out"
# On the host itself the send fails at once (EPERM: the kernel reports its own output's
# reject); a routed sender gets the ICMP port unreachable (ECONNREFUSED).
check "reject: a UDP client fails at once ($out)" \
	bash -c "[[ '$(word "$out")' == EPERM || '$(word "$out")' == ECONNREFUSED ]] &&
		awk 'BEGIN { exit !($(ms "$out") <= 50) }'"
check "reject: the table holds reject rules in output and forward" \
	bash -c "ip netns exec cd-a nft list table inet chaosd | grep -q 'reject with tcp reset' &&
		ip netns exec cd-a nft list chain inet chaosd forward >/dev/null"
ctl revert --edge db >/dev/null

ctl inject partition --edge db --mode reject --direction both --for 10m >/dev/null
out=$(reply connect 10.77.0.2 7000 1)
record "reject both: TCP connect -> $out"
check "reject, direction both: refused within 50 ms ($out)" \
	bash -c "[ '$(word "$out")' = refused ] && awk 'BEGIN { exit !($(ms "$out") <= 50) }'"
ctl revert --edge db >/dev/null

ctl inject partition --edge db --mode reject --direction both --flows 50% --for 10m >/dev/null
out=$(reply connects 10.77.0.2 7000 40 0.5)
record "reject flows=50%: 40 connects -> $out"
refused=$(echo "$out" | sed -n 's/.*refused=\([0-9]*\).*/\1/p')
check "reject, flows 50%: about half of 40 connects refused, none hang ($out; 4 sigma 8-32)" \
	bash -c "[ '${refused:-x}' -ge 8 ] && [ '${refused:-x}' -le 32 ] && [[ '$out' == *timeout=0 ]]"
ctl revert --edge db >/dev/null

# session_case GLOB WHAT OPTIONS...: an echo session opened before a partition with OPTIONS,
# then 5 echoes on it and one new connect (tests/partition-client.py session); the answer must
# match GLOB. The partition stays until session_done.
session_case() {
	local want=$1 what=$2
	shift 2
	out=$(reply session 10.77.0.2 7000 -- "$CHAOSCTL" --socket "$SOCK" inject partition \
		--edge db --for 10m "$@")
	record "$*: $out"
	check "$*: $what ($out)" matches "$out" "$want"
}
session_done() { ctl revert --edge db >/dev/null; }

# --- connections = new: open sessions live on, new ones fail
session_case "session=5/5 new=timeout *" "the open session answers, a new connect times out" \
	--connections new
session_done
session_case "session=5/5 new=refused *" "the open session answers, a new connect is refused" \
	--connections new --mode reject --direction both
session_done

# --- connections = established: the open session is cut, new ones work
session_case "session=0/5 new=ok *" "the open session is cut, a new connect works" \
	--connections established
check "connections=established: the set holds the connection's conntrack id" \
	bash -c "ip netns exec cd-a nft list table inet chaosd | grep -A3 'set conns_' | grep -q 'elements = { [0-9]'"
session_done
session_case "session=0/5 new=ok *" "the open session is cut, a new connect works" \
	--connections established --mode reject --direction both
session_done

# --- a UDP flow through a partition recovers at the revert
ctl inject partition --edge db --direction in --for 10m >/dev/null
out=$(reply udp 10.77.0.2 7000 1 63400 2>/dev/null)
during=$(A conntrack -L -p udp --orig-port-src 63400 2>/dev/null)
record "UDP in the partition: $out; conntrack: $during"
check "UDP in the partition: no replies ($out)" matches "$out" "* replies=0 *"
check "UDP in the partition: conntrack holds the flow's entry without a reply" \
	grep -q UNREPLIED <<<"$during"
ctl revert --edge db >/dev/null
after=$(A conntrack -L -p udp --orig-port-src 63400 2>/dev/null)
record "conntrack after the revert: '${after}'"
check "the revert removed the stale entry (conntrack: '${after}')" [ -z "$after" ]
A "${PC[@]}" udp 10.77.0.2 7000 2 63400 2>"$T/udp.replies" >"$T/udp.out"
first=$(awk '/^reply/ { print $2 * 1000; exit }' "$T/udp.replies")
record "UDP after the revert: $(cat "$T/udp.out"); first reply after ${first:-none} ms"
check "UDP answers within 1 s of the revert (first reply ${first:-none} ms)" \
	in_range "${first:-inf}" 0 1000
check "chaosd logged the clean-up" grep -q "conntrack entries without a reply removed" \
	"$T/chaosd.log"

check "no partition is left" bash -c "! ip netns exec cd-a nft list table inet chaosd 2>/dev/null"
finish
