#!/bin/bash
# Queues sized from the rate that applies (run inside the VM by tests/vm-ratelimit-tests.sh): a
# rate limit of 10 Mbit/s on db, alone and with 50 ms of latency, under bulk load from cd-a to
# cd-b. chaosd carries a rate in a tbf under the edge's netem whose queue is counted in bytes:
# one bandwidth-delay product of the fault's own delay, at least 50 ms of the rate (62500 bytes
# at 10 Mbit/s in both cases here), its bucket 10 ms of the rate. netem's packet limit held TCP's
# GSO packets of up to 64 KB each: 42 of them were up to 2 s of queue at 10 Mbit/s.
#
# Measured: TCP (iperf3, 6 s, the first second left out) with a ping every 200 ms beside it
# through the same edge, and 3 s of UDP at 20 Mbit/s (twice the rate) with a timestamped
# datagram every 20 ms beside it (both namespaces read one kernel clock). Asserted bounds, with
# Q = 50 ms the queue at the rate and D the delay asked for: round trips during the transfer
# within D + 2Q (the queue, plus as much again for the guest's timer slack), at least D;
# TCP throughput within 15 % of the rate (iperf3's goodput, 95.6 % of the rate on the wire);
# the UDP datagrams' one-way delay, the worst one and the last one sent, within D + 2Q.
# "old" is netem carrying the rate with the packet limit chaosd set before, in chaosd's layout
# made with tc (recorded only).
set -uo pipefail
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"
command -v iperf3 >/dev/null || skip_or_fail "iperf3 missing: run tests/install-deps.sh"

topology || { echo "FAIL: topology"; exit 1; }
write_config
snapshot "$T/before"
# Two servers: one runs one test at a time, and a UDP load started while it still wound up
# the TCP test found it busy and sent nothing.
if ! B iperf3 -s -D -p 5201 -B 10.77.0.2 --logfile "$T/iperf3-tcp.log" ||
	! B iperf3 -s -D -p 5202 -B 10.77.0.2 --logfile "$T/iperf3-udp.log"; then
	bad "iperf3 servers"
	finish
	exit
fi
sleep 0.5

