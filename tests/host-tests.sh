#!/bin/bash
# make check: chaosd end to end on this machine's own kernel, in network namespaces. Proves
# what the VM cannot: the error a kernel without sch_netem gives (this host lacks it), and
# exercises partitions, reload and hostile clients quickly.
set -uo pipefail
# shellcheck source=tests/host-lib.sh
. "$top_srcdir/tests/host-lib.sh" host tc nft ping python3 socat setpriv
cleanup() {
	[ -n "${CHAOSD_PID:-}" ] && kill "$CHAOSD_PID" 2>/dev/null
}

topology || { echo "FAIL: topology"; exit 1; }
write_config
snapshot "$T/before"
start_chaosd || exit 1

edges=$(ctl edges)
echo "$edges"
check "edges lists every configured edge with its interface" bash -c "grep -q '^db  *a0 ' <<<'$edges' && grep -q '^cache  *a0 ' <<<'$edges' && grep -q '^ghost .*nosuch0 does not exist' <<<'$edges'"

# --- a kernel without sch_netem: the message says so and how to fix it; nothing is left
if modprobe -n sch_netem 2>/dev/null && modprobe sch_netem 2>/dev/null; then
	skip_or_fail --case "this kernel has sch_netem: the missing-netem checks need one without it"
else
	err=$(ctl inject latency --edge db --ms 100 2>&1)
	echo "  -> $err"
	check "no netem: the error names sch_netem" grep -q "sch_netem" <<<"$err"
	check "no netem: nothing half-applied" same_state "$T/before"
	check "no netem: status shows no fault" bash -c "ip netns exec cd-a $CHAOSCTL --socket $SOCK status | grep -q 'No active faults'"
fi

# --- partition (nf_tables is on this kernel) with its drop counter
# without --for its parameters are empty: the line must not show ", ,"
out=$(ctl inject partition --edge db)
echo "$out"
check "a partition's inject line has no empty parameters ($out)" \
	grep -Eq "^injected fault [0-9]+: partition on edge 'db' \([^)]*\), reverts in [0-9]" <<<"$out"
rtt 10.77.0.2 10
check "partition drops db (loss $LOSS%)" in_range "$LOSS" 100 100
rtt 10.77.0.3 10
check "partition spares the rest (loss $LOSS%)" in_range "$LOSS" 0 0
dropped=$(ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["faults"][0]["dropped"])')
check "status shows the kernel's drop counter ($dropped >= 10)" in_range "$dropped" 10 1000000

# --- a partition of a share of flows: about half of 200 UDP flows (source ports), each one
# dropped or not the same way every time; a second share on the edge is refused
ctl inject partition --edge db --flows 50% --for 10m
check "the partition rule hashes flows" bash -c "ip netns exec cd-a nft list table inet chaosd | grep -q 'symhash mod 10000 < 5000'"
out=$(udp_dropped 63000)
read -r dropped changed <<<"$out"
record "partition flows = 50% on db: ${dropped:-?} of 200 UDP flows dropped, ${changed:-?} changed on a second pass"
check "partition flows=50%: about half the flows dropped (${dropped:-?} of 200, 4 sigma 72-128)" in_range "${dropped:-x}" 72 128
check "partition flows=50%: every flow went the same way twice (${changed:-?} changed)" in_range "${changed:-x}" 0 0
snapshot "$T/half"
A nft list table inet chaosd | sed 's/counter packets [0-9]* bytes [0-9]*/counter/' >"$T/half.nft"
expect_refused "flows=0 refused" "flows: '0' is out of range (0.01-100)" inject partition --edge cache --flows 0
expect_refused "flows=150 refused" "flows: '150' is out of range (0.01-100)" inject latency --edge cache --ms 5 --flows 150
expect_refused "a second share on one edge refused, naming both" "edge 'db': its faults affect 50% of its flows (fault [0-9]*, partition); a latency fault on 20% of its flows cannot join them" inject latency --edge db --ms 5 --flows 20
expect_refused "a partition and netem on one share refused" "edge 'db': a partition and latency cannot both be limited to 50% of its flows" inject latency --edge db --ms 5 --flows 50
check "refused shares changed nothing" same_state "$T/half"
check "refused shares left the partition rules alone" bash -c "diff <(ip netns exec cd-a nft list table inet chaosd | sed 's/counter packets [0-9]* bytes [0-9]*/counter/') '$T/half.nft'"
ctl inject partition --edge db --for 10m >/dev/null
check "the partition back to all flows: no hash" bash -c "! ip netns exec cd-a nft list table inet chaosd | grep -q symhash"

