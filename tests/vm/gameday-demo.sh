#!/bin/bash
# The GameDay demo (guest side): a service host "app" (namespace cd-a) talks to a database and
# a cache (namespace cd-b). chaosd runs on app; each step injects a fault through chaosctl and
# measures what app sees.
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
stop_chaosd
