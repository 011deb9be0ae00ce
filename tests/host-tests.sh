#!/bin/bash
# make check: chaosd end to end on this machine's own kernel, in network namespaces. Proves
# what the VM cannot: the error a kernel without sch_netem gives (this host lacks it), and
# exercises partitions, reload and hostile clients quickly.
set -uo pipefail
: "${top_srcdir:?}" "${top_builddir:?}"
skip_or_fail() {
	if [ "${CI:-}" = true ]; then
		echo "FAIL: $* (CI=true: a skip is a failure)"
		exit 1
	fi
	echo "SKIP: $*"
	exit 77
}
[ "$(id -u)" = 0 ] || skip_or_fail "needs root for network namespaces"
for c in ip tc nft ping python3; do
	command -v $c >/dev/null || skip_or_fail "'$c' missing: run tests/install-deps.sh"
done
export CHAOSD_BUILDDIR=$top_builddir CHAOSD_SRCDIR=$top_srcdir
export CHAOSD_TEST_DIR=/run/chaosd-host-test
# shellcheck source=tests/vm/lib.sh
. "$top_srcdir/tests/vm/lib.sh"
cleanup() {
	[ -n "${CHAOSD_PID:-}" ] && kill "$CHAOSD_PID" 2>/dev/null
	ip netns del cd-a 2>/dev/null
	ip netns del cd-b 2>/dev/null
}
trap cleanup EXIT

topology || { echo "FAIL: topology"; exit 1; }
write_config
snapshot "$T/before"
start_chaosd || exit 1

# --- a kernel without sch_netem: the message says so and how to fix it; nothing is left
if modprobe -n sch_netem 2>/dev/null && modprobe sch_netem 2>/dev/null; then
	echo "NOTE: this kernel has sch_netem: the missing-netem check runs in CI's host kernel"
else
	err=$(ctl inject latency --edge db --ms 100 2>&1)
	echo "  -> $err"
	check "no netem: the error names sch_netem" grep -q "sch_netem" <<<"$err"
	check "no netem: nothing half-applied" same_state "$T/before"
	check "no netem: status shows no fault" bash -c "ip netns exec cd-a $CHAOSCTL --socket $SOCK status | grep -q 'No active faults'"
fi

# --- partition (nf_tables is on this kernel) with its drop counter
ctl inject partition --edge db --for 10m
rtt 10.77.0.2 10
check "partition drops db (loss $LOSS%)" in_range "$LOSS" 100 100
rtt 10.77.0.3 10
check "partition spares the rest (loss $LOSS%)" in_range "$LOSS" 0 0
dropped=$(ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["faults"][0]["dropped"])')
check "status shows the kernel's drop counter ($dropped >= 10)" in_range "$dropped" 10 1000000

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

stop_chaosd
check "stop leaves the exact prior state" same_state "$T/before"
finish
