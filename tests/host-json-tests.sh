#!/bin/bash
# make check: every chaosctl --json document of a running chaosd (network namespaces, this
# machine's kernel) validated against its JSON Schema in doc/schema/ by Debian's
# python3-jsonschema: once as shipped, once made strict (no field the schema does not list),
# so a field added to the output without its schema fails here. Status and reports are also
# checked against what the test did and what the kernel holds.
set -uo pipefail
# shellcheck source=tests/host-lib.sh
. "$top_srcdir/tests/host-lib.sh" json tc nft ping
# Debian's interpreter, whatever python3 comes first in PATH: the validator is a Debian package.
PY=/usr/bin/python3
$PY -c 'import jsonschema' 2>/dev/null ||
	skip_or_fail "python3-jsonschema missing: run tests/install-deps.sh"
cleanup() {
	[ -n "${CHAOSD_PID:-}" ] && kill "$CHAOSD_PID" 2>/dev/null
	[ -n "${HTTP_PID:-}" ] && kill "$HTTP_PID" 2>/dev/null
}
SCHEMAS=$top_srcdir/doc/schema
J=$T/json
mkdir -p "$J"

# out NAME WANT-EXIT chaosctl-args...: stdout to $J/NAME.json; the exit status must be WANT-EXIT
out() {
	local name=$1 want=$2 rc
	shift 2
	ctl "$@" >"$J/$name.json" 2>"$J/$name.err"
	rc=$?
	if [ "$rc" = "$want" ]; then ok "chaosctl $* exits $rc"; else
		bad "chaosctl $* exits $rc, want $want: $(cat "$J/$name.err")"
	fi
}
# field NAME EXPR: a Python expression on the document d ("a, b" prints as a tuple)
field() {
	$PY -c 'import json, sys; print(eval(sys.argv[2], {"d": json.load(open(sys.argv[1]))}))' \
		"$J/$1.json" "$2"
}
is() { # is NAME EXPR WANT
	local got
	got=$(field "$1" "$2" 2>&1)
	if [ "$got" = "$3" ]; then ok "$1: $2 = $got"; else bad "$1: $2 = '$got', want '$3'"; fi
}

topology || { echo "FAIL: topology"; exit 1; }
write_config
start_chaosd || exit 1

# --- faults, status, the kill switch
out edges 0 --json edges
out inject 0 --json inject partition --edge db --for 10m
out inject-flows 0 inject partition --edge cache --for 10m --flows 5% --json
out status 0 status --json
is status "[f['edge'] + ':' + f['kind'] for f in d['faults']]" "['db:partition', 'cache:partition']"
ids="[$(field inject "d['id']"), $(field inject-flows "d['id']")]"
is status "[f['id'] for f in d['faults']] == $ids" True
is status "d['killed'], d['kills']" "('no', [])"
# -H with several hosts: one chaosd.hosts document, each host's own inside (one unreachable)
A "$CHAOSCTL" --json -H "unix://$SOCK,unix://$T/nonexistent.sock" status >"$J/hosts.json" 2>/dev/null
is hosts "d['ok'], [(h['exit'], h['result']['schema']) for h in d['hosts']]" \
	"(False, [(0, 'chaosd.status/2'), (5, 'chaosd.error/1')])"
# what status says is what the kernel holds: chaosd's nftables table drops db's address
# grep reads it all: with -q, nft could die of SIGPIPE and pipefail fail the check
nft_has_db() { A nft list table inet chaosd 2>/dev/null | grep '10.77.0.2' >/dev/null; }
check "status' partition on db is in the kernel (nft table inet chaosd)" nft_has_db
lost=$(A ping -c 3 -i 0.2 -W 1 10.77.0.2 2>/dev/null | grep -o '[0-9]*% packet loss')
check "and it drops db's traffic (ping: $lost)" test "$lost" = "100% packet loss"
out revert 0 --json revert --edge cache
out kill-edge 0 --json kill --edge db --for 1h --reason "json edge"
is kill-edge "d['edge'], d['for_us'], d['reverted']" "('db', 3600000000, 1)"
no_db() { ! nft_has_db; }
check "after kill --edge db nothing of db is in the kernel" no_db
out arm-edge 0 --json arm --edge db
out kill 0 --json kill --reason "json test"
out status-killed 0 --json status
is status-killed "d['killed'], d['kill_reason'], [k['edge'] for k in d['kills']], d['faults']" \
	"('yes', 'json test', ['*'], [])"
