#!/bin/bash
# Scenario timing on a real netem kernel (run inside the VM by tests/vm-schedule-tests.sh):
# a start_when step fires only once a load generator pushes the service's p50 over the
# threshold (and never without the load); an until step ends when the probe's error rate
# crosses its threshold and the report gives the recovery; seeded random start times fall
# inside their window over many seeds (chaosctl plan --seed) and a few real runs start where
# the plan said; every scenario of conf/scenarios runs end to end, shortened, against the
# service, with the kernel state after equal to before.
#
# The service: a single-threaded HTTP server in cd-b answering after 20 ms, so concurrent
# clients queue and its latency grows with the load, as a real saturated service's does.
#
# Shortened library runs: shrink() below copies a scenario with every time divided by
# CHAOSD_SCHEDULE_SCALE (default 30): at, for, start_within, ramps, chance intervals and
# condition windows (never under 4 s, twice the probes' 2 s timeout); probes every 250 ms with
# a 2 s timeout; max_duration and steady_state_duration left to their defaults; targets the
# service.
set -uo pipefail
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"
SCALE=${CHAOSD_SCHEDULE_SCALE:-30}

topology || { echo "FAIL: topology"; exit 1; }
B ip addr add 10.77.0.5/24 dev b0
# The service (10.77.0.2:8080) and a "database" port (10.77.0.3:5432) for the tcp probes.
cat >"$T/service.py" <<'PY'
import http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(float(sys.argv[3]))
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")
    def log_message(self, *a):
        pass
http.server.HTTPServer.request_queue_size = 128
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
PY
# Not through B(): $! must be python itself, to stop it later.
ip netns exec cd-b python3 "$T/service.py" 10.77.0.2 8080 0.02 &
service_pid=$!
B python3 "$T/service.py" 10.77.0.3 5432 0 &
write_config
snapshot "$T/before"
start_chaosd || exit 1
wait_until 30 port_open 10.77.0.2 8080
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
run_id() { sed -n 's/^run \([^ ]*\) started.*/\1/p' "$1"; }
method_s() { json "$1" '[p["start_s"] for p in d["phases"] if p["phase"] == "method"][0]'; }
netem_on() { A tc qdisc show dev a0 | grep -q netem; }
# load SECONDS: 12 clients in a loop against the service (more starve the TCG guest itself)
load() {
	A python3 - "$1" <<'PY' &
import sys, threading, time, urllib.request
end = time.time() + float(sys.argv[1])
def client():
    while time.time() < end:
        try:
            urllib.request.urlopen("http://10.77.0.2:8080/", timeout=5).read()
        except Exception:
            pass
for _ in range(12):
    threading.Thread(target=client, daemon=True).start()
time.sleep(float(sys.argv[1]))
PY
}

# --- start_when: the step waits for the service's p50 to pass 150 ms
cat >"$T/peak.ini" <<'INI'
[scenario]
name = peak

[probe api]
type = http
target = http://10.77.0.2:8080/
interval = 250ms
timeout = 2s

[step at-peak]
at = 0s
start_when = api p50 > 150ms over 4s
start_within = 15s
fault = latency
edge = cache
ms = 50
for = 3s
INI
ctl run "$T/peak.ini" >"$T/idle.out" 2>&1; rc=$?
sed 's/^/  | /' "$T/idle.out" | head -16
rep=$T/state/reports/$(run_id "$T/idle.out").json
p50=$(json "$rep" 'd["probes"][0]["phases"]["method"]["p50_ms"]')
record "start_when without load: service p50 ${p50} ms; step: $(json "$rep" 'd["steps"][0]["end_reason"]')"
check "start_when without load: skipped after start_within (exit $rc)" bash -c "test $rc = 0 && grep -q 'step at-peak skipped: start_when api p50 > 150ms over 4s did not hold within 15s' $T/idle.out"
check "start_when without load: nothing was applied" bash -c "! grep -q ' apply ' $T/idle.out"
check "start_when without load: kernel state as before" same_state "$T/before"

