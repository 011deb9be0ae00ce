#!/bin/bash
# Service edges under a real systemd (issue 17), sourced by tests/vm/systemd.sh into its boot
# (chaosd.service running, a0 in the root namespace, peer b0 in cd-b; lib.sh's check/record,
# systemd.sh's ctl, write_conf, wait_until). Two transient services (systemd-run) talk to the
# same destination, 10.77.0.3, through tests/vm/svc-client.py (a new TCP connection and one
# echo every 100 ms, logged). For unit =, cgroup = and user =: 100 ms of latency on svc-a's edge
# must show in a's echo round trip (out: its requests, in: the replies), not in b's (within
# 20 ms of its baseline); with flows = 50% (unit =) about half of a's connections are slowed
# and none of b's; a partition fails a's connects and not b's; svc-a restarted while the
# fault is on is slowed again within 1 s, b never; each revert leaves tc, nft, the links and the
# connections' marks as they were.
[ -n "${SVC:-}" ] || { echo "service.sh: sourced by tests/vm/systemd.sh" >&2; exit 2; }

SVCDIR=/run/svc
CLIENT=$SVCDIR/svc-client.py # a copy any user can read, wherever the tree is
svc_now() { date +%s.%N; }
# svc_start NAME PORT [systemd-run option...]: NAME.service sends to 10.77.0.3:PORT
svc_start() {
	local name=$1 port=$2
	shift 2
	systemctl reset-failed "$name.service" 2>/dev/null
	systemd-run --quiet --unit="$name.service" -p Restart=no "$@" \
		/usr/bin/python3 "$CLIENT" 10.77.0.3 "$port" "$SVCDIR/$name.log"
}
# svc_stop: both services stopped, their logs gone (the next case may run svc-a as another user)
svc_stop() {
	systemctl stop svc-a.service svc-b.service 2>/dev/null
	rm -f "$SVCDIR/svc-a.log" "$SVCDIR/svc-b.log"
}
# svc_echo NAME FROM TO: the 10th percentile of the echo round trips (ms) of NAME's samples in
# [FROM, TO): a delay moves all of them, while the emulator's CPU stalls (this guest shares
# two cores with other guests) only add to some, which a median over 3 s still feels.
svc_echo() {
	awk -v a="$2" -v b="$3" '$1 >= a && $1 < b && $2 == "ok" { print $4 }' "$SVCDIR/$1.log" |
		sort -n | awk '{ v[NR] = $1 } END { if (!NR) print "inf"; else print v[int((NR - 1) / 10) + 1] }'
}
# svc_count NAME FROM TO WORD: how many of NAME's samples in [FROM, TO) were WORD (ok, fail)
svc_count() {
	awk -v a="$2" -v b="$3" -v w="$4" '$1 >= a && $1 < b && $2 == w { n++ } END { print n + 0 }' \
		"$SVCDIR/$1.log"
}
# connections carrying any of chaosd's mark bits (0x00ff0000)
svc_marked() {
	conntrack -L 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^mark=/) {
		m = substr($i, 6) + 0; if (int(m / 65536) % 256) n++ } } END { print n + 0 }'
}
# svc_window SECONDS: sleep, leaving FROM/TO around the time slept (first 0.5 s left out)
svc_window() {
	local t0
	t0=$(svc_now)
	sleep "$1"
	FROM=$(awk -v t="$t0" 'BEGIN { printf "%.3f", t + 0.5 }')
	TO=$(svc_now)
}
# svc_latency CASE EDGE DIRECTION: 100 ms on EDGE (svc-a's) in DIRECTION, a slowed, b not
svc_latency() {
	local c=$1 edge=$2 dir=$3 a0 b0 a1 b1 da db
	svc_window 3
	a0=$(svc_echo svc-a "$FROM" "$TO")
	b0=$(svc_echo svc-b "$FROM" "$TO")
	check "$c: inject latency 100 ms $dir on $edge" ctl inject latency --edge "$edge" --ms 100 \
		--direction "$dir" --for 10m
	svc_window 3
	a1=$(svc_echo svc-a "$FROM" "$TO")
	b1=$(svc_echo svc-b "$FROM" "$TO")
	da=$(awk -v x="$a1" -v y="$a0" 'BEGIN { printf "%.1f", x - y }')
	db=$(awk -v x="$b1" -v y="$b0" 'BEGIN { printf "%.1f", x - y }')
	record "service $c latency 100ms $dir (echo round trip, 10th percentile of 3 s): svc-a $a0 -> $a1 ms (+$da), svc-b $b0 -> $b1 ms (+$db)"
	check "$c: svc-a's round trip grew by ~100 ms ($dir: +$da ms)" in_range "$da" 90 130
	# a fifth of the fault: a guest sharing two cores moves even a 10th percentile by ms
	check "$c: svc-b's stayed within 20 ms of its baseline (+$db ms)" in_range "$db" -20 20
	ctl status | grep -A1 "$edge" | grep 'service:'
	check "$c: revert" ctl revert --edge "$edge"
}
# svc_partition CASE EDGE: a's connects fail, b's do not
svc_partition() {
	local c=$1 edge=$2 af ao bf bo
	check "$c: inject partition on $edge" ctl inject partition --edge "$edge" --for 10m
	sleep 1
	svc_window 2.5
	af=$(svc_count svc-a "$FROM" "$TO" fail)
	ao=$(svc_count svc-a "$FROM" "$TO" ok)
	bf=$(svc_count svc-b "$FROM" "$TO" fail)
	bo=$(svc_count svc-b "$FROM" "$TO" ok)
	record "service $c partition: svc-a ok=$ao fail=$af, svc-b ok=$bo fail=$bf"
	check "$c: svc-a's connects fail (ok=$ao fail=$af)" test "$ao" = 0 -a "$af" -gt 0
	check "$c: svc-b's connects succeed (ok=$bo fail=$bf)" test "$bf" = 0 -a "$bo" -gt 5
	check "$c: revert" ctl revert --edge "$edge"
}
# svc_slow NAME FROM TO BASE: how many of NAME's echoes in [FROM, TO) took over BASE + 60 ms
svc_slow() {
	awk -v a="$2" -v b="$3" -v m="$4" '$1 >= a && $1 < b && $2 == "ok" && $4 > m + 60 { n++ }
		END { print n + 0 }' "$SVCDIR/$1.log"
}
# svc_flows CASE EDGE: 100 ms on half of EDGE's flows; svc-client opens a new connection (a new
# source port) per echo, so about half of a's echoes are slowed and none of b's
svc_flows() {
	local c=$1 edge=$2 a0 b0 an as bn bs
	svc_window 3
	a0=$(svc_echo svc-a "$FROM" "$TO")
	b0=$(svc_echo svc-b "$FROM" "$TO")
	check "$c: inject latency 100 ms on 50% of $edge's flows" ctl inject latency --edge "$edge" \
		--ms 100 --flows 50% --for 10m
	svc_window 5
	as=$(svc_slow svc-a "$FROM" "$TO" "$a0")
	an=$(svc_count svc-a "$FROM" "$TO" ok)
	bs=$(svc_slow svc-b "$FROM" "$TO" "$b0")
	bn=$(svc_count svc-b "$FROM" "$TO" ok)
	record "service $c latency 100ms flows=50%: svc-a $as of $an echoes over ${a0}+60 ms, svc-b $bs of $bn over ${b0}+60 ms"
	# 20-80%: 4 sigma of a binomial over ~40 flows; b's few CPU stalls of the emulator at most
	check "$c: flows 50%: 20-80% of svc-a's echoes slowed ($as of $an)" \
		awk -v s="$as" -v n="$an" 'BEGIN { exit !(n >= 20 && s >= 0.2 * n && s <= 0.8 * n) }'
	check "$c: flows 50%: svc-b's echoes not slowed ($bs of $bn)" \
		awk -v s="$bs" -v n="$bn" 'BEGIN { exit !(n >= 20 && s <= 0.1 * n) }'
	check "$c: revert" ctl revert --edge "$edge"
}
svc_clean() { # CASE: the kernel as before the case
	check "$1: after the reverts the kernel state equals the snapshot" same_state "$T/svc-before"
	check "$1: no connection keeps chaosd's mark bits ($(svc_marked))" test "$(svc_marked)" = 0
}

