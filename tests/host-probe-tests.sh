#!/bin/bash
# make check: http, https and prometheus probes (libcurl on the daemon's loop) against real
# servers in a network namespace: nginx with a certificate of a test CA made here by openssl,
# and Debian's Prometheus scraping a metric this test rewrites. chaosd runs in cd-a, the
# servers in cd-b; every probe result is read back from the run's report.
set -uo pipefail
# shellcheck source=tests/host-lib.sh
. "$top_srcdir/tests/host-lib.sh" probe nft python3 openssl nginx prometheus curl
cleanup() {
	[ -n "${CHAOSD_PID:-}" ] && kill "$CHAOSD_PID" 2>/dev/null
	[ -n "${NGINX_PID:-}" ] && kill "$NGINX_PID" 2>/dev/null
	[ -n "${PROM_PID:-}" ] && kill "$PROM_PID" 2>/dev/null
	[ -n "${METRICS_PID:-}" ] && kill "$METRICS_PID" 2>/dev/null
	[ -n "${HANG_PID:-}" ] && kill "$HANG_PID" 2>/dev/null
}
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

topology || { echo "FAIL: topology"; exit 1; }
write_config
snapshot "$T/before"
start_chaosd || exit 1
# libcurl is loaded on the first http probe: an idle daemon has none of its libraries mapped
curl_mapped() { grep -q 'libcurl\.so' "/proc/$CHAOSD_PID/maps"; }
check "idle: libcurl is not mapped ($(grep -c '\.so' "/proc/$CHAOSD_PID/maps") library mappings)" \
	bash -c "! grep -q 'libcurl\\.so' /proc/$CHAOSD_PID/maps"

# --- a test CA and a server certificate for 10.77.0.2 signed by it
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-subj /CN=chaosd-test-ca -keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=10.77.0.2 \
	-keyout "$T/srv.key" -out "$T/srv.csr" 2>/dev/null
printf 'subjectAltName=IP:10.77.0.2\n' >"$T/san.ext"
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
	-days 1 -extfile "$T/san.ext" -out "$T/srv.pem" 2>/dev/null
check "test CA: the server certificate verifies against it" \
	openssl verify -CAfile "$T/ca.pem" "$T/srv.pem"

# --- nginx in cd-b: https on 8443, http on 8080
mkdir -p "$T/nginx"
cat >"$T/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $T/nginx/body;
	proxy_temp_path $T/nginx/proxy;
	fastcgi_temp_path $T/nginx/fastcgi;
	uwsgi_temp_path $T/nginx/uwsgi;
	scgi_temp_path $T/nginx/scgi;
	server {
		listen 10.77.0.2:8443 ssl;
		listen 10.77.0.2:8080;
		ssl_certificate $T/srv.pem;
		ssl_certificate_key $T/srv.key;
		location = /ok { return 200 "status: healthy\n"; }
		location = /down { return 503 "down\n"; }
		location = /redir { return 302 /ok; }
	}
}
CONF
ip netns exec cd-b nginx -p "$T/nginx" -c "$T/nginx.conf" >"$T/nginx/out.log" 2>&1 &
NGINX_PID=$!
# a server that accepts and never answers
ip netns exec cd-b python3 -c 'import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.0.2", 8099)); s.listen(16); c=[]
while True: c.append(s.accept())' >/dev/null 2>&1 &
HANG_PID=$!
check "nginx answers https with the test CA" wait_until 10 \
	A curl -sf --cacert "$T/ca.pem" -o /dev/null https://10.77.0.2:8443/ok

# --- Prometheus in cd-b scraping a metric this test controls, every second
mkdir -p "$T/metrics" "$T/tsdb"
set_metric() { # atomically: Prometheus never reads half a file
	printf '# TYPE app_error_ratio gauge\napp_error_ratio %s\n' "$1" >"$T/metrics/.m" &&
		mv "$T/metrics/.m" "$T/metrics/metrics"
}
set_metric 0.01
ip netns exec cd-b python3 -m http.server --bind 10.77.0.2 --directory "$T/metrics" 9100 \
	>/dev/null 2>&1 &
METRICS_PID=$!
cat >"$T/rules.yml" <<'YML'
groups:
  - name: chaosd-test
    interval: 1s
    rules:
      - alert: HighErrorRate
        expr: app_error_ratio > 0.5
        for: 0s
YML
cat >"$T/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["$T/rules.yml"]
scrape_configs:
  - job_name: app
    static_configs:
      - targets: ["10.77.0.2:9100"]
YML
ip netns exec cd-b prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
	--web.listen-address=10.77.0.2:9090 >"$T/prometheus.log" 2>&1 &
