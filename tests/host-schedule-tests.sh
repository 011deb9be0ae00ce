#!/bin/bash
# make check: scenario timing (src/schedule.c, daemon/runner.c) end to end on this machine's
# kernel with partitions (nftables): a start_when step fires only once its probe condition
# holds and is skipped (nothing applied) when it never does; an until step ends early on its
# probe and reports the recovery; a seeded random start lands where plan --seed said; and
# every shipped library scenario validates against the example chaosd.conf.
set -uo pipefail
# shellcheck source=tests/host-lib.sh
. "$top_srcdir/tests/host-lib.sh" schedule nft python3
# (host-lib.sh ends the daemon and the web server with everything else in the namespaces)
topology || { echo "FAIL: topology"; exit 1; }
B python3 -m http.server --bind 10.77.0.2 8080 >/dev/null 2>&1 &
write_config
snapshot "$T/before"
start_chaosd || exit 1
wait_until 5 A bash -c 'exec 3<>/dev/tcp/10.77.0.2/8080' 2>/dev/null
# the web server in cd-b, probed every 200ms
api_probe() {
	printf '[probe api]\ntype = http\ntarget = http://10.77.0.2:8080/\ninterval = 200ms\n'
	printf 'timeout = %s\nsteady_state = success_rate >= 90%% over 1s\n' "$1"
}
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
nft_has_drop() {
	A nft list ruleset | awk '/^table inet chaosd/ { t = 1 } t && /drop/ { f = 1 } END { exit !f }'
}
method_s() { json "$1" '[p["start_s"] for p in d["phases"] if p["phase"] == "method"][0]'; }

# --- start_when: the gate probe succeeds only once $T/go exists (the test's "load")
cat >"$T/gated.ini" <<INI
[scenario]
name = gated
steady_state_duration = 1s

[probe gate]
type = exec
target = test -e $T/go
interval = 200ms
timeout = 300ms

$(api_probe 1s)

[step cut]
at = 0s
start_when = gate success_rate >= 90% over 1s
start_within = 4s
fault = partition
edge = cache
for = 2s
INI
rm -f "$T/go"
ctl run "$T/gated.ini" >"$T/run.out" 2>&1; rc=$?
sed 's/^/  | /' "$T/run.out" | tail -12
id=$(sed -n 's/^run \([^ ]*\) started.*/\1/p' "$T/run.out")
rep=$T/state/reports/$id.json
check "start_when never held: the run still holds (exit $rc)" test "$rc" = 0
check "start_when never held: nothing was applied" bash -c "! grep -q ' apply ' $T/run.out"
check "start_when never held: watch says the step was skipped and why" grep -q "skip .*step cut skipped: start_when gate success_rate >= 90% over 1s did not hold within 4s" "$T/run.out"
check "report: the skipped step has no start and says why" test "$(json "$rep" 'd["steps"][0]["start_s"], d["steps"][0]["end_reason"][:19]')" = "(None, 'skipped: start_when')"
check "start_when never held: kernel state as before" same_state "$T/before"

id=$(ctl run --detach "$T/gated.ini")
sleep 2.5
nft_has_drop && early=yes || early=no
check "start_when: nothing applied before the condition holds" test "$early" = no
t_go=$(date +%s.%N)
touch "$T/go"
wait_until 5 nft_has_drop
t_on=$(date +%s.%N)
lag=$(awk -v a="$t_go" -v b="$t_on" 'BEGIN { printf "%.2f", b - a }')
record "start_when: partition applied ${lag}s after the gate opened"
check "start_when: applied within 3s of the condition holding (${lag}s)" in_range "$lag" 0.5 3
ctl watch "$id" >"$T/watch.out" 2>&1
rep=$T/state/reports/$id.json
check "start_when: watch shows the trigger with what was measured" grep -q "trigger .*step cut: start_when held: probe gate: success_rate 100.0% over" "$T/watch.out"
check "start_when: the step ended by its for" test "$(json "$rep" 'd["steps"][0]["end_reason"]')" = "for 2s"
check "start_when: kernel state as before" same_state "$T/before"
rm -f "$T/go"

# --- until: the partition of db breaks the api probe; until ends it long before its for
cat >"$T/until.ini" <<INI
[scenario]
name = until
steady_state_duration = 1s

$(api_probe 500ms)