# tcp_case: a 6 s TCP bulk transfer and 20 pings beside it; the qdiscs in its middle go to
# $T/qdiscs. Sets TCP_MEAN TCP_MAX (iperf3's smoothed RTT, ms) TCP_MBIT PING_P50 PING_MAX.
tcp_case() {
	local q p
	(sleep 3; A tc -s qdisc show >"$T/qdiscs") &
	q=$!
	(sleep 1.5; A timeout 20 ping -n -c 20 -i 0.2 -W 3 10.77.0.2 >"$T/ping" 2>&1) &
	p=$!
	A timeout 30 iperf3 -c 10.77.0.2 -p 5201 -t 6 -O 1 -J >"$T/tcp.json" 2>/dev/null
	# not a bare wait: chaosd is a background job of this shell too
	wait "$q" "$p"
	read -r TCP_MEAN TCP_MAX TCP_MBIT < <(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
s = d["end"]["streams"][0]["sender"]
print("%.0f %.0f %.2f" % (s.get("mean_rtt", 0) / 1000, s.get("max_rtt", 0) / 1000,
      d["end"]["sum_received"]["bits_per_second"] / 1e6))' "$T/tcp.json" 2>/dev/null)
	read -r PING_P50 PING_MAX < <(sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' "$T/ping" | sort -n |
		awk '{ a[NR] = $1 } END { if (NR == 0) print "inf inf"; else printf "%.0f %.0f\n", a[int((NR + 1) / 2)], a[NR] }')
}

# udp_case: 3 s of UDP at 20 Mbit/s and a datagram every 20 ms carrying its send time; the
# receiver stops 2 s after the last one arrives. Sets UDP_P50 UDP_MAX UDP_LAST (one-way, ms;
# LAST: of the last datagram sent, what the queue held when the load stopped) UDP_GOT
# (received/sent) LOAD_MBIT (what the load's sender managed).
udp_case() {
	B timeout 40 python3 - >"$T/owd" <<'PY' &
import socket, struct, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.77.0.2", 9001))
s.settimeout(2)
d = {}
end = time.time() + 30
while time.time() < end:
    try:
        data = s.recv(64)
    except socket.timeout:
        if d:
            break
        continue
    t, n, total = struct.unpack("!dII", data[:16])
    d[n] = (time.time() - t) * 1000
v = sorted(d.values())
last = d.get(max(d), -1) if d else -1
print("%.0f %.0f %.0f %d/%d" % (v[len(v) // 2] if v else -1, v[-1] if v else -1, last, len(v),
      total if d else 0))
PY
	local rx=$!
	sleep 0.3
	A timeout 30 iperf3 -c 10.77.0.2 -p 5202 -u -b 20M -t 3 -J >"$T/udp-load.json" 2>/dev/null &
	local load=$!
	A python3 - <<'PY'
import socket, struct, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in range(150):
    s.sendto(struct.pack("!dII", time.time(), n, 150), ("10.77.0.2", 9001))
    time.sleep(0.02)
PY
	wait "$load"
	wait "$rx"
	read -r UDP_P50 UDP_MAX UDP_LAST UDP_GOT <"$T/owd"
	LOAD_MBIT=$(python3 -c 'import json, sys; print("%.1f" % (json.load(open(sys.argv[1]))["end"]["sum"]["bits_per_second"] / 1e6))' "$T/udp-load.json" 2>/dev/null)
}

# measure LABEL: both cases, recorded
measure() {
	echo "$(date +%T) $1: TCP"
	tcp_case
	echo "$(date +%T) $1: UDP"
	udp_case
	A tc -s qdisc show | grep -A2 -E 'netem|tbf' | sed 's/^/  | /'
	record "$1: TCP ${TCP_MBIT:-?} Mbit/s received, rtt mean ${TCP_MEAN:-?} ms max" \
		"${TCP_MAX:-?} ms, ping p50 ${PING_P50:-?} ms max ${PING_MAX:-?} ms during it;" \
		"UDP one-way p50 ${UDP_P50:-?} ms max ${UDP_MAX:-?} ms last ${UDP_LAST:-?} ms" \
		"(${UDP_GOT:-?} probes) beside ${LOAD_MBIT:-?} Mbit/s of UDP load"
	record "  queued mid-transfer: $(grep -o 'qdisc [a-z]* [0-9a-f]*:\|backlog [^ ]* [^ ]*' \
		"$T/qdiscs" | paste -sd ' ' | sed 's/qdisc htb [^q]*//')"
}

# bounded LABEL D: the asserted bounds for a delay of D ms (Q = 50 ms)
bounded() {
	local hi=$(($2 + 100)) lo=$2
	check "$1: TCP throughput ${TCP_MBIT:-?} Mbit/s within 15 % of 10" \
		in_range "${TCP_MBIT:-0}" 8.5 10.5
	check "$1: ping during TCP p50 ${PING_P50:-?} ms in [$lo, $hi]" \
		in_range "${PING_P50:-inf}" "$lo" "$hi"
	check "$1: TCP smoothed rtt mean ${TCP_MEAN:-?} ms <= $hi" in_range "${TCP_MEAN:-inf}" 0 "$hi"
	check "$1: UDP at twice the rate: one-way max ${UDP_MAX:-?} ms, last ${UDP_LAST:-?} ms <= $hi" \
		in_range "${UDP_MAX:-inf}" "$lo" "$hi"
}

# the tbf under chaosd's netem: "RATE LIMIT_BYTES HANDLE PARENT"
shaper() {
	A tc -r qdisc show | sed -n 's/^qdisc tbf \([0-9a-f]*:\)\[[0-9a-f]*\] dev [^ ]* parent \([0-9a-f]*:[0-9a-f]*\) .*rate \([^ ]*\) .* limit \([0-9.]*[KMG]\{0,1\}\)b.*/\3 \4 \1 \2/p' | head -1
}
netem_limit() { A tc qdisc show | sed -n 's/.*netem.* limit \([0-9]*\).*/\1/p' | head -1; }

# --- old: chaosd's layout (a0's egress redirected to an IFB, an htb class, netem under it) made
# with tc, netem carrying the rate with the packet limit chaosd set before
A ip link add xold0 txqlen 1000 type ifb
A ip link set xold0 up
A tc qdisc add dev xold0 root handle 1: htb
A tc class add dev xold0 parent 1: classid 1:2 htb rate 1tbit burst 256k quantum 200000
A tc filter add dev xold0 parent 1: prio 1 matchall classid 1:2
A tc qdisc add dev xold0 parent 1:2 handle 2: netem rate 10mbit limit 42
A tc qdisc add dev a0 clsact
A tc filter add dev a0 egress prio 1 matchall action mirred egress redirect dev xold0
measure "old rate 10mbit (netem limit 42)"
OLD_RATE_PING=$PING_P50 OLD_RATE_UDP=$UDP_MAX
A tc qdisc change dev xold0 parent 1:2 handle 2: netem delay 50ms rate 10mbit limit 84
measure "old rate 10mbit + 50ms (netem limit 84)"
OLD_DELAY_PING=$PING_P50 OLD_DELAY_UDP=$UDP_MAX
A tc qdisc del dev a0 clsact
A ip link del xold0

# --- new: chaosd's faults
start_chaosd || exit 1
ctl inject rate --edge db --kbit 10000 --for 10m >/dev/null
read -r RATE LIMIT HANDLE PARENT < <(shaper)
check "rate 10mbit: a tbf ${HANDLE:-none} under netem ${PARENT:-?} at ${RATE:-?}, queue ${LIMIT:-?} bytes (50 ms: 62500)" \
	[ "${RATE:-}/${LIMIT:-}" = "10Mbit/62500" ]
[ -n "${HANDLE:-}" ] || { A tc -r qdisc show | sed 's/^/  | /'; tail -5 "$T/chaosd.log"; }
NL=$(netem_limit)
check "rate 10mbit: netem's own limit ${NL:-?} (the delay line: 1000)" [ "${NL:-}" = 1000 ]
measure "new rate 10mbit"
bounded "new rate 10mbit" 0
NEW_RATE_PING=$PING_P50 NEW_RATE_UDP=$UDP_MAX
ctl inject latency --edge db --ms 50 --for 10m >/dev/null
read -r RATE LIMIT HANDLE2 PARENT < <(shaper)
check "rate 10mbit + 50ms: the same tbf ${HANDLE2:-none}, queue ${LIMIT:-?} bytes (one BDP of 50 ms: 62500)" \
	[ "${HANDLE2:-}/${LIMIT:-}" = "$HANDLE/62500" ]
measure "new rate 10mbit + 50ms"
bounded "new rate 10mbit + 50ms" 50
record "old -> new, rate alone: ping during TCP p50 ${OLD_RATE_PING:-?} -> ${NEW_RATE_PING:-?}" \
	"ms, UDP one-way max ${OLD_RATE_UDP:-?} -> ${NEW_RATE_UDP:-?} ms"
record "old -> new, rate + 50 ms: ping during TCP p50 ${OLD_DELAY_PING:-?} -> ${PING_P50:-?}" \
	"ms, UDP one-way max ${OLD_DELAY_UDP:-?} -> ${UDP_MAX:-?} ms"

# In place: another rate changes the tbf (same handle: what it queues stays); the rate's
# revert leaves it passing everything (deleting it would drop its queue) until the edge's class
# goes with its last fault.
ctl inject rate --edge db --kbit 20000 --for 10m >/dev/null
read -r RATE LIMIT HANDLE3 PARENT < <(shaper)
check "rate changed to 20mbit in place: ${HANDLE3:-none} at ${RATE:-?}, queue ${LIMIT:-?} (125000)" \
	[ "${HANDLE3:-}/${RATE:-}/${LIMIT:-}" = "$HANDLE/20Mbit/125000" ]
RID=$(ctl --json status | python3 -c 'import json, sys
for f in json.load(sys.stdin)["faults"]:
    if f["kind"] == "rate": print(f["id"])' 2>/dev/null)
ctl revert "${RID:-none}" >/dev/null
# the revert drains for the queue's time first
for _ in $(seq 40); do
	read -r RATE LIMIT HANDLE4 PARENT < <(shaper)
	[ "${RATE:-}" = 1Tbit ] && break
	sleep 0.1
done
check "rate reverted, latency stays: ${HANDLE4:-none} passes everything (${RATE:-?})" \
	[ "${HANDLE4:-}/${RATE:-}" = "$HANDLE/1Tbit" ]
rtt 10.77.0.2 10
check "latency alone again: ping ${RTT:-?} ms in [50, 80]" in_range "${RTT:-inf}" 50 80
ctl revert --edge db >/dev/null
check "every fault reverted: the kernel state as before" same_state "$T/before"
stop_chaosd
finish