PROM_PID=$!
# query EXPR: the value Prometheus gives (empty when no series)
query() {
	A curl -sf --get --data-urlencode "query=$1" http://10.77.0.2:9090/api/v1/query |
		python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
metric_is() { [ "$(query app_error_ratio 2>/dev/null)" = "$1" ]; }
check "Prometheus scrapes the test's metric" wait_until 60 metric_is 0.01

# scenario NAME FOR PROBES: a bystander partition (edge cache, no probe goes there) for FOR
scenario() {
	cat >"$T/$1.ini" <<INI
[scenario]
name = $1
steady_state_duration = 1s
max_duration = 2m

$3

[step bystander]
at = 0s
fault = partition
edge = cache
for = $2
INI
}
# samples PROBE: "ok failed" counts of the last run's probe
samples() { json "$rep" "' '.join(str(n) for n in (lambda s: (sum(x[1] for x in s), sum(1 - x[1] for x in s)))([p for p in d['probes'] if p['name'] == '$1'][0]['samples']))"; }
all_ok() { local s; s=$(samples "$1"); [ "${s#* }" = 0 ] && [ "${s% *}" -ge 3 ]; }
all_failed() { local s; s=$(samples "$1"); [ "${s% *}" = 0 ] && [ "${s#* }" -ge 3 ]; }
failing_text() { json "$rep" "[e['text'] for e in d['timeline'] if e['text'].startswith('probe $1 failing')]"; }

# --- https, status ranges, body matches, redirects, timeouts, Prometheus down or refusing
# A timeout of 3 s: a loaded CI host (load 5 on 2 cores) was seen taking over 1 s for the two
# TLS handshakes of a redirect; the hung server's probe gives up after 1 s.
probe() { # NAME TARGET KEY-LINES...
	local name=$1 target=$2
	shift 2
	printf '[probe %s]\ntype = http\ntarget = %s\ninterval = 500ms\ntimeout = %s\n' "$name" \
		"$target" "$([ "$name" = hang ] && echo 1s || echo 3s)"
	printf '%s\n' "$@"
	echo
}
scenario web 3s "$(
	probe ca https://10.77.0.2:8443/ok "ca_file = $T/ca.pem" "expect_body = healthy"
	probe noca https://10.77.0.2:8443/ok
	probe noverify https://10.77.0.2:8443/ok "tls_verify = no"
	probe range http://10.77.0.2:8080/down "expect_status = 500-599"
	probe status http://10.77.0.2:8080/down
	probe body http://10.77.0.2:8080/ok "expect_body = unhealthy"
	probe redir https://10.77.0.2:8443/redir "ca_file = $T/ca.pem"
	probe follow https://10.77.0.2:8443/redir "ca_file = $T/ca.pem" "follow_redirects = yes" \
		"expect_body = healthy"
	probe hang http://10.77.0.2:8099/
	printf '[probe promdown]\ntype = prometheus\ntarget = http://10.77.0.2:9999\nquery = up\n\n'
	printf '[probe badquery]\ntype = prometheus\ntarget = http://10.77.0.2:9090\nquery = rate(\n\n'
)"
out=$(ctl validate "$T/web.ini" 2>&1)
check "validate: https and prometheus probes are accepted ($out)" grep -q "is valid here" <<<"$out"
out=$(ctl plan "$T/web.ini" 2>&1)
check "plan: shows a prometheus probe's query" grep -q "^      query rate($" <<<"$out"
ctl --json plan "$T/web.ini" >"$T/plan.json" 2>&1
check "plan --json: the query, valid against its schema" python3 -c "
import json, jsonschema
d = json.load(open('$T/plan.json'))
jsonschema.validate(d, json.load(open('$top_srcdir/doc/schema/chaosd.plan-1.json')))
assert [p.get('query') for p in d['probes'] if p['type'] == 'prometheus'] == ['up', 'rate(']"
t0=$(date +%s%N)
id=$(ctl run --detach "$T/web.ini")
# While 11 probes run (one stuck on a server that never answers, TLS handshakes, a refused
# Prometheus), the daemon answers: a probe waiting in the loop would hold a ping for the hung
# server's whole 1 s timeout (800 ms leaves room for a loaded CI host; idle, the worst is
# about 20 ms).
worst=0 all=
for _ in $(seq 15); do
	p0=$(date +%s%N)
	ctl ping >/dev/null 2>&1 || worst=99999
	p=$((($(date +%s%N) - p0) / 1000000))
	all="$all $p"
	[ "$p" -le "$worst" ] || worst=$p
	sleep 0.2