# Under load the window is wider: a loaded TCG guest takes seconds to start the load itself.
sed 's/^start_within = .*/start_within = 40s/' "$T/peak.ini" >"$T/peak-load.ini"
t_run=$(date +%s.%N)
id=$(ctl run --detach "$T/peak-load.ini")
sleep 4
netem_on && early=yes || early=no
check "start_when: no fault while the service is idle" test "$early" = no
t_load=$(date +%s.%N)
load 30
load_pid=$!
# Not polled: under the load the guest is too slow to see a 3 s fault by polling tc. When
# the fault went on is the report's; when the load began, in the run's time, is ours (the
# run began within the chaosctl call after t_run).
ctl watch "$id" >"$T/peak.out" 2>&1
wait "$load_pid"
rep=$T/state/reports/$id.json
at_load=$(awk -v a="$t_run" -v b="$t_load" 'BEGIN { printf "%.2f", b - a }')
on=$(json "$rep" 'd["steps"][0]["start_s"]')
lag=$(awk -v a="$at_load" -v b="$on" 'BEGIN { printf "%.1f", b - a }')
record "start_when under load: load from ${at_load}s of the run, fault on at ${on}s (${lag}s later); $(grep -o 'start_when held: .*' "$T/peak.out")"
# After the load began (the p50 of a 4 s window passes 150 ms once half of it is loaded) and
# while it ran; how soon depends on how fast a loaded guest starts the load.
check "start_when: fired after the load began and while it ran, once it pushed p50 over 150 ms (${lag}s after, of 30 s)" in_range "$lag" 0.5 30
check "start_when: the trigger is in watch with the measured p50" grep -Eq "trigger .*start_when held: probe api: p50 [0-9.]+ms over" "$T/peak.out"
check "start_when: the step then ran its for" test "$(json "$rep" 'd["steps"][0]["end_reason"]')" = "for 3s"
check "start_when: kernel state as before" same_state "$T/before"

# --- until: loss on the service's edge until its error rate passes 20 %
cat >"$T/until.ini" <<'INI'
[scenario]
name = until-errors

[probe api]
type = http
target = http://10.77.0.2:8080/
interval = 250ms
timeout = 1s
steady_state = success_rate >= 90% over 2s

[step lossy]
at = 0s
fault = loss
edge = db
percent = 60
until = api failure_rate > 20% over 3s
for = 60s
INI
t0=$(date +%s)
ctl run "$T/until.ini" >"$T/until.out" 2>&1; rc=$?
took=$(($(date +%s) - t0))
sed 's/^/  | /' "$T/until.out" | tail -8
rep=$T/state/reports/$(run_id "$T/until.out").json
on=$(json "$rep" 'round(d["steps"][0]["end_s"] - d["steps"][0]["start_s"], 1)')
rec=$(json "$rep" 'd["steps"][0]["recovery_s"]')
record "until: 60% loss on for ${on}s of 60s, ended by: $(json "$rep" 'd["steps"][0]["end_reason"]'); recovery ${rec}s; outcome $(json "$rep" 'd["outcome"]')"
check "until: ended by the error rate, with what was measured" grep -q "until: probe api: failure_rate [0-9.]*% over [0-9]* samples (until failure_rate > 20% over 3s)" <<<"$(json "$rep" 'd["steps"][0]["end_reason"]')"
check "until: the fault lasted ${on}s, far less than its for" in_range "$on" 1 30
check "until: the run was over in ${took}s" in_range "$took" 1 45
check "until: a recovery time was measured (${rec}s)" in_range "$rec" 0 15
check "until: kernel state as before" same_state "$T/before"

# --- seeded random start: many plans, a few real runs
cat >"$T/dice.ini" <<'INI'
[scenario]
name = dice

[step cut]
at = random 2s..8s
fault = latency
edge = cache
ms = 10
for = 1s

