#!/bin/bash
# GameDay scenarios on a real netem kernel (run inside the VM by tests/vm-tests.sh, after
# e2e.sh): a latency ramp is watched step by step in the kernel's own netem qdisc and in the
# probe latencies the report measured; a probe's p99 crossing abort_when aborts the run and
# the kernel state is exactly the one before.
set -uo pipefail
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

topology || { echo "FAIL: topology"; exit 1; }
write_config
snapshot "$T/before"
start_chaosd || exit 1
IFX=$(A cat /sys/class/net/a0/ifindex)
# Not through B(): $! must be python itself.
ip netns exec cd-b python3 -m http.server --bind 10.77.0.2 8080 >/dev/null 2>&1 &
HTTP_PID=$!
trap 'kill $HTTP_PID 2>/dev/null' EXIT
wait_until 30 port_open 10.77.0.2 8080
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

# --- a ramp, 20 ms to 100 ms in 5 steps over 10 s. The tcp probe's connect time is one
# round trip, whose outbound half crosses db's netem: it follows the ramp.
cat >"$T/ramp.ini" <<'INI'
[scenario]
name = ramp
description = db latency ramps from 20 ms to 100 ms

[probe db]
type = tcp
target = 10.77.0.2:8080
interval = 250ms
# 3s: a SYN that waited in netem when the step ended is freed with the qdisc; TCP resends it
# after 1s and the probe still succeeds, only slower.
timeout = 3s
abort_when = p99 > 5s over 6s
steady_state = success_rate >= 90% over 2s

[step slow-db]
at = 0s
fault = latency
edge = db
ramp = 20ms..100ms over 10s in 5 steps
INI
ctl plan "$T/ramp.ini"
# What the kernel holds, as it changes: tc monitor prints every netem the daemon installs
# (no polling, so no change is missed however slow the guest is).
ip netns exec cd-a tc monitor >"$T/monitor" 2>&1 &
mon=$!
ctl run "$T/ramp.ini" >"$T/ramp.out" 2>&1; rc=$?
kill "$mon" 2>/dev/null
sed 's/^/  | /' "$T/ramp.out" | head -40
id=$(sed -n 's/^run \([^ ]*\) started.*/\1/p' "$T/ramp.out")
seen=$(grep -v -i deleted "$T/monitor" | grep -o 'qdisc netem .*' | grep -o 'delay [0-9.]*ms' |
	awk '{ v = $2 + 0 } v != last { printf "%s%g", n++ ? "," : "", v; last = v }')
rep=$T/state/reports/$id.json
skipped=$(json "$rep" 'len([e for e in d["timeline"] if "ramp point" in e["text"] and "skipped" in e["text"]])')
record "ramp 20..100 ms in 5 steps: netem delays the kernel held, in order (ms): $seen; points skipped because the run was late: $skipped"
# Each point is held by the kernel in order, or reported as skipped (a guest too slow to
# keep the schedule); never anything else, never out of order.
check "ramp: the kernel held the ramp's values in order, every other point reported skipped ($seen; $skipped skipped)" \
	python3 -c "import sys; seen=[float(x) for x in sys.argv[1].split(',') if x]; ramp=[20,40,60,80,100]; it=iter(ramp); ok=all(v in it for v in seen) and seen[-1:]==[100] and len(seen)+int(sys.argv[2])==5; sys.exit(0 if ok else 1)" "$seen" "$skipped"
check "ramp: the hypothesis held (exit 0)" test "$rc" = 0
n=$(json "$rep" 'len([e for e in d["timeline"] if e["event"] in ("apply","update")])')
check "ramp: the report has a change for every point not skipped ($n + $skipped = 5)" test "$((n + skipped))" = 5
p_before=$(json "$rep" 'd["probes"][0]["phases"]["steady-state-before"]["p50_ms"]')
p_method=$(json "$rep" 'd["probes"][0]["phases"]["method"]["p50_ms"]')
p_after=$(json "$rep" 'd["probes"][0]["phases"]["steady-state-after"]["p50_ms"]')
record "ramp: probe connect time p50 before ${p_before} ms, during the ramp ${p_method} ms, after ${p_after} ms"
check "ramp: probe p50 during the ramp within the ramp (${p_method} ms in [20, 110])" in_range "$p_method" 20 110
check "ramp: probe p50 before and after far below it (${p_before}, ${p_after} ms < 10)" bash -c "awk 'BEGIN { exit !($p_before < 10 && $p_after < 10) }'"
check "ramp: kernel state as before" same_state "$T/before"

# --- p99 over the limit aborts at once and reverts
cat >"$T/too-slow.ini" <<'INI'
[scenario]
name = too-slow

[probe db]
type = tcp
target = 10.77.0.2:8080
interval = 200ms
timeout = 2s
abort_when = p99 > 150ms over 4s

[step slow-db]
at = 0s
fault = latency
edge = db
ms = 300
for = 60s
INI
t0=$(date +%s%N)
ctl run "$T/too-slow.ini" >"$T/slow.out" 2>&1; rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
sed 's/^/  | /' "$T/slow.out" | head -20
record "p99 > 150ms abort with 300 ms injected: run ended after ${ms} ms (step was 60 s)"
check "abort_when p99: exit 2" test "$rc" = 2
check "abort_when p99: the reason gives the measured p99" grep -Eq "abort .*probe db: p99 [0-9.]+ms over [0-9]+ samples \(abort_when p99 > 150ms over 4s\)" "$T/slow.out"
check "abort_when p99: ended within seconds (${ms} ms)" in_range "$ms" 0 10000
check "abort_when p99: kernel state as before" same_state "$T/before"
stop_chaosd
finish
