#!/bin/bash
# The GameDay demo (guest side): a service host "app" (namespace cd-a) talks to a database and
# a cache (namespace cd-b). chaosd runs on app. Part 1 injects faults by hand through chaosctl
# and measures what app sees; part 2 runs a GameDay scenario file: probes, a latency ramp, an
# abort when the probe's p99 crosses its limit, and the report (HTML in CHAOSD_VM_OUT).
set -uo pipefail
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

topology >/dev/null || { echo "topology failed"; exit 1; }
write_config
start_chaosd || exit 1

row() { printf '%-44s %10s %8s %12s %8s\n' "$@"; }
measure() { # LABEL
	rtt 10.77.0.2 50
	local d=$RTT dl=$LOSS
	rtt 10.77.0.3 50
	row "$1" "$d" "$dl%" "$RTT" "$LOSS%"
}

echo
echo "chaosctl edges:"
ctl edges
echo
row "step" "db rtt ms" "db loss" "other rtt ms" "loss"
row "----" "---------" "-------" "------------" "----"
measure "before any fault"
ctl inject latency --edge db --ms 200 --for 5m >/dev/null
measure "db +200ms latency"
ctl inject loss --edge db --percent 10 --for 5m >/dev/null
measure "db +200ms latency, 10% loss"
ctl inject latency --edge db --ms 50 --jitter 10 --distribution normal --for 5m >/dev/null
measure "db latency changed in place: 50ms +-10ms"
ctl revert --edge db >/dev/null
measure "after revert --edge db"
ctl inject partition --edge db --for 5m >/dev/null
measure "db partitioned"
echo
ctl status
echo
ctl kill --reason "GameDay over"
measure "after the kill switch"
ctl inject latency --edge db --ms 10 2>&1 | sed 's/^/refused as expected: /'
ctl arm
ctl inject latency --edge db --ms 100 --for 2s >/dev/null
measure "db +100ms, deadline 2s"
sleep 2.5
measure "2.5s later: reverted by its deadline"

echo
echo "== part 2: a GameDay scenario"
# The database host serves http on 10.77.0.2:8080; python itself is the background job.
ip netns exec cd-b python3 -m http.server --bind 10.77.0.2 8080 >/dev/null 2>&1 &
web=$!
wait_until 30 port_open 10.77.0.2 8080
cat >"$T/gameday.ini" <<'INI'
[scenario]
name = db-brownout
description = db latency ramps up while the cache drops 10% of its packets; abort past 150 ms
max_duration = 2m

[probe db]
type = tcp
target = 10.77.0.2:8080
interval = 250ms
timeout = 1s
abort_when = p99 > 150ms over 3s
steady_state = success_rate >= 95% over 3s

[step cache-loss]
at = 0s
fault = loss
edge = cache
percent = 10
for = 20s

[step db-ramp]
at = 2s
fault = latency
edge = db
ramp = 25ms..200ms over 16s in 8 steps
INI
cat "$T/gameday.ini"
echo
echo "$ chaosctl plan gameday.ini"
ctl plan "$T/gameday.ini"
echo
echo "$ chaosctl run gameday.ini"
ctl run "$T/gameday.ini"
echo "(chaosctl run exited $?: 0 hypothesis held, 1 violated, 2 aborted)"
echo
ctl status
if [ -n "${CHAOSD_VM_OUT:-}" ]; then
	ctl report --html >"$CHAOSD_VM_OUT/gameday.html"
	ctl report --json >"$CHAOSD_VM_OUT/gameday.json"
fi
kill "$web" 2>/dev/null
stop_chaosd