# --- hostile clients must not delay the kill switch. Timed inside one python process (no
# process start in the measurement): the kill's round trip minus the revert work chaosd
# reports is the time it waited behind the hostile clients.
out=$(python3 - "$SOCK" 2>&1 <<'PY'
import socket, struct, sys, threading, time
path = sys.argv[1]

def request(t, fields=b""):
    s = socket.socket(socket.AF_UNIX); s.connect(path)
    t0 = time.monotonic()
    s.sendall(struct.pack(">IHHI", 0x43484450, 1, t, len(fields)) + fields)
    h = b""
    while len(h) < 12: h += s.recv(12 - len(h))
    n = struct.unpack(">IHHI", h)[3]
    body = b""
    while len(body) < n: body += s.recv(n - len(body))
    dt = time.monotonic() - t0
    s.close()
    return dt, dict(f.split(b"=", 1) for f in body.split(b"\0") if b"=" in f)

base = min(request(7)[0] for _ in range(5))  # ping, quiet
stalled = []
for _ in range(50):  # connect, send half a header, then nothing
    c = socket.socket(socket.AF_UNIX); c.connect(path); c.send(b"CHD"); stalled.append(c)
stop = False
def flood():
    f = socket.socket(socket.AF_UNIX); f.connect(path); f.setblocking(False)
    status = bytes.fromhex("434844500001000200000000") * 4096
    while not stop:  # status requests as fast as possible, never reading a reply
        try:
            f.send(status)
        except BlockingIOError:
            time.sleep(0.0005)
        except OSError:
            f = socket.socket(socket.AF_UNIX); f.connect(path); f.setblocking(False)
th = threading.Thread(target=flood); th.start()
time.sleep(1)
busy = min(request(7)[0] for _ in range(5))  # ping, under attack
dt, reply = request(4, b"reason=hostile test\0")
stop = True; th.join()
work = int(reply.get(b"elapsed_us", b"0")) / 1e6
print("ping quiet %.1f ms, ping under attack %.1f ms, kill %.1f ms of which revert %.1f ms, "
      "waited %.1f ms" % (base * 1e3, busy * 1e3, dt * 1e3, work * 1e3, (dt - work) * 1e3))
print("WAITED_MS=%d" % round((dt - work) * 1e3))
PY
)
echo "$out"
waited=$(sed -n 's/^WAITED_MS=//p' <<<"$out")
record "kill switch under 50 stalled clients and a flooding one: $(head -1 <<<"$out")"
check "kill not delayed more than 100 ms by stalled/flooding clients (waited ${waited:-?} ms)" in_range "${waited:-999}" 0 100
check "kill restored the exact prior state" same_state "$T/before"
check "daemon survived the hostile clients" ctl ping
ctl arm

# --- unknown request type: an error reply, not a disconnect
reply=$(python3 - "$SOCK" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.send(struct.pack(">IHHI", 0x43484450, 1, 0x7777, 0))
h = s.recv(12); m, v, t, n = struct.unpack(">IHHI", h)
body = b""
while len(body) < n: body += s.recv(n - len(body))
s.send(struct.pack(">IHHI", 0x43484450, 1, 7, 0))  # ping on the same connection still works
h2 = s.recv(12)
print(hex(t), body.split(b"\0")[0].decode(), "then", hex(struct.unpack(">IHHI", h2)[2]))
PY
)
echo "  -> $reply"
check "unknown request gets an error reply and the connection stays usable" grep -q "^0x8001 error=unknown request type.*then 0x8000" <<<"$reply"

