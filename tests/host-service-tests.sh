#!/bin/bash
# make check: service edges (unit =, cgroup =, user =) with a running chaosd on this host's
# kernel (nf_tables and conntrack, no netem): chaosctl edges shows each one's scope and what it
# resolves to; a partition on a user = edge cuts that user's connections and nobody else's, and
# its revert leaves the kernel as it was (no table inet chaosd_mark, no connection with chaosd's
# mark bits); with flows = 50% about half of that user's connections are cut and none of
# root's; the revert removes the unreplied conntrack entries of that user's connections
# (its mark), not another service's to the same destination; with connections = established
# that user's open session is cut and root's to the same destination is not; a unit = edge is
# refused with the unit named (no systemd here), a cgroup that does not exist likewise. The
# netem side is measured in the VM (tests/vm/service.sh).
set -uo pipefail
# shellcheck source=tests/host-lib.sh
. "$top_srcdir/tests/host-lib.sh" service tc nft python3 conntrack setpriv
PC=(python3 "$top_srcdir/tests/partition-client.py")
cleanup() {
	[ -n "${CHAOSD_PID:-}" ] && kill "$CHAOSD_PID" 2>/dev/null
}

topology || { echo "FAIL: topology"; exit 1; }
write_config
cat >>"$T/chaosd.conf" <<CONF

[edge api-db]
unit = api.service
destination = 10.77.0.5/32
port = 5432

[edge batch]
interface = a0
destination = 10.77.0.6/32
cgroup = /system.slice/batch.service
user = root

[edge mine]
interface = a0
destination = 10.77.0.3/32
port = 7000
protocol = tcp
user = 4242

[edge anyone]
interface = nosuch1
user = 0
port = 9
protocol = udp
CONF
snapshot "$T/before"
start_chaosd || exit 1

edges=$(ctl edges)
echo "$edges"
check "edges shows a unit edge's scope" grep -q '^api-db .* 10.77.0.5/32  of unit=api.service' <<<"$edges"
check "edges shows a cgroup and user edge's scope" \
	grep -q '^batch  *a0 .* 10.77.0.6/32  of cgroup=system.slice/batch.service user=root(0)' <<<"$edges"
check "edges shows a service edge without a destination as any" \
	grep -q '^anyone .* any  of user=0  ! ' <<<"$edges"
check "--json: the service field" bash -c "ip netns exec cd-a $CHAOSCTL --socket $SOCK --json edges | python3 -c \"
import json, sys
d = {e['name']: e for e in json.load(sys.stdin)['edges']}
assert d['api-db']['service'] == 'unit=api.service', d
assert 'service' not in d['db'], d
\""
check "edges: a service edge without a fault is not marked" \
	grep -A1 '^mine ' <<<"$edges" | grep -q 'now: not marked'
expect_refused "a fault on a unit edge is refused, naming the unit" \
	"unit api.service" inject latency --edge api-db --ms 100
# ip netns exec mounts a sysfs of the namespace over /sys: no cgroup2 mount for chaosd here
expect_refused "a partition on a cgroup edge chaosd cannot see is refused, naming it" \
	"edge 'batch': .*cgroup" inject partition --edge batch --for 1m
check "refusals left the kernel as it was" same_state "$T/before"
# --- a partition on a user's sockets: that user's connects fail, root's do not
B "${PC[@]}" serve 7000 &
server=$!
wait_until 5 A "${PC[@]}" connect 10.77.0.3 7000 0.5 >/dev/null ||
	{ bad "the echo server in cd-b did not come up"; finish; exit; }
# the system's python3: a shim under root's home is not for uid 4242
as_user() { A setpriv --reuid 4242 --regid 4242 --clear-groups /usr/bin/python3 "${PC[@]:1}" "$@"; }
word() { echo "${1%% *}"; }
as_user_ok() { [ "$(word "$(as_user connect 10.77.0.3 7000 1)")" = ok ]; }
check "before: uid 4242 connects" wait_until 5 as_user_ok
check "partition on user = 4242 applied" ctl inject partition --edge mine --mode reject --for 5m
edges=$(ctl edges)
echo "$edges"
check "edges: the marked edge resolves to uid 4242 and a mark" \
	grep -A1 '^mine ' <<<"$edges" | grep -q 'now: uid 4242 mark 0x'
