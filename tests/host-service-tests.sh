#!/bin/bash
# make check: service edges (unit =, cgroup =, user =) with a running chaosd on this host's
# kernel. What holds until the datapath applies faults to them: chaosctl edges shows each one's
# scope, and a fault on one is refused with the edge and its scope, leaving the kernel as it was
# (applied as a destination edge it would slow every process's traffic).
set -uo pipefail
# shellcheck source=tests/host-lib.sh
. "$top_srcdir/tests/host-lib.sh" service tc nft
cleanup() {
	[ -n "${CHAOSD_PID:-}" ] && kill "$CHAOSD_PID" 2>/dev/null
}

topology || { echo "FAIL: topology"; exit 1; }
write_config
cat >>"$T/chaosd.conf" <<CONF

[edge api-db]
unit = api.service
destination = 10.77.0.5/32
port = 5432

[edge batch]
interface = a0
destination = 10.77.0.6/32
cgroup = /system.slice/batch.service
user = root

[edge anyone]
interface = nosuch1
user = 0
port = 9
protocol = udp
CONF
snapshot "$T/before"
start_chaosd || exit 1

edges=$(ctl edges)
echo "$edges"
check "edges shows a unit edge's scope" grep -q '^api-db .* 10.77.0.5/32  of unit=api.service' <<<"$edges"
check "edges shows a cgroup and user edge's scope" \
	grep -q '^batch  *a0 .* 10.77.0.6/32  of cgroup=system.slice/batch.service user=root(0)' <<<"$edges"
check "edges shows a service edge without a destination as any" \
	grep -q '^anyone .* any  of user=0  ! ' <<<"$edges"
check "--json: the service field" bash -c "ip netns exec cd-a $CHAOSCTL --socket $SOCK --json edges | python3 -c \"
import json, sys
d = {e['name']: e for e in json.load(sys.stdin)['edges']}
assert d['api-db']['service'] == 'unit=api.service', d
assert 'service' not in d['db'], d
\""
expect_refused "a fault on a unit edge is refused, naming it" \
	"edge 'api-db' is scoped to a service (unit=api.service): this chaosd does not apply faults to service edges yet" \
	inject latency --edge api-db --ms 100
expect_refused "a partition on a cgroup edge is refused" \
	"edge 'batch' is scoped to a service (cgroup=system.slice/batch.service user=root(0))" \
	inject partition --edge batch --for 1m
check "refusals left the kernel as it was" same_state "$T/before"
check "a destination edge still works next to them" ctl inject partition --edge db --for 1m
check "the destination edge's fault reverts" ctl revert --all
stop_chaosd
check "after the revert the kernel is as it was" same_state "$T/before"
finish
