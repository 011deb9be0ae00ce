#!/bin/bash
# The Debian package on a real systemd (run inside the VM by tests/vm-deb-tests.sh through
# `tests/vm/run.sh --systemd`, with CHAOSD_DEB the .deb it built): dpkg -i, the socket enabled
# and listening with no daemon running, a scenario run through the socket-activated daemon and
# seen in the kernel, then dpkg --purge under active faults and nothing of chaosd left.
# Writes go to the guest's tmpfs overlay only (the host's dpkg database is not touched).
set -uo pipefail
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

# chaosd runs in the guest's root namespace: lib.sh's "host under test" is that here.
A() { "$@"; }
ctl() { timeout 30 chaosctl "$@"; }
prop() { systemctl show -P "$1" "$2"; } # prop PROPERTY UNIT
DEB=${CHAOSD_DEB:?the .deb to test}
SVC=chaosd.service
SOCKET=/run/chaosd/chaosd.sock

uname -r
systemctl --version | head -n 1
check "the package to test is readable ($DEB)" test -r "$DEB"
dpkg-deb -I "$DEB" | sed -n 's/^ \(Package\|Version\|Depends\):/  &/p'
# libcurl is loaded on the first http probe (not linked, so shlibs cannot name it): the
# package must depend on it by hand
check "Depends names libcurl4 >= 7.85.0 ($(dpkg-deb -f "$DEB" Depends))" \
	bash -c "dpkg-deb -f '$DEB' Depends | grep -q 'libcurl4 (>= 7.85.0)'"

# --- before: nothing of chaosd on this machine, or the purge checks prove nothing
st=$(dpkg-query -W -f='${Status}' chaosd 2>/dev/null)
check "chaosd not installed before the test (status '${st:-none}')" test -z "$st" -o "$st" = "unknown ok not-installed"
check "no group chaos before the test" bash -c '! getent group chaos'
# The package's paths that exist already (shared directories such as /usr/share/man/man1):
# after the purge every other one must be gone.
dpkg-deb --fsys-tarfile "$DEB" | tar -t | sed -e 's,^\./,/,' -e 's,/$,,' | grep . | sort >"$T/paths"
while read -r p; do [ -e "$p" ] && echo "$p"; done <"$T/paths" >"$T/paths-before"
left=$(while read -r p; do [ -d "$p" ] || echo "$p"; done <"$T/paths-before")
check "none of the package's files exists before the test (got '$left')" test -z "$left"

# --- topology: a0 in the root namespace (where the unit runs), its peer b0 in cd-b
ip netns add cd-b
ip link add a0 type veth peer name b0 netns cd-b
ip addr add 10.77.0.1/24 dev a0
B ip addr add 10.77.0.2/24 dev b0
B ip addr add 10.77.0.3/24 dev b0
ip link set a0 up
B ip link set lo up
B ip link set b0 up
check "topology: 10.77.0.2 answers" ping -c 1 -W 2 10.77.0.2
IFX=$(cat /sys/class/net/a0/ifindex)
snapshot "$T/before"

# --- install
# The build machines' images forbid starting services (policy-rc.d exits 101, as in
# containers); a staging host has no such file, and postinst must start the socket there.
[ -e /usr/sbin/policy-rc.d ] && record "deb: removed the image's /usr/sbin/policy-rc.d in the guest"
rm -f /usr/sbin/policy-rc.d
# man-db's trigger would rebuild the whole index on the 9p root under emulation (minutes);
# the pages themselves are checked below by path.
rm -f /var/lib/man-db/auto-update
t0=$(now_ms)
dpkg -i "$DEB" >"$T/dpkg-i.log" 2>&1
rc=$?
t_install=$(($(now_ms) - t0))
cat "$T/dpkg-i.log"
record "deb: dpkg -i took ${t_install} ms (rc $rc)"
check "dpkg -i succeeds (rc $rc)" test "$rc" = 0
st=$(dpkg-query -W -f='${Status}' chaosd 2>&1)
check "chaosd is installed (status '$st')" test "$st" = "install ok installed"
for f in /usr/sbin/chaosd /usr/bin/chaosctl /lib/systemd/system/chaosd.service \
	/lib/systemd/system/chaosd.socket /lib/systemd/system/chaosd-gameday@.service \
	/lib/systemd/system/chaosd-gameday@.timer /usr/lib/sysusers.d/chaosd-sysusers.conf \
	/usr/lib/tmpfiles.d/chaosd-tmpfiles.conf /etc/chaosd/scenarios/db-brownout.ini \
	/etc/chaosd/scenarios/progressive-rollout.ini /usr/share/man/man1/chaosctl.1.gz \
	/usr/share/man/man5/chaosd.conf.5.gz /usr/share/man/man5/chaosd.scenario.5.gz \
	/usr/share/man/man8/chaosd.8.gz /usr/share/bash-completion/completions/chaosctl \
	/usr/share/zsh/vendor-completions/_chaosctl; do
	check "installed: $f" test -s "$f"
