#!/bin/bash
# make check: `chaosctl metrics` and metrics_file on this machine's kernel, in network
# namespaces, read back with real parsers: Debian's python3-prometheus-client, its OpenMetrics
# parser for chaosctl's text and its Prometheus text-format parser for the textfile (what
# node_exporter's textfile collector reads). Values are checked against what the test did.
set -uo pipefail
# shellcheck source=tests/host-lib.sh
. "$top_srcdir/tests/host-lib.sh" metrics tc nft ping
# Debian's interpreter, whatever python3 comes first in PATH: the parser is a Debian package.
PY=/usr/bin/python3
$PY -c 'import prometheus_client.openmetrics.parser' 2>/dev/null ||
	skip_or_fail "python3-prometheus-client missing: run tests/install-deps.sh"
cleanup() {
	[ -n "${CHAOSD_PID:-}" ] && kill "$CHAOSD_PID" 2>/dev/null
	[ -n "${HTTP_PID:-}" ] && kill "$HTTP_PID" 2>/dev/null
}

# value FILE FORMAT SAMPLE [LABEL=VALUE...]: parse FILE whole (openmetrics or prometheus) and
# print the value of the one sample with exactly those labels; "absent" if there is none. A
# file the parser refuses fails the check that uses it.
value() {
	$PY - "$@" <<'PY'
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
from prometheus_client.parser import text_string_to_metric_families as prom
path, fmt, name, *labels = sys.argv[1:]
want = dict(l.split("=", 1) for l in labels)
text = open(path).read()
found = [s.value for fam in (om if fmt == "openmetrics" else prom)(text) for s in fam.samples
         if s.name == name and dict(s.labels) == want]
print(float(found[0]) if len(found) == 1 else "absent" if not found else "duplicate")
PY
}
# is FILE FORMAT EXPECTED SAMPLE [LABEL=VALUE...]
is() {
	local file=$1 fmt=$2 want=$3 got
	shift 3
	got=$(value "$file" "$fmt" "$@")
	if [ "$got" = "$want" ]; then ok "$* = $got ($fmt)"; else bad "$* = '$got', want '$want' ($fmt)"; fi
}
metrics() { ctl metrics >"$T/m.txt"; }
wait_file() { # the textfile is debounced: a second at most
	for _ in $(seq 30); do
		[ -f "$T/chaosd.prom" ] && [ "$(value "$T/chaosd.prom" prometheus "$@")" = "$want_file" ] &&
			return 0
		sleep 0.1
	done
	return 1
}

topology || { echo "FAIL: topology"; exit 1; }
write_config
sed -i "s|^link_rate = .*|&\nmetrics_file = $T/chaosd.prom|" "$T/chaosd.conf"
start_chaosd || exit 1

metrics
check "chaosctl metrics ends with # EOF" bash -c "tail -n 1 '$T/m.txt' | grep -qx '# EOF'"
is "$T/m.txt" openmetrics 0.0 chaosd_faults_active edge=db kind=partition
is "$T/m.txt" openmetrics 0.0 chaosd_kill_switch_engaged scope='*'
is "$T/m.txt" openmetrics absent chaosd_last_revert_duration_seconds
check "the textfile is written at start" bash -c "for _ in \$(seq 30); do [ -f '$T/chaosd.prom' ] && exit 0; sleep 0.1; done; exit 1"

# --- two faults: the active gauge has them with their labels
ctl inject partition --edge db --for 10m >/dev/null
ctl inject partition --edge cache --for 10m >/dev/null
metrics
sed 's/^/  | /' "$T/m.txt" | grep -v ' 0$'
is "$T/m.txt" openmetrics 1.0 chaosd_faults_active edge=db kind=partition
is "$T/m.txt" openmetrics 1.0 chaosd_faults_active edge=cache kind=partition
is "$T/m.txt" openmetrics 0.0 chaosd_faults_active edge=db kind=latency
# a fault applied just now is not flagged as matching nothing
check "a fault applied just now is not flagged as matching nothing" \
	grep -Eq '^chaosd_fault_no_traffic\{id="[0-9]+",edge="db",kind="partition"\} 0$' "$T/m.txt"
check "per fault: what it did so far" \
	grep -Eq '^chaosd_fault_affected_packets_total\{id="[0-9]+",edge="db",kind="partition",affected="dropped"\} [0-9]+$' "$T/m.txt"
