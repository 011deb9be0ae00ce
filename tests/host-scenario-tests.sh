#!/bin/bash
# make check: GameDay scenarios end to end on this machine's kernel, in network namespaces.
# Partitions (nftables) work on this kernel, so the run's life cycle is checked here against
# the kernel's own state: what a run applies is in the ruleset while it runs and gone after
# every way a run can end (held, violated, probe abort, chaosctl abort, kill switch, lease,
# daemon stop). The report's HTML is rendered in headless Chromium. Latency ramps need netem:
# tests/vm/scenario.sh checks them in the VM.
set -uo pipefail
# shellcheck source=tests/host-lib.sh
. "$top_srcdir/tests/host-lib.sh" scenario tc nft ping python3
cleanup() {
	[ -n "${CHAOSD_PID:-}" ] && kill "$CHAOSD_PID" 2>/dev/null
	[ -n "${HTTP_PID:-}" ] && kill "$HTTP_PID" 2>/dev/null
}

topology || { echo "FAIL: topology"; exit 1; }
write_config
snapshot "$T/before"
start_chaosd || exit 1
# Not through B(): $! must be python itself, to stop the service later.
ip netns exec cd-b python3 -m http.server --bind 10.77.0.2 8080 >/dev/null 2>&1 &
HTTP_PID=$!
for _ in $(seq 50); do A bash -c 'exec 3<>/dev/tcp/10.77.0.2/8080' 2>/dev/null && break; sleep 0.1; done

# scenario NAME EDGE [FOR [SCENARIO-KEY-LINE]]: one http probe on db's web server, one partition
# of EDGE for FOR (default 3s)
scenario() {
	cat >"$T/$1.ini" <<INI
[scenario]
name = $1
description = partition of $2 while probing db
${4:-}

[probe api]
type = http
target = http://10.77.0.2:8080/
interval = 200ms
# generous: a loaded CI host must not fail the steady state by slowness alone
timeout = 1s
abort_when = failure_rate > 50% over 2s
steady_state = success_rate >= 90% over 1s

[step cut]
at = 0s
fault = partition
edge = $2
for = ${3:-3s}
INI
}
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
# The chaosd nftables table while a run is in its method: drop rule present?
nft_has_drop() {
	A nft list ruleset | awk '/^table inet chaosd/ { t = 1 } t && /drop/ { f = 1 } END { exit !f }'
}
watch_state() { ctl --json watch "$1" 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["state"], d["exit_code"])'; }

# --- validate and plan: errors with file:line, nothing applied
cat >"$T/bad.ini" <<'INI'
[scenario]
max_duration = soon
[step 1]
at = 0s
fault = latency
edge = db
ms = -5
[step 2]
at = 0s
fault = loss
edge = nosuch
percent = 5
for = 10s
INI
out=$(ctl validate "$T/bad.ini" 2>&1); rc=$?
echo "$out" | sed 's/^/  | /'
check "validate: a broken file exits 3" test "$rc" = 3
check "validate: names file:line, key and value" grep -q "bad.ini:2: \[scenario\] max_duration = 'soon'" <<<"$out"
check "validate: every error, not just the first" grep -q "bad.ini:7: \[step 1\]: ms: '-5'" <<<"$out"
check "validate: nothing applied" same_state "$T/before"
scenario unknown-edge nosuch
out=$(ctl validate "$T/unknown-edge.ini" 2>&1); rc=$?
echo "$out" | sed 's/^/  | /'
line=$(grep -n '^\[step cut\]' "$T/unknown-edge.ini" | cut -d: -f1)
check "validate: an edge the daemon does not know is refused with the step's line" grep -q "unknown-edge.ini:$line: \[step cut\]: unknown edge 'nosuch'" <<<"$out"
scenario bystander cache
out=$(ctl validate "$T/bystander.ini" 2>&1)
check "validate: a good file is accepted ($out)" grep -q "is valid here: 1 steps, 1 probes" <<<"$out"
out=$(ctl plan "$T/bystander.ini" 2>&1)
echo "$out" | sed 's/^/  | /'
check "plan: prints the resolved timeline" bash -c "grep -q 'apply .*cut .*cache .*partition' <<<'$out' && grep -q '3.0s revert' <<<'$out'"
check "plan: nothing applied" same_state "$T/before"

