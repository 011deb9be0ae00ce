#!/bin/bash
# chaosd under a real systemd (run inside the VM by tests/vm-systemd-tests.sh through
# `tests/vm/run.sh --systemd`): installed as `make install` would, socket-activated, and checked
# on what systemd, the journal and the kernel show. Writes go to the guest's tmpfs overlay only.
set -uo pipefail
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

# Under systemd chaosd runs in the guest's root namespace, so lib.sh's "host under test"
# (snapshot, same_state, rtt) is the root namespace here, not cd-a.
A() { "$@"; }
ctl() { timeout 30 chaosctl "$@"; }
CONF=/etc/chaosd/chaosd.conf
SVC=chaosd.service
prop() { systemctl show -P "$1" "$2"; } # prop PROPERTY UNIT
is() { [ "$(prop "$1" "$2")" = "$3" ]; } # is PROPERTY UNIT VALUE
journal_has() { journalctl -q -u "$SVC" -o cat | grep -qF -- "$1"; }
# audit_has ACTION [FIELD=VALUE...]: a structured journal entry with those fields.
audit_has() {
	local action=$1
	shift
	journalctl -q CHAOSD_ACTION="$action" -o json | python3 -c '
import json, sys
want = dict(a.split("=", 1) for a in sys.argv[1:])
sys.exit(0 if any(all(e.get(k) == v for k, v in want.items())
                  for e in map(json.loads, filter(str.strip, sys.stdin))) else 1)' "$@"
}

# The edges chaosd has loaded, from its JSON reply.
edge_names() {
	ctl --json edges | python3 -c 'import json, sys
print(" ".join(e["name"] for e in json.load(sys.stdin)["edges"]))'
}

write_conf() { # write_conf EDGE...: edges db (10.77.0.2) and/or web (10.77.0.4) on a0
	{
		printf '[chaosd]\ndefault_duration = 5m\nmax_duration = 1h\nlink_rate = 2gbit\n'
		printf 'socket_group = chaos\n'
		for e in "$@"; do
			case $e in
			db) printf '\n[edge db]\ninterface = a0\ndestination = 10.77.0.2/32\n' ;;
			web) printf '\n[edge web]\ninterface = a0\ndestination = 10.77.0.4/32\n' ;;
			esac
		done
	} >"$CONF.tmp" && mv "$CONF.tmp" "$CONF"
}

uname -r
systemctl --version | head -n 1

# --- install as `make install` would (prefix /usr), into the guest's overlay
install -m 0755 "$CHAOSD_BUILDDIR/chaosd" /usr/sbin/chaosd
install -m 0755 "$CHAOSD_BUILDDIR/chaosctl" /usr/bin/chaosctl
install -m 0644 "$CHAOSD_SRCDIR/systemd/chaosd.service" "$CHAOSD_SRCDIR/systemd/chaosd.socket" \
	/etc/systemd/system/
install -D -m 0644 "$CHAOSD_SRCDIR/systemd/chaosd-sysusers.conf" /etc/sysusers.d/chaosd-sysusers.conf
install -D -m 0644 "$CHAOSD_SRCDIR/systemd/chaosd-tmpfiles.conf" /etc/tmpfiles.d/chaosd-tmpfiles.conf
systemd-sysusers /etc/sysusers.d/chaosd-sysusers.conf
systemd-tmpfiles --create /etc/tmpfiles.d/chaosd-tmpfiles.conf
check "sysusers created group chaos ($(getent group chaos))" getent group chaos

# --- topology: a0 in the root namespace (where the unit runs), peer b0 in cd-b
ip netns add cd-b
ip link add a0 type veth peer name b0 netns cd-b
B ip link set lo up
ip addr add 10.77.0.1/24 dev a0
for a in 2 3 4; do B ip addr add "10.77.0.$a/24" dev b0; done
ip link set a0 up
B ip link set b0 up
check "topology: 10.77.0.2 answers" ping -c 1 -W 2 10.77.0.2
IFX=$(cat /sys/class/net/a0/ifindex)
mkdir -p /etc/chaosd
write_conf db web
check "chaosd --check-config accepts the config" chaosd --check-config
systemctl daemon-reload
snapshot "$T/before"
echo "--- snapshot before any fault:"
cat "$T/before"