# --- setup: an echo server per case port in cd-b, D-Bus for unit lookups, the edges
mkdir -p "$SVCDIR"
chmod 1777 "$SVCDIR"
install -m 0755 "$CHAOSD_SRCDIR/tests/vm/svc-client.py" "$CLIENT"
for p in 7001 7002 7003; do
	B python3 "$CHAOSD_SRCDIR/tests/partition-client.py" serve "$p" &
done
systemctl start dbus.socket dbus.service
check "the system bus is up for unit lookups" test -S /run/dbus/system_bus_socket
write_conf db web
cat >>"$CONF" <<'INI'

[edge svc-unit]
interface = a0
destination = 10.77.0.3/32
port = 7001
protocol = tcp
unit = svc-a.service

[edge svc-cg]
interface = a0
destination = 10.77.0.3/32
port = 7002
protocol = tcp
cgroup = system.slice/svc-a.service

[edge svc-user]
interface = a0
destination = 10.77.0.3/32
port = 7003
protocol = tcp
user = nobody
INI
check "chaosd --check-config accepts the service edges" chaosd --check-config
systemctl reload "$SVC"
wait_until 10 bash -c 'chaosctl edges | grep -q "^svc-unit"'
snapshot "$T/svc-before"

# --- unit = svc-a.service
svc_start svc-a 7001
svc_start svc-b 7001
wait_until 10 bash -c "chaosctl edges | grep -A1 '^svc-unit' | grep -q 'active /system.slice/svc-a.service'"
ctl edges
svc_latency unit svc-unit out
svc_latency unit svc-unit in
svc_partition unit svc-unit
svc_flows unit svc-unit

