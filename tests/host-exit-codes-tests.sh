#!/bin/bash
# make check: chaosctl's exit status against a running chaosd (network namespaces, this
# machine's kernel), each case checked against the number chaosctl(1)'s EXIT STATUS gives it:
# every verb's usage error, refusals, a run held, violated and aborted, chaosd unreachable;
# revert of several ids; plain output never carries a stored string's control bytes.
set -uo pipefail
# shellcheck source=tests/host-lib.sh
. "$top_srcdir/tests/host-lib.sh" exit-codes nft python3
cleanup() {
	[ -n "${CHAOSD_PID:-}" ] && kill "$CHAOSD_PID" 2>/dev/null
	[ -n "${HTTP_PID:-}" ] && kill "$HTTP_PID" 2>/dev/null
	ip netns del cd-a 2>/dev/null
	ip netns del cd-b 2>/dev/null
}

# The numbers from the man page: ".B N" then "(NAME) meaning".
MAN=$top_builddir/man/chaosctl.1
declare -A CODE
while read -r n name; do
	CODE[$name]=$n
done < <(sed -n '/^\.SH EXIT STATUS/,/^\.SH /p' "$MAN" |
	awk '/^\.B [0-9]+$/ { n = $2; next } n != "" && /^\(/ { sub(/^\(/, ""); sub(/\).*/, ""); print n, $0; n = "" }')
check "chaosctl(1) states 6 exit codes ($(for k in "${!CODE[@]}"; do printf '%s=%s ' "$k" "${CODE[$k]}"; done))" \
	test "${#CODE[@]}" = 6
check "chaosctl(1)'s codes are distinct" \
	test "$(printf '%s\n' "${CODE[@]}" | sort -u | wc -l)" = 6
for k in ok violated aborted failed usage unreachable; do
	[ -n "${CODE[$k]:-}" ] || { bad "chaosctl(1) has no '$k' exit code"; CODE[$k]=x; }
done

