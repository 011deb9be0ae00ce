#!/bin/bash
# Smoke test of the VM harness; runs inside the guest:   tests/vm/run.sh tests/vm/smoke.sh
# Proves: sch_netem autoloads and delays traffic by the configured amount over a veth pair
# between two namespaces, removal restores the baseline, a clsact+IFB+htb path can delay one
# address only (the datapath design), ifb/nf_tables load, an ifb link can be created, and result
# files reach the host through /mnt/out (when run.sh --out is given).
set -euo pipefail

if [[ ${CHAOSD_VM:-} != 1 ]]; then
	echo "smoke.sh: this runs inside the test VM: tests/vm/run.sh tests/vm/smoke.sh" >&2
	exit 2
fi

A=chd-smoke-a B=chd-smoke-b
fails=0
results=()

fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}
pass() { echo "ok:   $*"; }
ina() { ip netns exec "$A" "$@"; }

# ping -q from A; prints "received min avg max" (ms).
rtt() { # DEST COUNT
	local outp
	outp=$(ina ping -n -q -c "$2" -i 0.05 -W 3 "$1" 2>&1) || true
	awk -v want="$2" '
		/packets transmitted/ { rx = $4 }
		/^rtt / { split($4, v, "/"); min = v[1]; avg = v[2]; max = v[3] }
		END { if (rx == "") rx = 0; if (min == "") { min = avg = max = -1 }
		      print rx, min, avg, max }' <<<"$outp"
}

# check_rtt LABEL DEST LOW HIGH: ping and assert every reply arrived with LOW <= min, avg <= HIGH.
check_rtt() {
	local label=$1 dest=$2 lo=$3 hi=$4 n=10 rx min avg max
	ina ping -n -q -c 1 -W 3 "$dest" >/dev/null 2>&1 || true # resolve ARP outside the sample
	read -r rx min avg max < <(rtt "$dest" "$n")
	local line
	line=$(printf '%-34s %-10s rtt min/avg/max = %s/%s/%s ms (%s/%s replies)' \
		"$label" "$dest" "$min" "$avg" "$max" "$rx" "$n")
	results+=("$line")
	if [[ $rx != "$n" ]]; then
		fail "$line: lost replies"
	elif awk -v mn="$min" -v av="$avg" -v lo="$lo" -v hi="$hi" \
		'BEGIN { exit !(mn >= lo && av <= hi) }'; then
		pass "$line  [expected ${lo}..${hi}]"
	else
		fail "$line: outside ${lo}..${hi} ms"
	fi
}

module_loaded() { [[ -d /sys/module/$1 ]]; }

cleanup() {
	ip netns del "$A" 2>/dev/null || true
	ip netns del "$B" 2>/dev/null || true
	ip link del chd-test 2>/dev/null || true
}
trap cleanup EXIT

t0=$(date +%s.%N)
echo "== kernel $(uname -r)"

ip netns add "$A"
ip netns add "$B"
ip link add veth-a netns "$A" type veth peer name veth-b netns "$B"
ina ip addr add 10.99.0.1/24 dev veth-a
ip -n "$B" addr add 10.99.0.2/24 dev veth-b
ip -n "$B" addr add 10.99.0.3/24 dev veth-b
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
ina ip link set veth-a up
ip -n "$B" link set veth-b up

echo "== baseline"
check_rtt "no qdisc" 10.99.0.2 0 20
check_rtt "no qdisc" 10.99.0.3 0 20

echo "== root netem delay 100ms (sch_netem must autoload)"
if module_loaded sch_netem; then fail "sch_netem already loaded before first use; autoload not proven"; fi
ina tc qdisc add dev veth-a root netem delay 100ms
if module_loaded sch_netem; then pass "sch_netem autoloaded by tc"; else fail "sch_netem not loaded after tc"; fi
ina tc qdisc show dev veth-a | grep -q 'netem.*delay 100ms' ||
	fail "tc qdisc show does not list the netem delay"
check_rtt "root netem 100ms" 10.99.0.2 99 160
check_rtt "root netem 100ms" 10.99.0.3 99 160
ina tc qdisc del dev veth-a root
check_rtt "netem removed" 10.99.0.2 0 20

echo "== clsact + ifb + htb: delay 10.99.0.2 only"
ina ip link add chd-ifb0 type ifb
ina ip link set chd-ifb0 up
ina tc qdisc add dev veth-a clsact
ina tc filter add dev veth-a egress prio 7 protocol ip u32 match ip dst 10.99.0.2/32 \
	action mirred egress redirect dev chd-ifb0
ina tc qdisc add dev chd-ifb0 root handle 1: htb default 1
ina tc class add dev chd-ifb0 parent 1: classid 1:1 htb rate 10gbit
ina tc class add dev chd-ifb0 parent 1: classid 1:10 htb rate 10gbit
ina tc qdisc add dev chd-ifb0 parent 1:10 handle 10: netem delay 100ms limit 100000
ina tc filter add dev chd-ifb0 parent 1: prio 1 protocol ip u32 match ip dst 10.99.0.2/32 flowid 1:10
check_rtt "ifb netem 100ms on .2" 10.99.0.2 99 160
check_rtt "ifb netem, other address" 10.99.0.3 0 20
ina tc qdisc del dev veth-a clsact
check_rtt "clsact removed" 10.99.0.2 0 20
ina ip link del chd-ifb0

echo "== modules and links"
if modprobe -a sch_netem ifb nf_tables; then
	for m in sch_netem ifb nf_tables; do
		if module_loaded "$m"; then pass "module $m loaded"; else fail "module $m not loaded after modprobe"; fi
	done
else
	fail "modprobe -a sch_netem ifb nf_tables"
fi
if ip link add chd-test type ifb && ip link show chd-test >/dev/null; then
	pass "ip link add chd-test type ifb"
	ip link del chd-test
else
	fail "ip link add chd-test type ifb"
fi
if nft add table inet chd_smoke && nft add chain inet chd_smoke out '{ type filter hook output priority 0; }' &&
	nft delete table inet chd_smoke; then
	pass "nftables table/chain create and delete"
else
	fail "nftables table/chain create and delete"
fi

echo "== summary"
printf '%s\n' "${results[@]}"
elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "smoke checks took ${elapsed}s inside the guest; $fails failure(s)"

if [[ -n ${CHAOSD_VM_OUT:-} ]]; then
	{
		echo "kernel $(uname -r)"
		printf '%s\n' "${results[@]}"
		echo "failures $fails"
	} >"$CHAOSD_VM_OUT/smoke-results.txt"
	echo "wrote $CHAOSD_VM_OUT/smoke-results.txt"
fi
((fails == 0))