done
conffiles=$(dpkg-query -W -f='${Conffiles}' chaosd)
check "/etc/chaosd/chaosd.conf is a conffile" grep -q '^ /etc/chaosd/chaosd.conf [0-9a-f]\{32\}$' <<<"$conffiles"
out=$(chaosd --check-config 2>&1)
check "the shipped chaosd.conf is valid (chaosd --check-config: $out)" grep -q 'configuration OK' <<<"$out"
out=$(man -w chaosctl 2>&1)
check "man finds chaosctl(1) (got $out)" test "$out" = /usr/share/man/man1/chaosctl.1.gz
check "postinst applied sysusers: group chaos ($(getent group chaos))" getent group chaos
st=$(stat -c '%a %U:%G' /var/lib/chaosd 2>&1)
check "postinst applied tmpfiles: /var/lib/chaosd is 700 root:root (got $st)" test "$st" = "700 root:root"

# --- the socket is enabled and listening; the daemon is neither enabled nor running
st="$(systemctl is-enabled chaosd.socket) $(systemctl is-active chaosd.socket)"
check "chaosd.socket enabled and active (got '$st')" test "$st" = "enabled active"
listening=$(ss -xlnH | grep -F " $SOCKET ")
check "the kernel has a listening socket at $SOCKET (ss: '$listening')" grep -q LISTEN <<<"$listening"
st=$(stat -c '%a %U:%G %F' "$SOCKET" 2>&1)
check "$SOCKET is 660 root:chaos (got $st)" test "$st" = "660 root:chaos socket"
st="$(systemctl is-enabled "$SVC") $(systemctl is-active "$SVC")"
check "chaosd.service neither enabled nor started by the installation (got '$st')" \
	test "$st" = "disabled inactive"
check "no chaosd process before the first request ($(pgrep -a -x chaosd))" bash -c '! pgrep -x chaosd'
# The installation's socket activates the daemon with the shipped configuration plus edges.
cat >>/etc/chaosd/chaosd.conf <<'CONF'

[edge db]
interface = a0
destination = 10.77.0.2/32

[edge web]
interface = a0
destination = 10.77.0.3/32
CONF

# --- a scenario through the socket-activated daemon, seen in the kernel and measured
rtt 10.77.0.2 20
base=$RTT
cat >"$T/deb.ini" <<'INI'
[scenario]
name = deb-latency
max_duration = 5m

[probe db]
type = tcp
target = 10.77.0.2:8080
interval = 500ms
timeout = 2s
steady_state = success_rate >= 90% over 2s

[step slow]
at = 0s
fault = latency
edge = db
ms = 100
for = 30s
INI
B socat TCP-LISTEN:8080,bind=10.77.0.2,fork,reuseaddr OPEN:/dev/null &
server=$!
wait_until 30 port_open 10.77.0.2 8080 ||
	bad "the TCP server in cd-b did not listen within 30 s"