done
check "during the probes chaosctl ping answers within 800 ms (worst ${worst} ms of$all)" test "$worst" -lt 800
ctl watch "$id" >"$T/run.out" 2>&1; rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
rep=$T/state/reports/$id.json
check "web run: held (exit $rc, no abort_when anywhere), in ${ms} ms" test "$rc" = 0
check "https with ca_file: every probe ok ($(samples ca))" all_ok ca
check "https without ca_file: every probe failed ($(samples noca))" all_failed noca
check "  and the report says it is the certificate: $(failing_text noca)" grep -q "certificate" <<<"$(failing_text noca)"
check "https with tls_verify = no: every probe ok ($(samples noverify))" all_ok noverify
check "expect_status = 500-599 takes a 503 ($(samples range))" all_ok range
check "a 503 against the default 200 fails ($(samples status))" all_failed status
check "  with the status in the reason: $(failing_text status)" grep -q "HTTP status 503, expected 200" <<<"$(failing_text status)"
check "expect_body not in the body fails ($(samples body))" all_failed body
check "  with the reason: $(failing_text body)" grep -q "lacks 'unhealthy'" <<<"$(failing_text body)"
check "a redirect is not followed by default ($(samples redir))" all_failed redir
check "  the 302 is the answer: $(failing_text redir)" grep -q "HTTP status 302, expected 200" <<<"$(failing_text redir)"
check "follow_redirects = yes reaches the body behind it ($(samples follow))" all_ok follow
check "a server that never answers times out ($(samples hang))" all_failed hang
check "  with the reason: $(failing_text hang)" grep -qi "timed out" <<<"$(failing_text hang)"
check "Prometheus down: a probe failure ($(samples promdown))" all_failed promdown
check "  with the reason: $(failing_text promdown)" grep -qi "connect" <<<"$(failing_text promdown)"
check "a query Prometheus refuses: a probe failure ($(samples badquery))" all_failed badquery
check "  with Prometheus' own error: $(failing_text badquery)" grep -q "Prometheus answered error: bad_data" <<<"$(failing_text badquery)"
check "web run: kernel state as before" same_state "$T/before"
check "after http probes: libcurl is mapped" curl_mapped