out history 0 --json kill --history
is history "[(a['edge'], a['reason']) for a in d['activations']]" \
	"[('db', 'json edge'), ('*', 'json test')]"
out arm 0 --json arm
is arm "d['released']" 1
out ping 0 --json ping
out metrics 0 --json metrics
# a lease: inject holds it (progress on stderr, the document on stdout) and renew extends it
# ip netns exec execs chaosctl: $! is chaosctl itself, and the signal reaches it
ip netns exec cd-a "$CHAOSCTL" --socket "$SOCK" --json inject partition --edge db --lease 5s \
	>"$J/inject-lease.json" 2>"$J/inject-lease.err" &
LEASE_PID=$!
wait_until 5 bash -c "[ -s '$J/inject-lease.json' ]"
out renew 0 --json renew "$(field inject-lease "d['id']")"
is renew "d['renewed']" 1
kill -TERM "$LEASE_PID"
wait "$LEASE_PID"
check "inject --lease --json: chaosctl exits 0 at SIGTERM ($?)" test $? = 0
check "and printed its progress on stderr" grep -q 'reverted fault' "$J/inject-lease.err"
check "and reverted the fault" no_db

# --- errors are documents too, with the same exit status
out err-edge 3 --json inject partition --edge nosuch
is err-edge "d['ok'], d['schema'], 'nosuch' in d['error'], d['errno'] > 0" \
	"(False, 'chaosd.error/1', True, True)"
out err-usage 4 inject latency --edge db --ms lots --json
is err-usage "d['schema'], 'errno' in d" "('chaosd.error/1', False)"
A "$CHAOSCTL" --socket "$T/nosuch.sock" --json status >"$J/err-socket.json" 2>/dev/null
is err-socket "d['ok'], 'cannot reach chaosd' in d['error']" "(False, True)"
printf '[scenario]\nname = broken\n[step s]\nat = 0s\nfault = latency\nedge = db\nms = -5\n' \
	>"$T/broken.ini"
out err-scenario 3 --json validate "$T/broken.ini"
is err-scenario "'broken.ini:7' in d['details']" True
out err-abort 3 --json abort
out err-report-html 4 --json report --html

# --- scenarios: validate, plan, run (detached, then watched), abort, run in the foreground
ip netns exec cd-b python3 -m http.server --bind 10.77.0.3 8080 >/dev/null 2>&1 &
HTTP_PID=$!
wait_until 5 A timeout 1 bash -c 'exec 3<>/dev/tcp/10.77.0.3/8080' 2>/dev/null
cat >"$T/s.ini" <<'INI'
[scenario]
name = json-probe
description = schema test
[probe web]
type = tcp
target = 10.77.0.3:8080
interval = 100ms
timeout = 500ms
steady_state = success_rate >= 90% over 1s
[step cut]
at = 0s
fault = partition
edge = db
for = 2s
INI
sed 's/^name = .*/name = json-long/; s/^for = 2s/for = 10m/' "$T/s.ini" >"$T/long.ini"
out validate 0 --json validate "$T/s.ini"
out plan 0 plan "$T/s.ini" --json
is plan "[(a['t_us'], a['action'], a['step']) for a in d['actions']]" \
	"[(0, 'apply', 'cut'), (2000000, 'revert', 'cut')]"
out run-detach 0 --json run --detach "$T/s.ini"
out watch 0 --json watch "$(field run-detach "d['run']")"
is watch "d['state'], d['outcome'], d['exit_code']" "('finished', 'held', 0)"
is watch "[e['seq'] for e in d['events']] == list(range(len(d['events']))), len(d['events']) > 3" \
	"(True, True)"
out report 0 --json report "$(field run-detach "d['run']")"
is report "d['schema'], d['id'] == '$(field run-detach "d['run']")', d['outcome']" \
	"('chaosd.report/1', True, 'held')"