# --- a run whose hypothesis holds: the fault is in the kernel during the method, gone after
ctl run --detach "$T/bystander.ini" >"$T/id" 2>&1
id=$(cat "$T/id")
check "run --detach returns the run id ($id)" grep -q -- "-bystander$" "$T/id"
check "during the method the partition is in the kernel" wait_until 5 nft_has_drop
st=$(ctl --json status)
check "status lists the run's fault with its run id" grep -q "\"edge\":\"cache\".*\"run\":\"$id\"" <<<"$st"
out=$(ctl inject partition --edge cache --for 1m 2>&1)
check "a manual inject cannot take over the run's fault ($out)" grep -q "owned by scenario run '$id'" <<<"$out"
ctl watch "$id" >"$T/watch.out" 2>&1; rc=$?
check "watch follows it to the end and exits 0 (held)" test "$rc" = 0
check "watch printed the phases" bash -c "grep -q 'phase *steady-state-before' $T/watch.out && grep -q 'phase *steady-state-after' $T/watch.out"
check "after the run: kernel state as before" same_state "$T/before"
rep=$T/state/reports/$id.json
check "the report is in the state dir" test -s "$rep"
check "report: outcome held, hypothesis held before and after" test "$(json "$rep" 'd["outcome"], d["hypothesis"]["before"], d["hypothesis"]["after"]')" = "('held', 'held', 'held')"
check "report: apply and revert in the timeline" test "$(json "$rep" '[e["event"] for e in d["timeline"] if e["event"] in ("apply","revert")]')" = "['apply', 'revert']"
n=$(json "$rep" 'd["probes"][0]["phases"]["method"]["count"]')
check "report: probe samples summarised per phase (method: $n samples)" in_range "$n" 5 100

# --- a probe crossing abort_when aborts and reverts at once: exit 2
scenario hit-db db 10s
t0=$(date +%s%N)
ctl run "$T/hit-db.ini" >"$T/run.out" 2>&1; rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
sed 's/^/  | /' "$T/run.out" | tail -25
check "abort_when: exit status 2 (aborted)" test "$rc" = 2
check "abort_when: the reason names the probe and the condition" grep -q "abort .*probe api: failure_rate .* (abort_when failure_rate > 50% over 2s)" "$T/run.out"
check "abort_when: ended well before the 10 s step (${ms} ms)" in_range "$ms" 0 8000
check "abort_when: kernel state as before" same_state "$T/before"
id=$(sed -n 's/^run \([^ ]*\) started.*/\1/p' "$T/run.out")
ctl report "$id" --html >"$T/gameday.html"
check "report --html is one self-contained page (no http(s) fetches)" bash -c "grep -q '<svg class=\"chart\"' $T/gameday.html && ! grep -Eq '(src|href)=\"https?:' $T/gameday.html"
# the abort word above the plot (y 14 < its top at 20) and fault labels clipped to the plot:
# neither runs over the other nor over the right axis' 100 % label
check "report chart: abort word above the plot, fault labels clipped to it" bash -c \
	"grep -Eq '<g class=\"abort\">.*<text x=\"[0-9.]+\" y=\"14\"' $T/gameday.html && grep -q 'clip-path=\"url(#plot-0)\"' $T/gameday.html"
if command -v chromium >/dev/null; then
	dom=$(timeout 60 chromium --headless --no-sandbox --disable-gpu --virtual-time-budget=2000 \
		--dump-dom "file://$T/gameday.html" 2>/dev/null)
	rendered=$(grep -o 'data-charts-rendered="[^"]*"' <<<"$dom")
	check "Chromium renders the chart with a fault band and the abort mark ($rendered)" \
		grep -q 'data-charts-rendered="1/1 bands=1 abort=1"' <<<"$rendered"