# run_until_abort NAME QUERY THRESHOLD VALUE: a run with one prometheus probe aborting when its
# value > THRESHOLD; 4 s into it the metric becomes VALUE. Sets rep, abort_s, first_s (the first
# sample past the threshold), wall_s (from the metric's rewrite to the run's end, as chaosctl
# saw it).
run_until_abort() {
	scenario "$1" 60s "[probe $1]
type = prometheus
target = http://10.77.0.2:9090
query = $2
interval = 1s
timeout = 500ms
abort_when = value > $3 over 1500ms"
	id=$(ctl run --detach "$T/$1.ini")
	sleep 4
	local tw te
	tw=$(date +%s%N)
	set_metric "$4"
	ctl watch "$id" >"$T/$1.out" 2>&1; rc=$?
	te=$(date +%s%N)
	wall_s=$(awk -v a="$tw" -v b="$te" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
	rep=$T/state/reports/$id.json
	abort_s=$(json "$rep" 'd.get("abort_at_s", -1)')
	first_s=$(json "$rep" "min([t for t, v in d['probes'][0]['values'] if v is None or v > $3], default=-1)")
	sed 's/^/  | /' "$T/$1.out" | grep -E "abort|outcome" | head -5
}

# abort_checks NAME REASON BEFORE AFTER WHAT: after run_until_abort, the run aborted for REASON,
# every value before the crossing was BEFORE, then AFTER, and the abort came within two probe
# intervals
abort_checks() {
	local before lat reason
	before=$(json "$rep" "[v for t, v in d['probes'][0]['values'] if t < $first_s]")
	reason=$(json "$rep" 'd["reason"]')
	check "$1: exit 2 (aborted)" test "$rc" = 2
	check "$1: the reason names the probe, value and condition: $reason" grep -q "$2" <<<"$reason"
	check "$1: before the change every value read $3 ($before)" python3 -c "import sys; v=$before; sys.exit(not (len(v) >= 2 and set(v) == {$3}))"
	lat=$(awk -v a="$abort_s" -v f="$first_s" 'BEGIN { printf "%.3f", a - f }')
	ctl --json watch "$id" >"$T/$1.watch.json" 2>&1
	check "$1: watch --json shows the latest value, $4" python3 -c "
import json, jsonschema
d = json.load(open('$T/$1.watch.json'))
jsonschema.validate(d, json.load(open('$top_srcdir/doc/schema/chaosd.watch-1.json')))
assert d['probes'][0]['value'] == $4, d['probes']"
	check "$1: the text report gives the method's values, $3..$4" grep -Eq "^  method .* value $3\.\.$4\$" "${rep%.json}.txt"
	record "$1 abort: $5 first seen at ${first_s}s, abort at ${abort_s}s (${lat}s later); ${wall_s}s from the metric's rewrite to the run's end (scrape 1s, rule evaluation 1s, probe interval 1s)"
	check "$1: aborted within two probe intervals of the first value past the threshold (${lat}s)" in_range "$lat" 0 2
	check "$1: within scrape + evaluation + two intervals of the metric's change (${wall_s}s)" in_range "$wall_s" 0 4
	check "$1: kernel state as before" same_state "$T/before"
}

# --- a query crossing its threshold aborts within two probe intervals
run_until_abort slo app_error_ratio 0.05 0.2
abort_checks slo "probe slo: value 0.2 over .* (abort_when value > 0.05 over 1s500ms)" 0.01 0.2 \
	"the value past 0.05"

# --- an alert rule firing aborts it too; no firing alert is an empty vector: 0
set_metric 0.01
check "the alert is not firing again" wait_until 10 metric_is 0.01
run_until_abort alert 'ALERTS{alertname="HighErrorRate",alertstate="firing"}' 0 0.9
abort_checks alert "probe alert: value 1 over .* (abort_when value > 0 over 1s500ms)" 0 1 \
	"the firing alert"
ctl report "$id" --html >"$T/alert.html"
check "report --html: a prometheus probe's chart draws its values" python3 -c "
import re, sys
h = open('$T/alert.html').read()
m = re.search(r'<polyline class=\"value\"[^>]* points=\"([^\"]*)\"', h)
pts = [tuple(map(float, p.split(','))) for p in m.group(1).split()] if m else []
ys = [y for x, y in pts]
# 0 before the alert fired, 1 (the top of the scale, less its 10% headroom) after
sys.exit(not (len(pts) >= 3 and max(ys) > min(ys) + 50 and \"the query's value\" in h))"
check "the report validates against its schema" python3 -c "
import json, jsonschema, sys
jsonschema.validate(json.load(open('$rep')), json.load(open('$top_srcdir/doc/schema/chaosd.report-1.json')))"

# --- a host without libcurl4: a run with an http probe is refused before anything is applied,
# naming the probe, the library and the package; the daemon stays up. The daemon is restarted in
# a mount namespace of its own where libcurl.so.4 is /dev/null (dlopen: "file too short").
stop_chaosd
lib=$(ldconfig -p | sed -n 's/^\s*libcurl\.so\.4 (.*x86-64.*) => //p' | head -n 1)
lib=$(readlink -f "${lib:-/nonexistent}")
check "libcurl.so.4 found to hide ($lib)" test -f "$lib"
ip netns exec cd-a unshare -m --propagation private sh -c 'mount --bind /dev/null "$1" && shift &&
	exec "$@"' sh "$lib" "$CHAOSD" --config "$T/chaosd.conf" --socket "$SOCK" \
	--state-dir "$T/state" >>"$T/chaosd.log" 2>&1 &
CHAOSD_PID=$!
check "chaosd starts without libcurl" wait_until 10 ctl ping
scenario nocurl 3s "$(probe ok http://10.77.0.2:8080/ok)"
n_reports=$(ls "$T/state/reports" | wc -l)
out=$(ctl run "$T/nocurl.ini" 2>&1)
rc=$?
echo "$out"
check "without libcurl: chaosctl run is refused (exit $rc)" test "$rc" -ne 0 -a "$rc" -ne 1 -a "$rc" -ne 2
check "  naming the probe, the library and the package" \
	grep -q "probe 'ok' (http): libcurl.so.4 cannot be loaded (.*); http, https and prometheus probes need the libcurl4 package" <<<"$out"
check "  no run started: no report written ($(ls "$T/state/reports" | wc -l), was $n_reports)" \
	test "$(ls "$T/state/reports" | wc -l)" = "$n_reports"
check "  no step applied: kernel state as before (the scenario's partition on cache absent)" \
	same_state "$T/before"
check "  and the daemon still answers" ctl ping
scenario nocurl-tcp 2s "$(printf '[probe t]\ntype = tcp\ntarget = 10.77.0.2:8080\ninterval = 500ms\n')"
ctl run "$T/nocurl-tcp.ini" >"$T/nocurl-tcp.out" 2>&1
rc=$?
check "without libcurl: a run with only tcp probes still runs and holds (exit $rc)" test "$rc" = 0
check "without libcurl: kernel state as before" same_state "$T/before"

finish