[step maybe]
at = 0s
chance = 30% every 1s
start_within = 5s
fault = loss
edge = db
percent = 1
for = 1s
INI
ctl --json plan --seed 1 "$T/dice.ini" >/dev/null || bad "plan --seed 1"
for s in $(seq 1 60); do
	ctl --json plan --seed "$s" "$T/dice.ini"
	echo
done >"$T/plans.json"
stats=$(python3 - "$T/plans.json" <<'PY'
import json, sys
cut, maybe, skipped = [], [], 0
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    d = json.loads(line)
    steps = {s["name"]: s for s in d["steps"]}
    acts = [a for a in d["actions"] if a["action"] == "apply"]
    cut += [a["t_us"] / 1e6 for a in acts if a["step"] == "cut"]
    maybe += [a["t_us"] / 1e6 for a in acts if a["step"] == "maybe"]
    skipped += steps["maybe"]["trigger"].startswith("skipped")
inside = all(2 <= t <= 8 for t in cut) and len(cut) == 60
tries = all(t == int(t) and 0 <= t <= 5 for t in maybe)
print(int(inside and tries), "%.2f/%.2f/%.2f" % (min(cut), sum(cut) / len(cut), max(cut)),
      len(set(cut)), skipped, len(maybe), int(min(cut) < 3 and max(cut) > 7))
PY
)
# (not "skipped": lib.sh counts skipped cases in it)
read -r ok spread distinct missed hits spread_ok <<<"$stats"
record "60 seeds: at = random 2s..8s started at min/mean/max $spread s ($distinct distinct); chance 30% every 1s within 5s: $hits hits, $missed skipped (0.7^6: about 7 expected)"
check "60 seeds: every random start inside 2s..8s, every chance start on a try" test "$ok" = 1
check "60 seeds: the starts spread over the window ($spread)" test "$spread_ok" = 1
check "60 seeds: about 0.7^6 = 12% of the chance steps skipped ($missed of 60)" in_range "$missed" 1 18
for s in 11 22 33; do
	want=$(ctl --json plan --seed "$s" "$T/dice.ini" | python3 -c 'import json,sys; print([a["t_us"] / 1e6 for a in json.load(sys.stdin)["actions"] if a["action"] == "apply" and a["step"] == "cut"][0])')
	ctl run --seed "$s" "$T/dice.ini" >"$T/dice.out" 2>&1
	rep=$T/state/reports/$(run_id "$T/dice.out").json
	got=$(json "$rep" 'round(d["steps"][0]["start_s"] - '"$(method_s "$rep")"', 3)')
	record "run --seed $s: planned start ${want}s, measured ${got}s; maybe: $(json "$rep" 'd["steps"][1]["trigger"]')"
	check "run --seed $s: started where the plan said (${got}s vs ${want}s)" in_range "$(awk -v a="$got" -v b="$want" 'BEGIN { print a - b }')" -0.05 1
	check "run --seed $s: the report has the seed" test "$(json "$rep" 'd["seed"]')" = "$s"
done
check "seeded runs: kernel state as before" same_state "$T/before"

# --- the library, shortened, against the service
stop_chaosd
cat >"$T/chaosd.conf" <<CONF
[chaosd]
max_duration = 1h
link_rate = 2gbit

[edge backend]
interface = a0
destination = 10.77.0.2/32

[edge db]
interface = a0
destination = 10.77.0.3/32

[edge cache]
destination = 10.77.0.4
port = 6379
protocol = tcp

[edge queue]
destination = 10.77.0.4
port = 5672
protocol = tcp