[step cut]
at = 0s
until = api failure_rate > 50% over 1s
fault = partition
edge = db
for = 30s
INI
t0=$(date +%s)
ctl run "$T/until.ini" >"$T/run.out" 2>&1; rc=$?
took=$(($(date +%s) - t0))
sed 's/^/  | /' "$T/run.out" | tail -12
id=$(sed -n 's/^run \([^ ]*\) started.*/\1/p' "$T/run.out")
rep=$T/state/reports/$id.json
check "until: the run holds after the early end (exit $rc)" test "$rc" = 0
check "until: over in ${took}s, not the 30s of for" in_range "$took" 0 15
check "until: the report says until ended it, with the probe's measure" grep -q "until: probe api: failure_rate .* (until failure_rate > 50% over 1s)" <<<"$(json "$rep" 'd["steps"][0]["end_reason"]')"
on=$(json "$rep" 'round(d["steps"][0]["end_s"] - d["steps"][0]["start_s"], 2)')
rec=$(json "$rep" 'd["steps"][0]["recovery_s"]')
record "until: fault on ${on}s of 30s, recovery ${rec}s"
check "until: the fault lasted ${on}s (the window and a bit)" in_range "$on" 0.5 6
check "until: a recovery time is reported (${rec}s)" in_range "$rec" 0 5
check "until: kernel state as before" same_state "$T/before"

# --- a seeded random start: plan --seed N is the run's timeline
cat >"$T/dice.ini" <<INI
[scenario]
name = dice

[step cut]
at = random 0s..3s
fault = partition
edge = cache
for = 1s
INI
p1=$(ctl plan --seed 7 "$T/dice.ini" 2>&1)
p2=$(ctl plan --seed 7 "$T/dice.ini" 2>&1)
check "plan --seed 7 twice: the same timeline" test "$p1" = "$p2"
check "plan shows the seed and the step's trigger" bash -c "grep -q '^seed 7 ' <<<'$p1' && grep -q 'step cut .*at .* (random 0s..3s)' <<<'$p1'"
declare -A seen=()
for s in $(seq 1 20); do
	at=$(ctl --json plan --seed "$s" "$T/dice.ini" | python3 -c 'import json,sys; print([a["t_us"] for a in json.load(sys.stdin)["actions"] if a["action"] == "apply"][0])')
	in_range "$at" 0 3000000 || { bad "seed $s: start $at us outside 0s..3s"; }
	seen[$at]=1
done
check "20 seeds: 20 start times in the window (${#seen[@]} distinct)" in_range "${#seen[@]}" 18 20
want=$(ctl --json plan --seed 12345 "$T/dice.ini" | python3 -c 'import json,sys; print([a["t_us"] / 1e6 for a in json.load(sys.stdin)["actions"] if a["action"] == "apply"][0])')
ctl run --seed 12345 "$T/dice.ini" >"$T/run.out" 2>&1; rc=$?
id=$(sed -n 's/^run \([^ ]*\) started.*/\1/p' "$T/run.out")
rep=$T/state/reports/$id.json
got=$(json "$rep" 'round(d["steps"][0]["start_s"] - '"$(method_s "$rep")"', 3)')
record "run --seed 12345: planned start ${want}s, measured ${got}s after the method began"
check "run --seed: the report records the seed" test "$(json "$rep" 'd["seed"]')" = 12345
check "run --seed: started where the plan said (${got}s vs ${want}s)" in_range "$(awk -v a="$got" -v b="$want" 'BEGIN { print a - b }')" -0.05 0.5
check "seeded run: kernel state as before" same_state "$T/before"

# --- the library validates against the example chaosd.conf's edges
stop_chaosd
# The example's edges are comments; uncommented they are a config of their own.
{
	grep -v '^#' "$top_srcdir/conf/chaosd.conf" | grep -v '^socket_group'
	sed -n '/^# \[edge db\]/,/^# These/p' "$top_srcdir/conf/chaosd.conf" | sed '$d; s/^# \?//'
} >"$T/chaosd.conf"
sed 's/^/  conf | /' "$T/chaosd.conf"
# The example's addresses: routed through an eth0 in cd-a, as on the host it describes.
A ip link add eth0 type veth peer name eth0p && A ip link set eth0 up &&
	A ip link set eth0p up && A ip route add 10.0.0.0/16 dev eth0
snapshot "$T/before"
start_chaosd || exit 1
for f in "$top_srcdir"/conf/scenarios/*.ini; do
	out=$(ctl validate "$f" 2>&1)
	check "library: $(basename "$f") validates against the example config ($out)" \
		grep -q "is valid here" <<<"$out"
	check "library: $(basename "$f") has a plan" ctl plan "$f" >/dev/null
done
check "library: kernel state as before" same_state "$T/before"

finish