else
	skip_or_fail --case "chromium missing: the HTML is not rendered (run tests/install-deps.sh)"
fi

# --- steady state not met before the method: nothing is applied, exit 1
kill "$HTTP_PID"; wait "$HTTP_PID" 2>/dev/null; HTTP_PID=
scenario no-service cache
ctl run "$T/no-service.ini" >"$T/run.out" 2>&1; rc=$?
check "hypothesis violated before the method: exit 1" test "$rc" = 1
check "violated: the reason says which probe and what it measured" grep -q "steady state not met before the method: probe api: success_rate was 0.0%" "$T/run.out"
check "violated: nothing was applied" bash -c "! grep -q ' apply ' $T/run.out"
# Not through B(): $! must be python itself, to stop the service later.
ip netns exec cd-b python3 -m http.server --bind 10.77.0.2 8080 >/dev/null 2>&1 &
HTTP_PID=$!
wait_until 5 A bash -c 'exec 3<>/dev/tcp/10.77.0.2/8080' 2>/dev/null

# --- chaosctl abort, one run at a time, and the kill switch
scenario long cache 60s
id=$(ctl run --detach "$T/long.ini")
wait_until 5 nft_has_drop
out=$(ctl run --detach "$T/bystander.ini" 2>&1)
check "max_scenarios = 1: a second run is refused ($out)" grep -q "already running" <<<"$out"
ctl abort "$id" >/dev/null
check "chaosctl abort: the run ends aborted (exit 2)" test "$(watch_state "$id")" = "finished 2"
check "chaosctl abort: kernel state as before" same_state "$T/before"
id=$(ctl run --detach "$T/long.ini")
wait_until 5 nft_has_drop
ctl kill --reason "gameday test" >/dev/null
check "kill switch: the run is aborted (exit 2)" test "$(watch_state "$id")" = "finished 2"
check "kill switch: the report says so" grep -q "kill switch by uid 0: gameday test" "$T/state/reports/$id.txt"
check "kill switch: kernel state as before" same_state "$T/before"
out=$(ctl run --detach "$T/long.ini" 2>&1)
check "kill switch latched: a new run is refused before anything is applied ($out)" grep -q "kill switch" <<<"$out"
ctl arm >/dev/null

# --- lease: the client that started the run dies; the run aborts within the lease
scenario leased cache 60s "lease = 2s"
# Not through A(): $! must be chaosctl itself (ip netns exec execs it).
ip netns exec cd-a "$CHAOSCTL" --socket "$SOCK" run "$T/leased.ini" >"$T/leased.out" 2>&1 &
client=$!
wait_until 5 nft_has_drop
id=$(sed -n 's/^run \([^ ]*\) started.*/\1/p' "$T/leased.out")
kill -9 "$client"
t0=$(date +%s%N)
nft_gone() { ! nft_has_drop; }
wait_until 6 nft_gone
ms=$((($(date +%s%N) - t0) / 1000000))
check "lease 2s: the dead client's run was reverted ${ms} ms after it died" in_range "$ms" 0 3500
check "lease: the run is aborted for its lease" grep -q "lease of 2s expired" "$T/state/reports/$id.txt"
check "lease: kernel state as before" same_state "$T/before"

# --- daemon stop mid-run: aborted, reverted, report written
id=$(ctl run --detach "$T/long.ini")
wait_until 5 nft_has_drop
stop_chaosd
check "SIGTERM mid-run: the report is written, aborted for 'daemon stopping'" grep -q "aborted (exit 2): daemon stopping" "$T/state/reports/$id.txt"
check "SIGTERM mid-run: kernel state as before" same_state "$T/before"

finish