is report "[e['event'] for e in d['timeline'] if 'step' in e]" "['apply', 'step', 'revert', 'step']"
is report "sum(s[1] for s in d['probes'][0]['samples']) > 10" True
out run-long 0 --json run --detach "$T/long.ini"
wait_until 5 nft_has_db
out abort 0 --json abort
is abort "d['aborted']" 1
out watch-aborted 2 --json watch "$(field run-long "d['run']")"
is watch-aborted "d['outcome'], d['exit_code']" "('aborted', 2)"
out report-aborted 0 report --json "$(field run-long "d['run']")"
is report-aborted "d['outcome'], 'abort_at_s' in d" "('aborted', True)"
out run 0 --json run "$T/s.ini"
is run "d['outcome'], d['events'][0]['kind'], d['events'][-1]['kind']" "('held', 'start', 'end')"

# --- every document against its schema, as shipped and strict
$PY - "$J" "$SCHEMAS" <<'PY' || bad "schema validation (above)"
import copy, glob, json, os, sys
from jsonschema import Draft202012Validator as V

jdir, sdir = sys.argv[1:]
def strict(s):
    s = copy.deepcopy(s)
    def walk(o):
        if isinstance(o, dict):
            if "properties" in o:
                o["additionalProperties"] = False
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(s)
    return s
schemas = {}
for p in sorted(glob.glob(os.path.join(sdir, "*.json"))):
    s = json.load(open(p))
    V.check_schema(s)
    name = s["properties"]["schema"]["const"]
    assert os.path.basename(p) == name.replace("/", "-") + ".json", (p, name)
    schemas[name] = s
seen, bad = set(), 0
for p in sorted(glob.glob(os.path.join(jdir, "*.json"))):
    text = open(p).read()
    try:
        d = json.loads(text)  # one document, nothing else on stdout
    except ValueError as e:
        print(f"FAIL: {os.path.basename(p)}: not one JSON document: {e}: {text[:200]!r}")
        bad += 1
        continue
    name = d.get("schema")
    if name not in schemas:
        print(f"FAIL: {os.path.basename(p)}: schema {name!r} has no file in doc/schema")
        bad += 1
        continue
    seen.add(name)
    n_errs = 0
    for how, s in (("shipped", schemas[name]), ("strict", strict(schemas[name]))):
        errs = list(V(s).iter_errors(d))
        for e in errs:
            print(f"FAIL: {os.path.basename(p)} against {name} ({how}): "
                  f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}")
        bad += len(errs)
        n_errs += len(errs)
    if not n_errs:
        print(f"PASS: {os.path.basename(p)} is valid {name} (shipped and strict)")
for name in sorted(set(schemas) - seen):
    print(f"FAIL: no output of the test was {name}")
    bad += 1
# the validator does see a mismatch: a fault id as a string, an unlisted field
d = json.load(open(os.path.join(jdir, "status.json")))
d["faults"][0]["id"] = str(d["faults"][0]["id"])
d2 = json.load(open(os.path.join(jdir, "inject.json")))
d2["surprise"] = 1
if V(schemas["chaosd.status/2"]).is_valid(d) or V(strict(schemas["chaosd.inject/1"])).is_valid(d2) \
        or not V(schemas["chaosd.inject/1"]).is_valid(d2):
    print("FAIL: the validator does not catch a wrong type, or an unlisted field when strict")
    bad += 1
print(f"{len(seen)} schemas of {len(schemas)} checked against "
      f"{len(glob.glob(os.path.join(jdir, '*.json')))} documents: {bad} errors")
sys.exit(bad != 0)
PY
# chaosctl(1) names every schema chaosctl prints (ctl/json.c's table) and each has its file
ids=$(grep -o '^\.B chaosd\.[a-z-]*/[0-9]*' "$top_builddir/man/chaosctl.1" | cut -c4-)
check "chaosctl(1) lists $(echo "$ids" | wc -l) schemas, one file each in doc/schema" bash -c "
	[ \$(echo '$ids' | wc -l) = \$(ls '$SCHEMAS' | wc -l) ] &&
	for i in $(echo $ids); do [ -f '$SCHEMAS'/\$(echo \$i | tr / -).json ] || exit 1; done"
finish