t0=$(now_ms)
timeout 300 chaosctl run "$T/deb.ini" >"$T/run.out" 2>&1 &
run=$!
netem_held() { tc -j qdisc show dev "chd-o$IFX" 2>/dev/null | grep -q '"kind":"netem".*"delay":0.1'; }
wait_until 60 netem_held
t_fault=$(($(now_ms) - t0))
check "the run's netem delay 100ms on chd-o$IFX ($t_fault ms after chaosctl run)" netem_held
st="$(systemctl is-active "$SVC") $(prop TriggeredBy "$SVC")"
check "chaosd.service was started by its socket (got '$st')" grep -q '^active .*chaosd.socket' <<<"$st"
rtt 10.77.0.2 30
lat=$RTT
rtt 10.77.0.3 20
other=$RTT
record "deb: scenario latency 100ms on db: rtt ${base} ms before, ${lat} ms during; 10.77.0.3 ${other} ms; netem seen ${t_fault} ms after chaosctl run started the daemon"
check "rtt to db within [100, 115] ms during the run (got $lat, baseline $base)" in_range "$lat" 100 115
check "rtt to 10.77.0.3 below 10 ms (got $other)" in_range "$other" 0 10
wait "$run"
rc=$?
cat "$T/run.out"
record "deb: chaosctl run exited $rc after $((($(now_ms) - t0) / 1000)) s"
check "chaosctl run: the hypothesis held (exit 0, got $rc)" test "$rc" = 0
check "after the run: state equals the snapshot" same_state "$T/before"
check "the run's report is in /var/lib/chaosd" bash -c 'ls /var/lib/chaosd/reports/*-deb-latency.json'
kill "$server" 2>/dev/null

# --- purge while faults are active: the removal reverts them, the purge leaves nothing
ctl inject latency --edge db --ms 50 --for 10m
ctl inject partition --edge web --for 10m
check "before the purge: IFB chd-o$IFX exists" test -e "/sys/class/net/chd-o$IFX"
check "before the purge: nftables table inet chaosd exists" nft list table inet chaosd
t0=$(now_ms)
dpkg --purge chaosd >"$T/dpkg-purge.log" 2>&1
rc=$?
t_purge=$(($(now_ms) - t0))
cat "$T/dpkg-purge.log"
record "deb: dpkg --purge took ${t_purge} ms (rc $rc) with two faults active"
check "dpkg --purge succeeds (rc $rc)" test "$rc" = 0
st=$(dpkg-query -W -f='${Status}' chaosd 2>/dev/null)
check "chaosd is gone from dpkg's database (status '${st:-none}')" \
	test -z "$st" -o "$st" = "unknown ok not-installed"
check "no chaosd process ($(pgrep -a -x chaosd))" bash -c '! pgrep -x chaosd'
check "after the purge: qdiscs, filters, links and nft tables equal the snapshot" \
	same_state "$T/before"
check "after the purge: no chd-* device" bash -c '! ls /sys/class/net | grep -q ^chd-'
check "after the purge: no nftables table inet chaosd" bash -c '! nft list table inet chaosd 2>/dev/null'
rtt 10.77.0.2 20
check "after the purge: rtt to db below 10 ms (got $RTT)" in_range "$RTT" 0 10
rtt 10.77.0.3 20
check "after the purge: no loss to 10.77.0.3, the partition is gone (got $LOSS %)" test "$LOSS" = 0
# (not 'chaosd*': the VM harness's own units are chaosd-vm*)
units=$(systemctl list-unit-files --no-legend chaosd.service chaosd.socket 'chaosd-gameday@*')
check "systemctl list-unit-files lists no chaosd unit (got '$units')" test -z "$units"
st=$(systemctl is-active chaosd.socket "$SVC" | tr '\n' ' ')
check "chaosd.socket and chaosd.service not active (got '$st')" test "$st" = "inactive inactive "
left=$(find /etc/systemd /lib/systemd /usr/lib/systemd /var/lib/systemd -name '*chaosd*' 2>/dev/null)
check "no unit file, enablement link or deb-systemd-helper state left (got '$left')" test -z "$left"
check "no group chaos ($(getent group chaos))" bash -c '! getent group chaos'
for d in /var/lib/chaosd /etc/chaosd /run/chaosd; do
	check "$d is gone" test ! -e "$d"
done
left=$(while read -r p; do [ -e "$p" ] && echo "$p"; done <"$T/paths" | grep -v -x -f "$T/paths-before")
check "every path the package brought is gone ($(wc -l <"$T/paths") in the package; left: '$left')" \
	test -z "$left"
check "no chaosd or chaosctl on PATH" bash -c '! command -v chaosd && ! command -v chaosctl'

((fail > 0)) && journalctl -q -u "$SVC" -u chaosd.socket -o short-monotonic --no-pager
finish
