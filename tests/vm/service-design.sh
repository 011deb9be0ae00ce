#!/bin/bash
# The service-edge datapath (issue 17) built by hand with nft and tc on the VM kernel, to
# measure the design before chaosd builds it:  tests/vm/run.sh tests/vm/service-design.sh
# Egress: table inet chaosd_mark marks uid 1000's and cgroup svc-a's packets (and their
# connections) with 0x10000 in chaosd's bits; a u32 filter on a0 matching the mark sends them
# to netem 50ms. Ingress: a0's ingress filter restores the connection's mark (act_connmark)
# before redirecting to ifb0, where a u32 filter matching the mark sends them to netem 30ms.
# Measured 2026-12-06 (TCG, 6.1.0-57): uid 1000 82.1 ms, root 1.06, svc-a 82.4, svc-b 1.61,
# svc-a made anew without rewriting the rule 1.04 (why chaosd follows restarts).
# nft runs through nsenter --net: `ip netns exec` remounts /sys, hiding /sys/fs/cgroup, and nft
# resolves cgroupv2 paths there.
set -uo pipefail
if [[ ${CHAOSD_VM:-} != 1 ]]; then
	echo "service-design.sh: runs inside the test VM: tests/vm/run.sh tests/vm/service-design.sh" >&2
	exit 2
fi
A() { nsenter --net=/run/netns/ma "$@"; }
B() { ip netns exec mb "$@"; }
ip netns add ma; ip netns add mb
ip link add a0 netns ma type veth peer name b0 netns mb
A ip addr add 10.77.0.1/24 dev a0; B ip addr add 10.77.0.2/24 dev b0
A ip link set a0 up; B ip link set b0 up; A ip link set lo up; B ip link set lo up
A sysctl -qw net.ipv4.ping_group_range="0 2147483647"
A ping -c1 -W2 10.77.0.2 >/dev/null && echo "base ping ok"
modprobe ifb; A ip link add ifb0 type ifb; A ip link set ifb0 up
PM=(0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0) # every priority to band 1:1; 1:4 only by the filter
set -x
A tc qdisc add dev a0 root handle 1: prio bands 4 priomap "${PM[@]}"
A tc qdisc add dev a0 parent 1:4 handle 40: netem delay 50ms
A tc filter add dev a0 parent 1: protocol ip prio 1 u32 match mark 0x10000 0xff0000 match ip dst 10.77.0.2/32 flowid 1:4
A tc qdisc add dev a0 handle ffff: ingress
A tc filter add dev a0 parent ffff: protocol ip prio 1 u32 match ip src 10.77.0.2/32 action connmark pipe action mirred egress redirect dev ifb0
A tc qdisc add dev ifb0 root handle 1: prio bands 4 priomap "${PM[@]}"
A tc qdisc add dev ifb0 parent 1:4 handle 40: netem delay 30ms
A tc filter add dev ifb0 parent 1: protocol ip prio 1 u32 match mark 0x10000 0xff0000 flowid 1:4
mkdir -p /sys/fs/cgroup/svc-a /sys/fs/cgroup/svc-b
A nft -f - <<EOF
table inet chaosd_mark {
 chain output {
  type route hook output priority -150;
  meta skuid 1000 meta mark set meta mark & 0xff00ffff | 0x10000 ct mark set ct mark & 0xff00ffff | 0x10000 counter
  socket cgroupv2 level 1 "svc-a" meta mark set meta mark & 0xff00ffff | 0x10000 ct mark set ct mark & 0xff00ffff | 0x10000 counter
 }
}
EOF
set +x
A tc filter show dev a0 egress 2>/dev/null; A tc filter show dev a0 parent 1: ; A tc filter show dev ifb0 parent 1: ; A tc filter show dev a0 parent ffff:
median_ms() { sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' | sort -n | awk '{ a[NR] = $1 } END { print (NR ? a[int((NR + 1) / 2)] : "none") " (median of " NR ")" }'; }
echo "uid 1000 (scoped):   median $(A setpriv --reuid 1000 --regid 1000 --clear-groups ping -n -c 15 -i 0.1 10.77.0.2 | median_ms) ms"
echo "root (not scoped):   median $(A ping -n -c 15 -i 0.1 10.77.0.2 | median_ms) ms"
echo "cgroup svc-a:        median $(bash -c 'echo $$ >/sys/fs/cgroup/svc-a/cgroup.procs; exec nsenter --net=/run/netns/ma ping -n -c 15 -i 0.1 10.77.0.2' | median_ms) ms"
echo "cgroup svc-b:        median $(bash -c 'echo $$ >/sys/fs/cgroup/svc-b/cgroup.procs; exec nsenter --net=/run/netns/ma ping -n -c 15 -i 0.1 10.77.0.2' | median_ms) ms"
# restart svc-a: new cgroup, old rule no longer matches until rewritten
rmdir /sys/fs/cgroup/svc-a; mkdir /sys/fs/cgroup/svc-a
echo "svc-a after restart, rule not rewritten: median $(bash -c 'echo $$ >/sys/fs/cgroup/svc-a/cgroup.procs; exec nsenter --net=/run/netns/ma ping -n -c 15 -i 0.1 10.77.0.2' | median_ms) ms"
A conntrack -L 2>/dev/null | grep -c 'mark=65536' | sed 's/^/conntrack entries with chaosd mark: /'
exit 0