# restart while the fault is on: the new svc-a is slowed within 1 s, b never
check "unit: latency 100 ms out on svc-unit for the restart" ctl inject latency --edge svc-unit \
	--ms 100 --direction out --for 10m
sleep 2
before=$(ctl status | sed -n 's/.*service: \(.*\)/\1/p')
t0=$(svc_now)
systemctl restart svc-a.service
t1=$(svc_now)
# chaosd's side: how soon status names the new cgroup's id (polled every 100 ms)
after=$before
new_id() { [ "$after" != "$before" ] && grep -q '(id [0-9]' <<<"$after"; }
while ! new_id && awk -v a="$t1" -v n="$(svc_now)" 'BEGIN { exit !(n - a < 5) }'; do
	sleep 0.1
	after=$(ctl status | sed -n 's/.*service: \(.*\)/\1/p')
done
seen=$(awk -v a="$t1" -v n="$(svc_now)" 'BEGIN { printf "%.0f", (n - a) * 1000 }')
sleep 4
record "service restart: before '$before', after '$after' (seen in status +$seen ms after the restart returned)"
check "unit: status shows the new cgroup id after the restart (+$seen ms)" new_id
# The new process's side: a sample is slowed when it took the 100 ms (>= 100 ms); its first
# sample comes when python has started (seconds on TCG), the follow time is counted from it.
first=$(awk -v t="$t1" '$1 >= t && $2 == "ok" { print $1, $4; exit }' "$SVCDIR/svc-a.log")
slow=$(awk -v t="$t1" '$1 >= t && $2 == "ok" && $4 >= 100 { print $1; exit }' "$SVCDIR/svc-a.log")
fast=$(awk -v t="$t1" '$1 >= t && $2 == "ok" && $4 < 100 { n++ } END { print n + 0 }' "$SVCDIR/svc-a.log")
follow=$(awk -v a="${first%% *}" -v b="${slow:-0}" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
start=$(awk -v a="$t1" -v b="${first%% *}" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
# a packet of b's that went through a's netem waits the whole 100 ms: a leak would slow every
# sample of b's, the emulator's CPU stalls a few
bslow=$(awk -v a="$t0" '$1 >= a && $2 == "ok" && $4 >= 100 { n++ } END { print n + 0 }' "$SVCDIR/svc-b.log")
ball=$(awk -v a="$t0" '$1 >= a && $2 == "ok" { n++ } END { print n + 0 }' "$SVCDIR/svc-b.log")
bp10=$(svc_echo svc-b "$t0" "$(svc_now)")
# chaosd's side, from its journal: when it rewrote the rule for the new cgroup
rewrite=$(journalctl -q -u "$SVC" -o short-unix --since "@${t0%.*}" |
	awk '/cgroup system.slice\/svc-a.service made anew/ { print $1; exit }')
rw=$(awk -v a="$t0" -v b="${rewrite:-0}" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
rwf=$(awk -v a="${first%% *}" -v b="${rewrite:-0}" 'BEGIN { printf "%.0f", (a - b) * 1000 }')
record "service restart follow: the new svc-a's first sample +$start ms after the restart returned ($first ms), first slowed one +$follow ms after it, unslowed samples: $fast; chaosd rewrote the rule +$rw ms after the restart was asked, $rwf ms before the new process's first sample; svc-b: $bslow of $ball samples >= 100 ms, 10th percentile $bp10 ms"
check "unit: the restarted svc-a is slowed within 1 s of its first packet (+$follow ms)" \
	in_range "$follow" 0 1000
check "unit: ... none of its samples unslowed ($fast)" test "$fast" = 0
check "unit: chaosd rewrote the rule for the new cgroup (+$rw ms after the restart was asked)" \
	test -n "$rewrite"
check "unit: svc-b not slowed: $bslow of $ball samples >= 100 ms (fewer than a tenth)" \
	test "$((bslow * 10))" -lt "$ball"
check "unit: revert" ctl revert --edge svc-unit
svc_stop
svc_clean unit

# --- cgroup = system.slice/svc-a.service
svc_start svc-a 7002
svc_start svc-b 7002
sleep 1
svc_latency cgroup svc-cg out
svc_latency cgroup svc-cg in
svc_partition cgroup svc-cg
svc_stop
svc_clean cgroup

# --- user = nobody: svc-a runs as nobody, svc-b as root
svc_start svc-a 7003 -p User=nobody
svc_start svc-b 7003
sleep 1
svc_latency user svc-user out
svc_latency user svc-user in
svc_partition user svc-user
svc_stop
svc_clean user

write_conf db web
systemctl reload "$SVC"