# --- reload: a removed edge's fault is reverted; a broken config is refused
ctl inject partition --edge cache --for 10m
sed -i '/^\[edge cache\]/,/^protocol/d' "$T/chaosd.conf"
kill -HUP "$CHAOSD_PID"
sleep 0.5
check "reload reverted the fault of the removed edge" same_state "$T/before"
check "status empty after reload" bash -c "ip netns exec cd-a $CHAOSCTL --socket $SOCK status | grep -q 'No active faults'"
echo "port = 99999" >>"$T/chaosd.conf"
kill -HUP "$CHAOSD_PID"
sleep 0.5
check "broken config refused on reload, naming file:line" grep -q "chaosd.conf:[0-9]*:.*99999" "$T/chaosd.log"
check "daemon still serves the old config" ctl inject partition --edge db --for 10m
ctl revert --all

# --- scoped and timed kill switch, and its history (back to the full configuration first)
write_config
kill -HUP "$CHAOSD_PID"
sleep 0.5
ctl inject partition --edge db --for 10m
ctl inject partition --edge cache --for 10m
out=$(ctl kill --edge db --reason "db only")
echo "$out"
check "kill --edge reverts that edge only" bash -c "ip netns exec cd-a $CHAOSCTL --socket $SOCK status | awk '\$2==\"cache\"{c=1} \$2==\"db\"{d=1} END{exit !(c && !d)}'"
expect_refused "edge latch refuses that edge" "kill switch is engaged for edge 'db'" inject partition --edge db
check "edge latch leaves other edges usable" ctl inject partition --edge cache --for 1m
ctl arm --edge db >/dev/null
ctl revert --all >/dev/null
ctl kill --for 2s --reason "timed" >/dev/null
expect_refused "timed kill refuses while it lasts" "re-arms by itself" inject partition --edge db
sleep 2.5
check "timed kill re-armed by itself" ctl inject partition --edge db --for 10m
hist=$(ctl kill --history)
echo "$hist"
check "kill --history lists who, why and how long" bash -c "grep -q 'db only' <<<'$hist' && grep -q 'timed' <<<'$hist' && grep -q ' 2s ' <<<'$hist'"
ctl revert --all >/dev/null

# --- dead-man lease: kept while chaosctl renews, reverted within one lease after it dies
ip netns exec cd-a "$CHAOSCTL" --socket "$SOCK" inject partition --edge db --lease 2s --for 10m \
	>"$T/holder.log" 2>&1 &
holder=$!
sleep 5
check "leased fault kept alive by renewals (5s > 2s lease)" bash -c "ip netns exec cd-a $CHAOSCTL --socket $SOCK status | grep -q partition"
kill -KILL "$holder"
t0=$(date +%s%N)
while ip netns exec cd-a "$CHAOSCTL" --socket "$SOCK" status | grep -q partition; do
	sleep 0.1
	[ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 5000 ] || break
done
gone_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
record "lease 2s: holder SIGKILLed, fault reverted ${gone_ms} ms later"
check "lease: reverted within one lease period after renewals stopped (${gone_ms} ms <= 2000)" in_range "$gone_ms" 0 2000
check "lease expiry restored the exact prior state" same_state "$T/before"
ip netns exec cd-a "$CHAOSCTL" --socket "$SOCK" inject partition --edge db --lease 10s --for 10m \
	>"$T/holder.log" 2>&1 &
holder=$!
sleep 1
kill -TERM "$holder"
wait "$holder"
cat "$T/holder.log"
check "a holder stopped cleanly reverts at once" same_state "$T/before"

# --- a restarted daemon re-adopts faults still in time and leaves expired ones reverted
ctl inject partition --edge db --for 10m
ctl inject partition --edge cache --for 2s
kill -KILL "$CHAOSD_PID"
wait "$CHAOSD_PID" 2>/dev/null
sleep 2.5
start_chaosd
st=$(ctl status)
echo "$st"
check "in-time fault re-adopted with its id" bash -c "awk '\$2==\"db\" && \$3==\"partition\"{f=1} END{exit !f}' <<<'$st'"
check "expired fault not re-adopted" bash -c "! grep -q cache <<<'$st'"
rtt 10.77.0.2 5
check "re-adopted partition bites (loss $LOSS%)" in_range "$LOSS" 100 100
rtt 10.77.0.4 5
check "expired partition stays reverted (loss $LOSS%)" in_range "$LOSS" 0 0
check "log says what was re-adopted" grep -q "re-adopted fault" "$T/chaosd.log"
check "a lapsed lease is logged with its fault's id and edge" \
	grep -Eq "fault [0-9]+ on edge 'db' was not renewed within its lease" "$T/chaosd.log"