[edge cell-b]
destination = 10.77.0.5/32
CONF
# The library runs against a real web server, nginx, answering at once: the TCG guest's own
# slowness must not fail a steady state before anything is injected.
kill "$service_pid"
wait "$service_pid" 2>/dev/null
cat >"$T/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
pid $T/nginx.pid;
error_log $T/nginx.err;
events { worker_connections 512; }
http {
	access_log off;
	client_body_temp_path $T/ngx-body;
	proxy_temp_path $T/ngx-proxy;
	fastcgi_temp_path $T/ngx-fastcgi;
	uwsgi_temp_path $T/ngx-uwsgi;
	scgi_temp_path $T/ngx-scgi;
	server {
		listen 10.77.0.2:8080;
		location / { return 200 "ok\n"; }
	}
}
NGINX
ip netns exec cd-b nginx -e "$T/nginx.err" -p "$T" -c "$T/nginx.conf" &
nginx_pid=$!
wait_until 30 port_open 10.77.0.2 8080
check "nginx serves the library's probes" A python3 -c 'import sys, urllib.request
sys.exit(urllib.request.urlopen("http://10.77.0.2:8080/", timeout=5).read() != b"ok\n")'
start_chaosd || exit 1
shrink() {
	python3 - "$1" "$SCALE" <<'PY'
import re, sys
UNITS = {"us": 1, "ms": 1000, "s": 10**6, "m": 60 * 10**6, "h": 3600 * 10**6, "d": 86400 * 10**6}
def usec(t):
    return sum(int(n) * UNITS[u] for n, u in re.findall(r"(\d+)(us|ms|s|m|h|d)", t))
scale = float(sys.argv[2])
def short(t, floor=0):
    return "%dms" % max(floor, round(usec(t) / scale / 1000))
out = []
for line in open(sys.argv[1]):
    if line.startswith("#") or "=" not in line or line.lstrip().startswith("["):
        out.append(line)
        if line.startswith("[probe"):
            out.append("interval = 250ms\ntimeout = 2s\n")
        continue
    key, value = (x.strip() for x in line.split("=", 1))
    value = value.split(" #")[0]
    if key in ("max_duration", "steady_state_duration", "interval", "timeout"):
        continue
    if key == "target" and value.startswith("http"):
        value = "http://10.77.0.2:8080/"
    elif key == "target":
        value = "10.77.0.3:5432"
    elif key in ("at", "for", "start_within"):
        value = re.sub(r"\d+(?:us|ms|s|m|h|d)+", lambda m: short(m.group(0), 1000 if key != "at" else 0), value)
    elif key == "ramp":
        value = re.sub(r"over (\S+)", lambda m: "over " + short(m.group(1), 1000), value)
    elif key == "chance":
        value = re.sub(r"every (\S+)", lambda m: "every " + short(m.group(1), 100), value)
    if key in ("abort_when", "steady_state", "start_when", "until"):
        value = re.sub(r"over (\S+)", lambda m: "over " + short(m.group(1), 4000), value)
    out.append("%s = %s\n" % (key, value))
sys.stdout.write("".join(out))
PY
}
for f in "$CHAOSD_SRCDIR"/conf/scenarios/*.ini; do
	name=$(basename "$f" .ini)
	shrink "$f" >"$T/lib-$name.ini"
	if ! ctl validate "$T/lib-$name.ini" >"$T/lib.out" 2>&1; then
		bad "library $name: the shortened copy does not validate: $(cat "$T/lib.out")"
		continue
	fi
	t0=$(date +%s)
	ctl run "$T/lib-$name.ini" >"$T/lib.out" 2>&1; rc=$?
	took=$(($(date +%s) - t0))
	rep=$T/state/reports/$(run_id "$T/lib.out").json
	if [ ! -s "$rep" ]; then
		bad "library $name: no report (exit $rc)"
		sed 's/^/  | /' "$T/lib.out" | tail -10
		continue
	fi
	record "library $name (1/$SCALE of its times, ${took}s): $(json "$rep" 'd["outcome"]') - $(json "$rep" 'd["reason"]'); steps: $(json "$rep" '"; ".join("%s on %s: %s, ended by %s, recovery %s" % (s["name"], s["edge"], s["trigger"], s["end_reason"], s["recovery_s"]) for s in d["steps"])')"
	check "library $name: ran to an outcome (exit $rc: held, violated or aborted)" in_range "$rc" 0 2
	check "library $name: kernel state as before" same_state "$T/before"
done
kill "$nginx_pid" 2>/dev/null
stop_chaosd
finish