# --- socket activation
systemctl start chaosd.socket
st=$(systemctl is-active chaosd.socket)
check "chaosd.socket is active (got $st)" test "$st" = active
st=$(systemctl is-active "$SVC")
check "chaosd.service not running before the first client (got $st)" test "$st" = inactive
perm=$(stat -c '%a %U:%G %F' /run/chaosd/chaosd.sock)
check "socket is mode 0660 root:chaos (got $perm)" test "$perm" = "660 root:chaos socket"
out=$(ctl status 2>&1)
echo "$out"
check "chaosctl status through the socket works (got '$out')" grep -q "No active faults" <<<"$out"
st=$(systemctl is-active "$SVC")
check "chaosctl started chaosd.service by socket activation (got $st)" test "$st" = active
wait_until 5 is StatusText "$SVC" "0 active faults"
st=$(prop StatusText "$SVC")
check "StatusText says '0 active faults' (got '$st')" test "$st" = "0 active faults"
st="$(prop Type "$SVC") $(prop ActiveState "$SVC")/$(prop SubState "$SVC") $(prop NotifyAccess "$SVC")"
check "Type=notify reached READY (got '$st')" test "$st" = "notify active/running main"
wd=$(prop WatchdogUSec "$SVC")
check "WatchdogUSec is 10s (got $wd)" test "$wd" = 10s
pid0=$(prop MainPID "$SVC")
t_wd=$(now_ms)
wd0=$(prop WatchdogTimestampMonotonic "$SVC")

# --- a fault, measured
rtt 10.77.0.2 20
base=$RTT
out=$(ctl inject latency --edge db --ms 100 --for 10m 2>&1)
echo "$out"
check "inject latency on db (got '$out')" grep -q "injected fault 1" <<<"$out"
wait_until 5 is StatusText "$SVC" "1 active fault"
st=$(prop StatusText "$SVC")
check "StatusText says '1 active fault' (got '$st')" test "$st" = "1 active fault"
rtt 10.77.0.2 30
lat=$RTT
rtt 10.77.0.3 30
other=$RTT
record "systemd: rtt to db 10.77.0.2 ${base} ms before, ${lat} ms with 100ms; 10.77.0.3 ${other} ms"
check "rtt to db within [100, 115] ms (got $lat, baseline $base)" in_range "$lat" 100 115
check "rtt to 10.77.0.3 below 10 ms (got $other)" in_range "$other" 0 10
check "audit: CHAOSD_ACTION=inject entry with CHAOSD_EDGE=db CHAOSD_UID=0" \
	audit_has inject CHAOSD_EDGE=db CHAOSD_UID=0 CHAOSD_RESULT=ok
journalctl -q CHAOSD_ACTION=inject -o json | head -n 1

# --- the watchdog is pinged: still the same process well after WatchdogSec
left=$(((t_wd + 12000 - $(now_ms)) / 1000 + 1))
((left > 0)) && sleep "$left"
st="$(systemctl is-active "$SVC") pid $(prop MainPID "$SVC") restarts $(prop NRestarts "$SVC")"
check "$((($(now_ms) - t_wd) / 1000))s > WatchdogSec later: still active, not restarted (got '$st', pid was $pid0)" \
	test "$st" = "active pid $pid0 restarts 0"
wd1=$(prop WatchdogTimestampMonotonic "$SVC")
check "systemd saw WATCHDOG=1 pings (last ping moved $(((wd1 - wd0) / 1000)) ms)" test "$wd1" -gt "$wd0"