total=$($PY -c '
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
print(sum(float(s.value) for f in om(open(sys.argv[1]).read()) for s in f.samples
          if s.name == "chaosd_faults_active"))' "$T/m.txt")
check "two faults active in all ($total)" test "$total" = 2.0
is "$T/m.txt" openmetrics 2.0 chaosd_faults_applied_total kind=partition
want_file=1.0
check "the textfile follows within a second" wait_file chaosd_faults_active edge=cache kind=partition
is "$T/chaosd.prom" prometheus 2.0 chaosd_faults_applied_total kind=partition
check "the textfile is world readable" bash -c "[ \"\$(stat -c %a '$T/chaosd.prom')\" = 644 ]"
check "no temporary file is left next to it" bash -c "[ -z \"\$(ls '$T' | grep 'chaosd.prom.')\" ]"

# --- a fault the kernel refuses (this host kernel lacks sch_netem) counts as failed
if ! ctl inject latency --edge db --ms 100 >/dev/null 2>&1; then
	metrics
	is "$T/m.txt" openmetrics 1.0 chaosd_faults_failed_total kind=latency operation=apply
	is "$T/m.txt" openmetrics 0.0 chaosd_faults_applied_total kind=latency
else
	skip_or_fail --case "this kernel has sch_netem: the failed-apply checks need one without it"
	ctl revert --edge db >/dev/null
	ctl inject partition --edge db --for 10m >/dev/null
fi

# --- revert: the reverted counter and the last revert's duration
ctl revert --edge cache >/dev/null
metrics
is "$T/m.txt" openmetrics 0.0 chaosd_faults_active edge=cache kind=partition
is "$T/m.txt" openmetrics 1.0 chaosd_faults_reverted_total kind=partition
dur=$(value "$T/m.txt" openmetrics chaosd_last_revert_duration_seconds)
check "last revert duration is there and under a second ($dur s)" \
	$PY -c "import sys; sys.exit(not 0 < float('$dur') < 1)"

# --- a scenario: probe latency histogram while it runs, then the run by outcome
# On 10.77.0.3, outside every edge: db is partitioned still.
ip netns exec cd-b python3 -m http.server --bind 10.77.0.3 8080 >/dev/null 2>&1 &
HTTP_PID=$!
for _ in $(seq 50); do
	A timeout 1 bash -c 'exec 3<>/dev/tcp/10.77.0.3/8080' 2>/dev/null && break
	sleep 0.1
done
cat >"$T/probe.ini" <<'INI'
[scenario]
name = metrics-probe
[probe web]
type = tcp
target = 10.77.0.3:8080
interval = 100ms
timeout = 500ms
[step cut]
at = 0s
fault = partition
edge = cache
for = 30s
INI
run=$(ctl run --detach "$T/probe.ini")
sleep 1.5
metrics
grep '^chaosd_probe\|^chaosd_scenario' "$T/m.txt" | sed 's/^/  | /'
is "$T/m.txt" openmetrics 1.0 chaosd_scenario_runs_running
n=$(value "$T/m.txt" openmetrics chaosd_probe_latency_seconds_count run="$run" scenario=metrics-probe probe=web)
check "the running probe has a histogram with samples ($n)" \
	$PY -c "import sys; sys.exit(not float('$n') >= 5)"
inf=$(value "$T/m.txt" openmetrics chaosd_probe_latency_seconds_bucket run="$run" scenario=metrics-probe probe=web le=+Inf)
check "+Inf bucket = count ($inf)" test "$inf" = "$n"
fast=$(value "$T/m.txt" openmetrics chaosd_probe_latency_seconds_bucket run="$run" scenario=metrics-probe probe=web le=0.25)
check "local connects are under 250 ms ($fast of $n)" test "$fast" = "$n"
file_has_samples() {
	local v
	v=$(value "$T/chaosd.prom" prometheus chaosd_probe_latency_seconds_count run="$run" \
		scenario=metrics-probe probe=web)
	[ "$v" != absent ] && $PY -c "import sys; sys.exit(not float('$v') >= 5)"
}
check "the textfile has the histogram too" wait_until 3 file_has_samples
ctl abort "$run" >/dev/null
metrics
is "$T/m.txt" openmetrics 1.0 chaosd_scenario_runs_total outcome=aborted
is "$T/m.txt" openmetrics 0.0 chaosd_scenario_runs_total outcome=held
is "$T/m.txt" openmetrics absent chaosd_probe_latency_seconds_count run="$run" scenario=metrics-probe probe=web

# --- kill switch: state per scope and activations
ctl kill --reason "metrics test" >/dev/null
metrics
is "$T/m.txt" openmetrics 1.0 chaosd_kill_switch_activations_total
is "$T/m.txt" openmetrics 1.0 chaosd_kill_switch_engaged scope='*'
is "$T/m.txt" openmetrics 0.0 chaosd_kill_switch_engaged scope=db
is "$T/m.txt" openmetrics 0.0 chaosd_faults_active edge=db kind=partition
want_file=1.0
check "the textfile shows the kill switch" wait_file chaosd_kill_switch_engaged scope='*'
is "$T/chaosd.prom" prometheus 1.0 chaosd_kill_switch_activations_total
ctl arm >/dev/null

# --- --json wraps the same text
ctl --json metrics >"$T/m.json"
check "--json: the text parses and says the same" $PY -c "
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
d = json.load(open('$T/m.json'))
assert d['ok'] and d['content_type'].startswith('application/openmetrics-text'), d
v = [s.value for f in om(d['text']) for s in f.samples if s.name == 'chaosd_kill_switch_activations_total']
sys.exit(v != [1])"

# --- an idle daemon does not rewrite the file; a stop writes the final state
sleep 1.2 # arm's write, debounced
m1=$(stat -c %Y.%y "$T/chaosd.prom")
sleep 2.5
check "idle: the textfile is not rewritten" test "$m1" = "$(stat -c %Y.%y "$T/chaosd.prom")"
ctl inject partition --edge db --for 10m >/dev/null
stop_chaosd
is "$T/chaosd.prom" prometheus 0.0 chaosd_faults_active edge=db kind=partition
# db, cache, the run's cache, db again: each applied and reverted once
is "$T/chaosd.prom" prometheus 4.0 chaosd_faults_applied_total kind=partition
is "$T/chaosd.prom" prometheus 4.0 chaosd_faults_reverted_total kind=partition
echo "  textfile at exit:"
grep -v '^#' "$T/chaosd.prom" | grep -v ' 0$' | sed 's/^/  | /'
finish