st=$(ctl status)
echo "$st"
check "status: the fault shows what its service edge resolves to" grep -q 'service: uid 4242 mark 0x' <<<"$st"
check "the mark table is there" A nft list table inet chaosd_mark
out=$(as_user connect 10.77.0.3 7000 1)
record "partition user=4242: uid 4242 connect -> $out"
check "uid 4242's connect is refused ($out)" [ "$(word "$out")" = refused ]
out=$(A "${PC[@]}" connect 10.77.0.3 7000 1)
record "partition user=4242: root connect -> $out"
check "root's connect to the same destination works ($out)" [ "$(word "$out")" = ok ]
check "partition reverted" ctl revert --edge mine
out=$(as_user connect 10.77.0.3 7000 1)
check "after the revert uid 4242 connects again ($out)" [ "$(word "$out")" = ok ]
marked=$(A conntrack -L 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^mark=/) { m = substr($i, 6) + 0; if (int(m / 65536) % 256) n++ } } END { print n + 0 }')
check "no connection keeps chaosd's mark bits after the revert ($marked)" [ "$marked" = 0 ]
# --- flows = 50% on a user's sockets: about half of that user's flows, none of root's
check "partition flows 50% on user = 4242 applied" \
	ctl inject partition --edge mine --mode reject --flows 50% --for 5m
out=$(as_user connects 10.77.0.3 7000 40 0.5)
record "partition user=4242 flows=50%: uid 4242, 40 connects -> $out"
refused=$(sed -n 's/.*refused=\([0-9]*\).*/\1/p' <<<"$out")
check "flows 50%: about half of uid 4242's 40 connects refused, none hang ($out; 4 sigma 8-32)" \
	bash -c "[ '${refused:-x}' -ge 8 ] && [ '${refused:-x}' -le 32 ] && [[ '$out' == *timeout=0 ]]"
out=$(A "${PC[@]}" connects 10.77.0.3 7000 40 0.5)
record "partition user=4242 flows=50%: root, 40 connects -> $out"
check "flows 50%: none of root's 40 connects to the same destination refused ($out)" \
	[ "$out" = "ok=40 refused=0 timeout=0" ]
check "flows 50% partition reverted" ctl revert --edge mine
out=$(as_user connects 10.77.0.3 7000 40 0.5)
check "after the revert all of uid 4242's 40 connects work ($out)" [ "$out" = "ok=40 refused=0 timeout=0" ]
check "after the flows partition the ruleset is as it was" same_state "$T/before"
# --- a revert removes the unreplied conntrack entries of the edge's own connections (those
# with its mark), not another service's to the same destination, nor established ones
check "partition (drop) on user = 4242 applied" ctl inject partition --edge mine --mode drop --for 5m
mark=$(ctl edges | grep -A1 '^mine ' | sed -n 's/.*now: uid 4242 mark \(0x[0-9a-f]*\).*/\1/p')
record "user=4242 edge mark: ${mark:-none}"
ct_add() { A conntrack -I -p tcp -s 10.77.0.1 -d 10.77.0.3 --sport "$1" --dport 7000 \
	--state SYN_SENT --timeout 120 --mark "$2" 2>/dev/null; }