# --- SIGKILL mid-fault: ExecStopPost=chaosd --cleanup removes the fault, Restart= brings it back
check "IFB chd-o$IFX present before the kill" ip link show "chd-o$IFX"
# sysfs, not ip(8): no process start per poll, so the 100 ms resolution holds under TCG.
ifb_gone() { [ ! -e "/sys/class/net/chd-o$IFX" ]; }
systemctl kill -s KILL "$SVC"
t0=$(now_ms)
wait_until 10 ifb_gone
t_clean=$(($(now_ms) - t0))
# Before the restart (RestartSec=1s) only ExecStopPost can have cleaned; the journal shows which.
when="$(prop ActiveState "$SVC")/$(prop SubState "$SVC") restarts $(prop NRestarts "$SVC")"
record "systemd: after SIGKILL the IFB was gone after ${t_clean} ms (100 ms polls; unit then $when)"
# Nearly all of it is systemd starting the sandboxed ExecStopPost under TCG: 1.0 to 3.7 s seen,
# with two guests on two cores. The safety property is that ExecStopPost (not the restarted
# daemon) cleans, checked from the journal below; speed belongs in bench/.
check "IFB chd-o$IFX gone within 10 s of SIGKILL (${t_clean} ms)" ifb_gone
# The filters go before the IFB (traffic stops being redirected first).
filters=$(tc -j filter show dev a0 egress 2>/dev/null)
no_u32() { ! grep -q u32 <<<"$filters"; }
check "u32 filters on a0 egress gone (got '$filters')" no_u32
check "after SIGKILL + ExecStopPost: state equals the snapshot" same_state "$T/before"
restarted() { is NRestarts "$SVC" 1 && is ActiveState "$SVC" active; }
wait_until 20 restarted
# systemd resets ExecStopPost's status on restart; the journal keeps who cleaned and when. A
# cleanup logged before systemd schedules the restart can only be ExecStopPost's (journald may
# miss _CMDLINE of so short-lived a process, so that is not relied on).
post=$(journalctl -q -u "$SVC" -o json | python3 -c '
import json, sys
kill = None
for e in map(json.loads, filter(str.strip, sys.stdin)):
    msg, t = e.get("MESSAGE", ""), int(e["__MONOTONIC_TIMESTAMP"])
    if "Sent signal SIGKILL" in msg:
        kill = t
    elif kill and ("Scheduled restart job" in msg or msg.startswith("Starting ")):
        break
    elif kill and "cleanup: removed" in msg:
        print("%d ms after SIGKILL, pid %s: %s" % ((t - kill) // 1000, e["_PID"], msg))
        break')
record "systemd: ExecStopPost chaosd --cleanup logged ${post:-nothing}"
check "ExecStopPost=chaosd --cleanup removed the fault (${post:-no log entry})" test -n "$post"
st="$(systemctl is-active "$SVC") restarts $(prop NRestarts "$SVC") pid $(prop MainPID "$SVC")"
check "Restart=on-failure restarted it (got '$st', old pid $pid0)" restarted
out=$(ctl status 2>&1)
check "restarted chaosd answers with no faults (got '$out')" grep -q "No active faults" <<<"$out"
check "StatusText after restart '0 active faults' ($(prop StatusText "$SVC"))" \
	is StatusText "$SVC" "0 active faults"

# --- systemctl stop reverts
ctl inject latency --edge db --ms 50 --for 10m
check "fault active before stop" ip link show "chd-o$IFX"
systemctl stop "$SVC"
st=$(systemctl is-active "$SVC")
check "systemctl stop: service stopped (got $st)" test "$st" = inactive
check "systemctl stop: state equals the snapshot" same_state "$T/before"
check "systemctl stop: the daemon reverted it itself (audit CHAOSD_ACTION=stop)" \
	audit_has stop CHAOSD_EDGE=db CHAOSD_RESULT=ok

# --- reload after removing the edge of an active fault
ctl status >/dev/null
check "service socket-activated again (got $(systemctl is-active "$SVC"))" is ActiveState "$SVC" active
pid1=$(prop MainPID "$SVC")
ctl inject latency --edge db --ms 50 --for 10m
check "fault on db active before reload" ip link show "chd-o$IFX"
write_conf web
systemctl reload "$SVC"
rc=$?
check "systemctl reload without edge db succeeds (rc $rc)" test "$rc" = 0
wait_until 10 same_state "$T/before" >/dev/null
check "reload: the fault on the removed edge is reverted (state equals the snapshot)" \
	same_state "$T/before"
wait_until 5 is ActiveState "$SVC" active
st="$(systemctl is-active "$SVC") pid $(prop MainPID "$SVC")"
check "reload: service stays active, same process (got '$st', was $pid1)" \
	test "$st" = "active pid $pid1"
check "reload: audit CHAOSD_ACTION=reload for edge db" audit_has reload CHAOSD_EDGE=db
edges=$(edge_names)
check "reload: edges are the new config's (got '$edges')" test "$edges" = web

# --- reload with a syntax error: refused, old configuration kept
cp "$CONF" "$T/good.conf"
printf 'this line is not ini\n' >>"$CONF"
badline=$(wc -l <"$CONF")
systemctl reload "$SVC"
rc=$?
record "systemd: systemctl reload with a broken config exited $rc"
wait_until 10 journal_has "$CONF:$badline:"
# ExecReload= runs chaosd --check-config first: a broken file fails the reload itself, so
# systemctl (and whoever runs it) hears of it, and the daemon never sees the SIGHUP.
check "bad reload: systemctl reload fails (rc $rc)" test "$rc" != 0
check "bad reload: journal names $CONF:$badline" journal_has "$CONF:$badline:"
wait_until 5 is ActiveState "$SVC" active
st="$(systemctl is-active "$SVC") pid $(prop MainPID "$SVC")"
check "bad reload: service still active, same process (got '$st', was $pid1)" \
	test "$st" = "active pid $pid1"
out=$(edge_names)
check "bad reload: old configuration kept (edges '$out')" test "$out" = "$edges"
out=$(ctl inject latency --edge web --ms 10 --for 10m 2>&1)
check "bad reload: still injects on the old config's edge (got '$out')" grep -q "injected" <<<"$out"
cp "$T/good.conf" "$CONF"
ctl revert --all >/dev/null
check "state equals the snapshot at the end" same_state "$T/before"

# --- GameDays as systemd units: chaosd-gameday@NAME.service runs the scenario through the
# socket; it succeeds when the hypothesis held and fails when the run was aborted.
install -m 0644 "$CHAOSD_SRCDIR/systemd/chaosd-gameday@.service" \
	"$CHAOSD_SRCDIR/systemd/chaosd-gameday@.timer" /etc/systemd/system/
systemctl daemon-reload
write_conf db web # the reload tests above left only web
systemctl reload "$SVC"
mkdir -p /etc/chaosd/scenarios
ip netns exec cd-b python3 -m http.server --bind 10.77.0.2 --directory /etc/chaosd/scenarios 8080 \
	>/dev/null 2>&1 &
web=$!
# python starts slowly in a guest on a busy host: the GameDays must not probe before it listens
wait_until 90 port_open 10.77.0.2 8080 ||
	bad "the web server in cd-b did not start listening within 90 s"
# gameday NAME EDGE FOR [http]: probe db's web server (tcp, or http: libcurl, loaded by the
# sandboxed service on first use), partition EDGE for FOR
gameday() {
	local target=10.77.0.2:8080
	[ "${4:-tcp}" = tcp ] || target=http://10.77.0.2:8080/
	cat >"/etc/chaosd/scenarios/$1.ini" <<INI
[scenario]
name = $1
[probe api]
type = ${4:-tcp}
target = $target
interval = 200ms
timeout = 2s
abort_when = failure_rate > 50% over 5s
steady_state = success_rate >= 90% over 2s
[step cut]
at = 0s
fault = partition
edge = $2
for = $3
INI
}
gameday held web 2s http
# long enough for probes that time out after 2 s to cross abort_when before the step ends
gameday hits-db db 30s
systemctl start chaosd-gameday@held.service
rc=$?
st="rc $rc $(prop Result chaosd-gameday@held.service) $(prop ExecMainStatus chaosd-gameday@held.service)"
check "chaosd-gameday@held.service: the hypothesis held, the unit succeeded ($st)" test "$st" = "rc 0 success 0"
[ "$st" = "rc 0 success 0" ] || journalctl -u chaosd-gameday@held.service -u chaosd.service --no-pager -n 40
check "chaosd-gameday@held: its http probe ran through libcurl in the sandboxed service ($(pmap "$(prop MainPID chaosd.service)" 2>/dev/null | grep -c libcurl) libcurl mappings)" \
	bash -c "grep -q 'libcurl\\.so' /proc/$(prop MainPID chaosd.service)/maps"
check "chaosd-gameday@held: its report is in the state dir" bash -c 'ls /var/lib/chaosd/reports/*-held.json'
systemctl start chaosd-gameday@hits-db.service
rc=$?
st="rc $rc $(prop Result chaosd-gameday@hits-db.service) $(prop ExecMainStatus chaosd-gameday@hits-db.service)"
check "chaosd-gameday@hits-db.service: the run was aborted, the unit failed with status 2 ($st)" \
	test "$st" = "rc 1 exit-code 2"
check "a failed GameDay is listed by systemctl --failed" bash -c 'systemctl --failed --no-legend | grep -q chaosd-gameday@hits-db'
check "after both GameDays: state equals the snapshot" same_state "$T/before"
systemctl enable --now chaosd-gameday@held.timer
cal=$(prop TimersCalendar chaosd-gameday@held.timer)
next=$(systemctl list-timers --no-legend chaosd-gameday@held.timer)
echo "timer: $cal; $next"
check "chaosd-gameday@held.timer is scheduled on weekdays at 10:30 ($next)" \
	bash -c "grep -q 'Mon..Fri \*-\*-\* 10:30:00' <<<'$cal' && grep -q 'chaosd-gameday@held.service' <<<'$next'"
systemctl disable --now chaosd-gameday@held.timer
kill "$web" 2>/dev/null

# --- service edges (issue 17): in this boot, with chaosd.service as it runs here
# shellcheck source=tests/vm/service.sh
. "$(dirname "$0")/service.sh"

# --- hardening, for the record
systemd-analyze security "$SVC" --no-pager | tail -n 40
exposure=$(systemd-analyze security "$SVC" --no-pager 2>&1 | grep -i "overall exposure")
record "systemd: ${exposure:-no exposure line}"
check "systemd-analyze security prints an exposure level" test -n "$exposure"

# The whole story when something failed, else its end.
lines=40
((fail > 0)) && lines=all
journalctl -q -u "$SVC" -u chaosd.socket -o short-monotonic --no-pager -n "$lines"
finish