# expect CASE ARGS...: chaosctl ARGS (against our chaosd) exits with the man page's CASE;
# a failure (not a run's outcome) says why on stderr
expect() {
	local want=$1 rc
	shift
	ctl "$@" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" != "${CODE[$want]}" ]; then
		bad "chaosctl $*: exit $rc, chaosctl(1) says $want is ${CODE[$want]}: $(head -c 300 "$T/err")"
	elif [[ $want == @(failed|usage|unreachable) ]] && [ ! -s "$T/err" ]; then
		bad "chaosctl $*: exit $rc ($want) but nothing on stderr says why"
	else
		ok "chaosctl $*: exit $rc ($want)"
	fi
}
faults() { ctl --json status | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["faults"]))'; }
inject_id() { ctl --json inject "$@" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'; }

topology || { echo "FAIL: topology"; exit 1; }
write_config
start_chaosd || exit 1

# --- usage errors: every verb, and the global options; nothing is sent
expect usage frobnicate
expect usage --frobnicate status
expect usage --socket
expect usage -H http://h status
expect usage inject
expect usage inject wobble --edge db
expect usage inject latency --ms 10
expect usage inject latency --edge db --ms lots
expect usage status extra
expect usage revert
expect usage revert 1 --edge db 2
expect usage kill --bogus
expect usage kill --reason
expect usage arm extra
expect usage edges extra
expect usage ping extra
expect usage renew
expect usage run
expect usage run a.ini b.ini
expect usage validate
expect usage plan
expect usage watch a b
expect usage abort a b
expect usage report a b
expect usage --json report --html
expect usage metrics extra
check "usage errors changed nothing: no faults ($(faults))" test "$(faults)" = 0

# --- refused by chaosd
expect failed inject partition --edge nosuch
expect failed revert 9999
expect failed renew 9999
expect failed abort
expect failed watch nosuch
expect failed report nosuch
expect failed arm --edge nosuch
printf '[scenario]\nname = broken\n[step s]\nat = 0s\nfault = latency\nedge = db\nms = -5\n' \
	>"$T/broken.ini"
expect failed validate "$T/broken.ini"
expect failed plan "$T/broken.ini"
expect failed run "$T/broken.ini"
check "refusals changed nothing: no faults ($(faults))" test "$(faults)" = 0

# --- the verbs that succeed
expect ok ping
expect ok status
expect ok edges
expect ok metrics
expect ok kill --reason "exit codes"
expect failed inject partition --edge db
expect ok arm

# --- revert of several ids: one request each, every one reverted
a=$(inject_id partition --edge db --for 5m)
b=$(inject_id partition --edge cache --for 5m)
check "two faults to revert (ids '$a' '$b', $(faults) active)" test "$(faults)" = 2
expect ok revert "$a" "$b"
check "revert $a $b: one line per id" \
	test "$(cat "$T/out")" = "$a: reverted 1 fault(s)
$b: reverted 1 fault(s)"
check "revert $a $b reverted both ($(faults) left)" test "$(faults)" = 0
a=$(inject_id partition --edge db --for 5m)
expect failed revert 9999 "$a"
check "revert 9999 $a: the unknown id is named" grep -q "9999" "$T/err"
check "revert 9999 $a: $a was still reverted ($(faults) left)" test "$(faults)" = 0
a=$(inject_id partition --edge db --for 5m)
b=$(inject_id partition --edge cache --for 5m)
expect ok --json revert "$a" "$b"
check "revert --json of two ids: one document, reverted 2" \
	test "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["reverted"])' "$T/out")" = 2

# --- runs: held, violated, aborted
ip netns exec cd-b python3 -m http.server --bind 10.77.0.3 8080 >/dev/null 2>&1 &
HTTP_PID=$!
wait_until 5 A timeout 1 bash -c 'exec 3<>/dev/tcp/10.77.0.3/8080' 2>/dev/null
scenario() { # scenario NAME PROBE-TARGET STEP-LENGTH (a partition of cache, not the probe)
	cat >"$T/$1.ini" <<INI
[scenario]
name = $1
[probe web]
type = tcp
target = $2
interval = 100ms
timeout = 500ms
steady_state = success_rate >= 90% over 1s
[step cut]
at = 0s
fault = partition
edge = cache
for = $3
INI
}
scenario held 10.77.0.3:8080 1s
scenario violated 10.77.0.3:8081 1s
scenario long 10.77.0.3:8080 10m
expect ok validate "$T/held.ini"
expect ok plan "$T/held.ini"
expect ok run "$T/held.ini"
expect violated run "$T/violated.ini"
expect ok run --detach "$T/long.ini"
id=$(cat "$T/out")
expect ok abort "$id"
expect aborted watch "$id"
expect ok report "$id"

# --- chaosd not reached
expect unreachable --socket "$T/nosuch.sock" status
expect unreachable --socket "$T/nosuch.sock" revert 1 2
expect unreachable --socket "$T/nosuch.sock" validate "$T/held.ini"

# --- plain output: a stored string's control bytes come out as \xNN, never raw
esc=$'\e]0;pwned\a\e[2J'
# chaosd refuses control bytes in what it would store: a failure naming the field
expect failed kill --reason "$esc"
check "the refusal names the field" grep -q 'reason: control character U+001B' "$T/err"
ctl status >"$T/status.out" 2>&1
check "status writes no raw control byte" bash -c "! LC_ALL=C grep -q \$'[\\x01-\\x08\\x0b-\\x1f\\x7f]' '$T/status.out'"
# A history an older chaosd wrote may hold them anyway: printed escaped.
printf '1700000000000000\t0\t1\t*\t0\t0\tok\t%s\n' "$esc" >>"$T/state/kill-history"
ctl kill --history >"$T/history.out" 2>&1
check "kill --history shows an old reason escaped" grep -qF '\x1b]0;pwned\x07\x1b[2J' "$T/history.out"
check "kill --history writes no raw control byte" bash -c "! LC_ALL=C grep -q \$'[\\x01-\\x08\\x0b-\\x1f\\x7f]' '$T/history.out'"
expect failed inject partition --edge "no${esc}such"
check "a relayed error names the field" grep -qF 'edge: control character U+001B' "$T/err"
check "a relayed error writes no raw control byte" bash -c "! LC_ALL=C grep -q \$'[\\x01-\\x08\\x0b-\\x1f\\x7f]' '$T/err'"
# Invalid UTF-8: chaosd may take it or refuse it; either way what chaosctl prints is UTF-8.
bad_utf8=$'caf\xc3 \xff'
ctl kill --reason "$bad_utf8" >"$T/kill.out" 2>"$T/kill.err"
ctl status >"$T/status.out" 2>&1
check "invalid UTF-8 in a reason: status and kill print valid UTF-8 only" \
	iconv -f UTF-8 -t UTF-8 "$T/status.out" "$T/kill.out" "$T/kill.err" -o /dev/null
check "invalid UTF-8 in a reason: kept (as U+FFFD) or refused" bash -c \
	"grep -qF \$'caf\\xef\\xbf\\xbd \\xef\\xbf\\xbd' '$T/status.out' || [ -s '$T/kill.err' ]"
ctl arm >/dev/null 2>&1
finish