# grep reads it all: -q would stop conntrack early, and pipefail count that a failure
ct_has() { A conntrack -L -p tcp --dport 7000 2>/dev/null | grep "sport=$1 " >/dev/null; }
ct_gone() { ! ct_has "$1"; }
check "an unreplied entry with the edge's mark (${mark:-none}), source port 45001" ct_add 45001 "${mark:-0}"
check "another service's unreplied entry (mark 0), source port 45002" ct_add 45002 0
A python3 -c 'import socket, time
s = socket.create_connection(("10.77.0.3", 7000))
print(s.getsockname()[1], flush=True)
time.sleep(60)' >"$T/est.port" &
holder=$!
wait_until 5 test -s "$T/est.port"
est=$(cat "$T/est.port")
check "root's established connection (source port ${est:-none}) is tracked" ct_has "${est:-none}"
check "drop partition reverted" ctl revert --edge mine
check "the revert removed the edge's unreplied entry (port 45001)" ct_gone 45001
check "the revert kept another service's unreplied entry (port 45002)" ct_has 45002
check "the revert kept root's established connection (port ${est:-none})" ct_has "${est:-none}"
grep -q "1 conntrack entries without a reply removed" "$T/chaosd.log" && record "chaosd: 1 entry removed"
kill "$holder" 2>/dev/null
A conntrack -D -p tcp --sport 45002 --dport 7000 >/dev/null 2>&1
# --- connections = established: the connection ids are all those to the destination, the
# mark scopes them; uid 4242's open session is cut, root's to the same destination is not
SESS='import os, socket, sys, time
s = socket.create_connection(("10.77.0.3", 7000), timeout=2)
s.sendall(b"x")
print("open" if s.recv(8) == b"x" else "bad", flush=True)
for _ in range(100):
    if os.path.exists(sys.argv[1]):
        break
    time.sleep(0.1)
try:
    s.settimeout(1)
    s.sendall(b"y")
    print("after=ok" if s.recv(8) == b"y" else "after=bad")
except OSError as e:
    print("after=" + type(e).__name__)'
host_firewall A # without it the namespace tracks nothing, and nothing is established to cut
# the sessions' second echo waits for GO, a path uid 4242 can look at
GO=$(mktemp -u /tmp/chaosd-service-go.XXXXXX)
A setpriv --reuid 4242 --regid 4242 --clear-groups /usr/bin/python3 -c "$SESS" "$GO" \
	>"$T/sess-user" &
A python3 -c "$SESS" "$GO" >"$T/sess-root" &
check "both sessions are open" wait_until 5 bash -c "grep -q open '$T/sess-user' && grep -q open '$T/sess-root'"
check "partition connections = established on user = 4242 applied" \
	ctl inject partition --edge mine --mode drop --connections established --for 5m
out=$(as_user connect 10.77.0.3 7000 1)
check "established: a new connect of uid 4242 works ($out)" [ "$(word "$out")" = ok ]
touch "$GO"
wait_until 8 bash -c "grep -q after '$T/sess-user' && grep -q after '$T/sess-root'"
record "established on user=4242: uid 4242 session $(grep after "$T/sess-user"), root session $(grep after "$T/sess-root")"
# socket.timeout: TimeoutError since Python 3.10
check "established: uid 4242's open session is cut" grep -Eq 'after=(timeout|TimeoutError)$' \
	"$T/sess-user"
check "established: root's open session to the same destination keeps working" \
	grep -q 'after=ok' "$T/sess-root"
check "established partition reverted" ctl revert --edge mine
rm -f "$GO"
A nft delete table inet hostfw
kill "$server" 2>/dev/null
# --- a reload looks user names up in its resolver child (NSS may block), not in the loop
sed -i 's/^user = 4242$/user = nobody/' "$T/chaosd.conf"
kill -HUP "$CHAOSD_PID"
nobody_uid=$(id -u nobody)
check "reload: user = nobody resolved by the reload's child (uid $nobody_uid)" \
	wait_until 5 bash -c "ip netns exec cd-a $CHAOSCTL --socket $SOCK edges | grep -q '^mine .* of user=nobody($nobody_uid)'"
sed -i 's/^user = nobody$/user = no-such-user-here/' "$T/chaosd.conf"
kill -HUP "$CHAOSD_PID"
check "reload: an unknown user name is refused, naming it" \
	wait_until 5 grep -q "no user 'no-such-user-here' in the user database" "$T/chaosd.log"
check "... and the loaded config stays" bash -c "ip netns exec cd-a $CHAOSCTL --socket $SOCK edges | grep -q '^mine .* of user=nobody'"
check "a destination edge still works next to them" ctl inject partition --edge db --for 1m
check "the destination edge's fault reverts" ctl revert --all
stop_chaosd
check "after the revert the kernel is as it was" same_state "$T/before"
finish