ctl revert --all >/dev/null
stop_chaosd

# --- the kill switch outlives chaosd: a SIGKILL or a restart must not re-arm it (issue 5.6)
start_chaosd
ctl inject partition --edge db --for 10m
ctl kill --reason "outlives a crash" >/dev/null
ctl kill --edge cache --for 2s --reason "timed, on cache" >/dev/null
kill -KILL "$CHAOSD_PID"
wait "$CHAOSD_PID" 2>/dev/null
sleep 2.5
start_chaosd
expect_refused "untimed kill switch still engaged after SIGKILL and restart" "outlives a crash" \
	inject partition --edge db --for 1m
check "timed kill switch whose time ran out while chaosd was down re-armed on start" \
	grep -q "kill switch for 'cache' re-armed: its time ran out while chaosd was down" \
	"$T/chaosd.log"
check "nothing re-adopted under the kill switch: kernel as before" same_state "$T/before"
stop_chaosd
start_chaosd
expect_refused "kill switch still engaged after a clean restart" "outlives a crash" \
	inject partition --edge db --for 1m
ctl arm >/dev/null
stop_chaosd
start_chaosd
check "armed before the restart: injects again" ctl inject partition --edge db --for 1m
ctl revert --all >/dev/null
stop_chaosd
echo "garbage" >"$T/state/kill-switch"
start_chaosd
expect_refused "unreadable kill switch state engages the kill switch, naming the file" \
	"kill-switch:1: not a kill switch record" inject partition --edge db --for 1m
ctl arm >/dev/null
check "armed: injects again" ctl inject partition --edge db --for 1m
ctl revert --all >/dev/null
check "kill switch state gone once armed" test ! -e "$T/state/kill-switch"
stop_chaosd

# --- guard rails and who may do what: a second configuration
cat >"$T/rails.conf" <<CONF
[chaosd]
read_group = nogroup
deny_interfaces = lo, a9
protect = 10.77.0.3/32
max_loss = 20
max_partition_duration = 1m

[edge db]
interface = a0
destination = 10.77.0.2/32

[edge peer3]
interface = a0
destination = 10.77.0.3/32

[edge loop]
interface = lo
destination = 127.0.0.9/32
CONF
ip netns exec cd-a "$CHAOSD" --config "$T/rails.conf" --socket "$SOCK" --state-dir "$T/state" \
	>>"$T/chaosd.log" 2>&1 &
CHAOSD_PID=$!
for _ in $(seq 50); do ctl ping >/dev/null 2>&1 && break; sleep 0.1; done
expect_refused "deny_interfaces refuses lo, naming the rule" "interface 'lo', which deny_interfaces refuses (.*rails.conf:3)" inject latency --edge loop --ms 5
expect_refused "protect refuses an overlapping edge" "overlaps the protected range 10.77.0.3/32 (protect, .*rails.conf:4)" inject partition --edge peer3
expect_refused "max_loss refuses 30%" "above max_loss = 20% (.*rails.conf:5)" inject loss --edge db --percent 30
expect_refused "max_partition_duration refuses 5m" "longer than max_partition_duration = 1m" inject partition --edge db --for 5m
# An SSH session from 10.77.0.2 to this host: partitioning its peer is refused. chaosd asks
# which sockets a process called sshd holds: socat under that name plays it.
cp "$(command -v socat)" "$T/sshd"
A "$T/sshd" TCP-LISTEN:22,reuseaddr,fork EXEC:/bin/cat >/dev/null 2>&1 &
sshd_pid=$!
sleep 0.3
B socat -u EXEC:"sleep 5" TCP:10.77.0.1:22,bind=10.77.0.2 >/dev/null 2>&1 &
sshc_pid=$!
sleep 0.5
expect_refused "partition of an SSH peer refused" "10.77.0.2, the peer of an established SSH session" inject partition --edge db --for 30s
kill "$sshc_pid" "$sshd_pid" 2>/dev/null
check "guard-rail refusals changed nothing" same_state "$T/before"
nobody() { ip netns exec cd-a setpriv --reuid=65534 --regid=65534 --clear-groups "$CHAOSCTL" --socket "$SOCK" "$@"; }
stranger() { ip netns exec cd-a setpriv --reuid=65534 --regid=100 --clear-groups "$CHAOSCTL" --socket "$SOCK" "$@"; }
check "read_group member may read status" nobody status
err=$(nobody inject partition --edge db 2>&1)
echo "  -> $err"
check "read_group member may not inject" grep -q "permission denied: uid 65534" <<<"$err"
err=$(stranger status 2>&1)
echo "  -> $err"
check "a user in neither group may not even read" grep -q "permission denied" <<<"$err"
check "the refused inject is in the audit log with the uid" grep -q "action=inject .*uid=65534 .*permission denied" "$T/chaosd.log"
check "refusals for permission changed nothing" same_state "$T/before"

stop_chaosd
check "stop leaves the exact prior state" same_state "$T/before"

# --- interfaces and routes that change underneath active faults
topology >/dev/null || { echo "FAIL: topology"; exit 1; }
write_config
start_chaosd || exit 1
ctl inject partition --edge cache --for 10m >/dev/null
# A second link to the peer and a host route for the cache over it: the edge moves.
ip link add a1 netns cd-a type veth peer name b1 netns cd-b
A ip link set a1 up
B ip link set b1 up
A ip route add 10.77.0.4/32 dev a1
sleep 1
iface=$(ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["faults"][0]["interface"])')
check "a route change moved the cache fault to a1 (now on '$iface')" test "$iface" = a1
check "the partition rule now matches a1" bash -c "ip netns exec cd-a nft list table inet chaosd | grep -q 'oifname \"a1\"'"
A ip link set a1 name a1x
sleep 0.5
check "a renamed interface keeps its partition (rule follows the name)" bash -c "ip netns exec cd-a nft list table inet chaosd | grep -q 'oifname \"a1x\"'"
A ip link del a1x
sleep 0.5
st=$(ctl status)
echo "$st"
check "a deleted interface drops its faults" grep -q "No active faults" <<<"$st"
check "and the partition table is gone" bash -c "! ip netns exec cd-a nft list table inet chaosd 2>/dev/null"
check "the log says what happened" grep -q "was deleted under 1 fault" "$T/chaosd.log"
check "the daemon still answers" ctl ping
stop_chaosd

# --- STATUS= for systemd: a burst of changes is one message a second, its last state told
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    m = s.recv(4096).decode()
    if m.startswith("STATUS="):
        print("%.3f %s" % (time.monotonic(), m[7:]), flush=True)
' "$T/notify" >"$T/status.out" &
sleep 0.5
export NOTIFY_SOCKET=$T/notify
start_chaosd || exit 1
unset NOTIFY_SOCKET
sleep 1.2 # past the start's own STATUS=
ctl inject partition --edge db --for 10m >/dev/null
ctl inject partition --edge cache --for 10m >/dev/null
ctl revert --edge cache >/dev/null
sleep 0.3
early=$(wc -l <"$T/status.out")
sleep 1.2
cat "$T/status.out"
check "the first change of a burst is told at once, the rest wait (lines after 0.3 s: $early)" \
	test "$early" = 2
check "the burst's last state is told within the second: 1 active fault" \
	bash -c "test \$(wc -l <'$T/status.out') = 3 && tail -n 1 '$T/status.out' | grep -q ' 1 active fault\$'"
check "and no sooner than a second after the first" awk 'NR == 2 { t = $1 } NR == 3 { exit !($1 - t >= 0.9) }' "$T/status.out"
ctl kill --reason status >/dev/null
sleep 0.3
check "the kill switch is told at once" bash -c "tail -n 1 '$T/status.out' | grep -q '0 active faults; kill switch engaged'"
stop_chaosd
finish
