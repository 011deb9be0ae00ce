#!/bin/bash
# make check: partition topologies over a group of hosts (chaosctl -H a=...,b=...,c=... inject
# partition --topology), proven on a real three-member etcd cluster (Debian's etcd-server).
# Three network namespaces are the hosts, cd-a, cd-b and cd-c, each on a bridge in a fourth,
# cd-t, where the coordinating chaosctl runs: its ssh sessions come from the bridge's own
# address, never from a peer that a partition cuts (chaosd's SSH guard). Each host has its own
# sshd, chaosd and etcd member; its chaosd.conf names its peers as edges ([edge b] on a is b's
# address). Partitions are nftables (the host kernel), and every check reads the kernel of the
# namespace it concerns or etcd itself.
set -uo pipefail
# shellcheck source=tests/host-lib.sh
. "$top_srcdir/tests/host-lib.sh" topology nft python3 ssh ssh-keygen etcd etcdctl
SSHD=/usr/sbin/sshd
[ -x "$SSHD" ] || skip_or_fail "sshd missing (openssh-server): run tests/install-deps.sh"
HOSTS="a b c"
declare -A IP=([a]=10.80.0.1 [b]=10.80.0.2 [c]=10.80.0.3)
TNS=cd-t
cleanup() {
	netns_del "$TNS"
}
Tx() { ip netns exec "$TNS" "$@"; }
H() { local h=$1; shift; ip netns exec "cd-$h" "$@"; }

netns_del cd-a cd-b cd-c "$TNS"
ip netns add "$TNS"
Tx ip link set lo up
Tx ip link add br0 type bridge
Tx ip addr add 10.80.0.254/24 dev br0
Tx ip link set br0 up
for h in $HOSTS; do
	ip netns add "cd-$h"
	H "$h" ip link set lo up
	ip link add "t-$h" netns "$TNS" type veth peer name eth0 netns "cd-$h"
	Tx ip link set "t-$h" master br0 up
	H "$h" ip addr add "${IP[$h]}/24" dev eth0
	H "$h" ip link set eth0 up
done

# --- keys and an sshd per host (host-lib.sh); chaosctl dial-stdio from PATH
ssh_keys
GROUP=
for h in $HOSTS; do
	sshd_conf "$h" "${IP[$h]}" "PATH=$top_builddir:/usr/sbin:/usr/bin:/sbin:/bin"
	H "$h" "$SSHD" -D -e -f "$T/sshd-$h.conf" >>"$T/sshd-$h.log" 2>&1 &
	# chaosd: the peers are edges named after them; c has a guard rail the refusal case meets
	{
		printf '[chaosd]\ndefault_duration = 5m\nmax_duration = 1h\n'
		[ "$h" = c ] && printf 'max_partition_duration = 2m\n'
		for p in $HOSTS; do
			[ "$p" = "$h" ] || printf '\n[edge %s]\ndestination = %s/32\n' "$p" "${IP[$p]}"
		done
	} >"$T/$h.conf"
	H "$h" "$CHAOSD" --config "$T/$h.conf" --socket "$T/$h.sock" --state-dir "$T/state-$h" \
		>>"$T/chaosd-$h.log" 2>&1 &
	GROUP="$GROUP${GROUP:+,}$h=ssh://root@${IP[$h]}?socket=$T/$h.sock"
done
rctl() { Tx env PATH="$T/bin:$PATH" "$CHAOSCTL" "$@"; }
# in the background, where $! must be chaosctl itself (ip netns exec and env exec it): a
# function's $! would be a subshell, and signals to it would not reach chaosctl
BG_CTL=(ip netns exec "$TNS" env PATH="$T/bin:$PATH" "$CHAOSCTL")
up() { rctl -H "$1=ssh://root@${IP[$1]}?socket=$T/$1.sock" ping >/dev/null 2>&1; }
for h in $HOSTS; do
	if ! wait_until 20 up "$h"; then
		echo "FAIL: chaosd on $h did not answer over ssh"
		tail -n 20 "$T/sshd-$h.log" "$T/chaosd-$h.log"
		exit 1
	fi
done
drops() { H "$1" nft list table inet chaosd 2>/dev/null | grep -c 'drop'; }
all_drops() { echo "$(drops a)/$(drops b)/$(drops c)"; }
healed() { [ "$(all_drops)" = 0/0/0 ]; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# --- etcd: one member per host, short election timeouts
CLUSTER=
for h in $HOSTS; do CLUSTER="$CLUSTER${CLUSTER:+,}$h=http://${IP[$h]}:2380"; done
for h in $HOSTS; do
	H "$h" etcd --name "$h" --data-dir "$T/etcd-$h" \
		--listen-peer-urls "http://${IP[$h]}:2380" --initial-advertise-peer-urls "http://${IP[$h]}:2380" \
		--listen-client-urls "http://${IP[$h]}:2379" --advertise-client-urls "http://${IP[$h]}:2379" \
		--initial-cluster "$CLUSTER" --initial-cluster-state new --initial-cluster-token cd-topology \
		--heartbeat-interval 100 --election-timeout 1000 >>"$T/etcd-$h.log" 2>&1 &
done
ec() { # ec HOST ARGS...: etcdctl against HOST's member only, from the coordinator's namespace
	local h=$1
	shift
	Tx env ETCDCTL_API=3 etcdctl --endpoints "http://${IP[$h]}:2379" --dial-timeout 1s --command-timeout 2s "$@"
}
# status HOST FIELD: leader (name of the member HOST believes leads), revision, term
estatus() {
	ec "$1" endpoint status -w json 2>/dev/null | python3 -c '
import json, sys
names = dict(zip(sys.argv[2].split(), sys.argv[3].split()))
s = json.load(sys.stdin)[0]["Status"]
if sys.argv[1] == "leader":
    ids = {m: n for n, m in names.items()}
    # a member without a leader (mid-election, or cut off) has none: 0
    l = str(s.get("leader", 0))
    print(ids.get(l, l))
elif sys.argv[1] == "id":
    print(s["header"]["member_id"])
else:
    print(s["header"]["revision"] if sys.argv[1] == "revision" else s["raftTerm"])
' "$2" "${MEMBER_NAMES:-}" "${MEMBER_IDS:-}"
}
cluster_up() { for h in $HOSTS; do ec "$h" put warmup "$h" >/dev/null 2>&1 || return 1; done; }
if ! wait_until 30 cluster_up; then
	echo "FAIL: the etcd cluster did not form"
	tail -n 20 "$T"/etcd-*.log
	exit 1
fi
MEMBER_NAMES=
MEMBER_IDS=
for h in $HOSTS; do
	MEMBER_NAMES="$MEMBER_NAMES $h"
	MEMBER_IDS="$MEMBER_IDS $(estatus "$h" id)"
done
leader_of() { estatus "$1" leader; }
# agreed_leader: every member names the same known leader (after a heal, a rejoining member with
# a higher term forces an election, and for a moment a member names none: 0)
agreed_leader() {
	local l m
	l=$(leader_of a)
	case $l in a | b | c) ;; *) return 1 ;; esac
	for m in b c; do [ "$(leader_of "$m")" = "$l" ] || return 1; done
}
same_revision() {
	local ra rb rc
	ra=$(estatus a revision) rb=$(estatus b revision) rc=$(estatus c revision)
	[ -n "$ra" ] && [ "$ra" = "$rb" ] && [ "$rb" = "$rc" ]
}
# writes HOST N: how many of N puts through HOST's member alone succeed
writes() {
	local ok=0
	for i in $(seq "$2"); do ec "$1" put "k-$1-$i" "v$i" >/dev/null 2>&1 && ok=$((ok + 1)); done
	echo "$ok"
}
record "etcd cluster up: leader $(leader_of a), revision $(estatus a revision)"

# --- refused before anything is sent
expect() { # DESC EXIT PATTERN ARGS...
	local desc=$1 want=$2 pat=$3 out rc
	shift 3
	out=$(rctl "$@" 2>&1)
	rc=$?
	if [ "$rc" = "$want" ] && grep -q -- "$pat" <<<"$out"; then ok "$desc"; else bad "$desc: exit $rc, '$out'"; fi
}
expect "an unknown topology: exit 4, the allowed ones named" 4 \
	"topology 'ring': unknown (allowed: isolate:HOST, halves, majorities-ring, bridge:HOST)" \
	-H "$GROUP" inject partition --topology ring
out=$(rctl -H "$GROUP" inject partition --topology isolate:x 2>&1)
check "isolate of a host not in -H: named ($out)" grep -q "no host 'x' (hosts: a, b, c)" <<<"$out"
out=$(rctl -H "$GROUP" inject partition --topology halves --edge a 2>&1)
check "--edge with a topology is refused ($out)" grep -q "'--edge' is not an option here" <<<"$out"
expect "a host without the peer's edge: exit 3, nothing applied" 3 "a has no edge 'd'" \
	-H "a=ssh://root@${IP[a]}?socket=$T/a.sock,d=ssh://root@${IP[b]}?socket=$T/b.sock" \
	inject partition --topology isolate:a --for 10s
expect "two hosts of one name: exit 4" 4 "host 'a=ssh://root@${IP[b]}' is listed twice" \
	-H "a=ssh://root@${IP[a]},a=ssh://root@${IP[b]}" plan --topology halves
expect "--topology without -H: exit 4" 4 "give them with -H" plan --topology halves
check "nothing applied by refused commands ($(all_drops))" healed

# --- plan: the per-host partitions, nothing applied
out=$(rctl -H "$GROUP" plan --topology isolate:a 2>&1)
echo "$out"
check "plan isolate:a: a cuts b and c by their addresses" grep -q "^a: cuts b (10.80.0.2/32), c (10.80.0.3/32)$" <<<"$out"
check "plan isolate:a: b cuts a, c cuts a" bash -c "grep -q '^b: cuts a (10.80.0.1/32)$' <<<'$out' && grep -q '^c: cuts a (10.80.0.1/32)$' <<<'$out'"
check "plan isolate:a: named as such" grep -q "^topology isolate:a: isolate:a (a | b c)" <<<"$out"
out1=$(rctl -H "$GROUP" plan --topology halves --seed 7 2>&1)
out2=$(rctl -H "$GROUP" plan --topology halves --seed 7 2>&1)
check "plan halves --seed 7 twice: the same split" test "$out1" = "$out2"
check "plan applied nothing ($(all_drops))" healed
# --json: chaosd.topology/1, checked against doc/schema (validate_json, at the end)
rctl -H "$GROUP" --json plan --topology isolate:b >"$T/plan.json"
valid_doc() { # FILE PYTHON-EXPRESSION over d
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert eval(sys.argv[2]), d' "$@"
}
check "plan --json: b cuts a and c, with their destinations" valid_doc "$T/plan.json" \
	"d['command'] == 'plan' and d['describe'] == 'isolate:b (a c | b)' and d['hosts'][1]['cuts'] == [{'peer': 'a', 'destination': '10.80.0.1/32'}, {'peer': 'c', 'destination': '10.80.0.3/32'}]"

# --- isolate:<leader>: the majority elects a new leader and takes writes; the old leader
# refuses them; after the heal all three have the same revision
wait_until 20 agreed_leader
check "before isolate:<leader>: the members agree on a leader ($(leader_of a))" agreed_leader
L=$(leader_of a)
M=$(for h in $HOSTS; do [ "$h" = "$L" ] || echo "$h"; done | head -n 1)
"${BG_CTL[@]}" -H "$GROUP" inject partition --topology "isolate:$L" --for 60s --lease 6s \
	>"$T/iso.out" 2>"$T/iso.err" &
pid=$!
held() { grep -q '^holding' "$1"; }
wait_until 20 held "$T/iso.out"
t0=$(date +%s%N)
cat "$T/iso.out" "$T/iso.err"
check "isolate:$L applied: 4 partitions, held ($(all_drops) drop rules)" grep -q "^applied topology isolate:$L: 4 partition(s) on 3 hosts" "$T/iso.out"
new_leader() { local l; l=$(leader_of "$M"); [ -n "$l" ] && [ "$l" != "$L" ] && [ "$l" != 0 ]; }
wait_until 20 new_leader
ms=$(ms_since "$t0")
NL=$(leader_of "$M")
check "isolate:$L: the majority elected $NL (after ${ms} ms)" test "$NL" != "$L"
acc=$(writes "$M" 10)
ref=$(writes "$L" 3)
check "isolate:$L: the majority ($M) accepted $acc of 10 writes" test "$acc" = 10
check "isolate:$L: the isolated member refused $((3 - ref)) of 3 writes" test "$ref" = 0
out=$(rctl -H "$GROUP" status --topology 2>&1)
echo "$out"
check "status --topology: isolate:$L in force" grep -q "^topology in force: isolate:$L " <<<"$out"
rctl -H "$GROUP" --json status --topology >"$T/status.json"
check "status --topology --json: isolate:$L, each cut with its fault id" valid_doc "$T/status.json" \
	"d['describe'].startswith('isolate:$L ') and all(c['fault'] >= 1 for h in d['hosts'] for c in h['cuts']) and sum(len(h['cuts']) for h in d['hosts']) == 4"
kill -INT "$pid"
wait "$pid"
rc=$?
d=$(all_drops)
check "Ctrl-C heals: exit 0 ($rc), no drop rules ($d)" bash -c "[ $rc = 0 ] && [ '$d' = 0/0/0 ]"
check "Ctrl-C: chaosctl says it healed" grep -q '^healed (Interrupt)' "$T/iso.out"
t1=$(date +%s%N)
wait_until 20 same_revision
rms=$(ms_since "$t1")
check "after the heal all three report revision $(estatus a revision) (in ${rms} ms)" same_revision
record "etcd isolate:$L: new leader $NL after ${ms} ms; writes: majority $acc/10 accepted, isolated $((3 - ref))/3 refused; revisions after heal a=$(estatus a revision) b=$(estatus b revision) c=$(estatus c revision) (equal after ${rms} ms)"

# --- halves with three members: a minority of one and a majority of two
out=$(rctl -H "$GROUP" plan --topology halves --seed 11 2>&1)
MIN=$(sed -n 's/^topology halves: isolate:\([abc]\) .*/\1/p' <<<"$out")
MAJ=$(for h in $HOSTS; do [ "$h" = "$MIN" ] || echo "$h"; done | head -n 1)
"${BG_CTL[@]}" -H "$GROUP" inject partition --topology halves --seed 11 --for 60s --lease 6s >"$T/halves.out" 2>&1 &
pid=$!
wait_until 20 held "$T/halves.out"
cat "$T/halves.out"
check "halves --seed 11 applied the split plan showed (minority '$MIN')" grep -q "^topology halves: isolate:$MIN " "$T/halves.out"
majority_leads() { local l; l=$(leader_of "$MAJ"); [ -n "$l" ] && [ "$l" != "$MIN" ] && [ "$l" != 0 ]; }
wait_until 20 majority_leads
acc=$(writes "$MAJ" 10)
ref=$(writes "$MIN" 3)
check "halves: the majority ($MAJ) accepted $acc of 10 writes" test "$acc" = 10
check "halves: the minority ($MIN) refused $((3 - ref)) of 3 writes" test "$ref" = 0
kill -INT "$pid"
wait "$pid"
wait_until 20 same_revision
check "halves healed: no drop rules ($(all_drops))" healed
check "halves: same revisions after the heal" same_revision
record "etcd halves (seed 11): minority $MIN refused $((3 - ref))/3 writes, majority $acc/10 accepted"

# --- all or nothing: c's guard rail (max_partition_duration = 2m) refuses a 5m partition
# after a and b applied theirs; they are rolled back and no host is partitioned
out=$(rctl -H "$GROUP" inject partition --topology isolate:a --for 5m 2>&1)
rc=$?
echo "$out"
check "refused on c: exit 3 ($rc)" test "$rc" = 3
check "refused on c: the host and its reason named" grep -q "topology isolate:a: c refused the partition from a: .*max_partition_duration" <<<"$out"
check "refused on c: a's and b's rolled back" grep -q "rolled back 3 of 3 partition(s) on a, b: no host is partitioned" <<<"$out"
check "refused on c: no partition on ANY host ($(all_drops) drop rules)" healed
record "rollback: c refused (max_partition_duration), 3 partitions on a, b rolled back, drop rules after: $(all_drops)"

# --- -H ... kill heals a detached topology
rctl -H "$GROUP" --json inject partition --topology bridge:b --seed 1 --for 90s --detach >"$T/bridge.json"
cat "$T/bridge.json"
check "inject --json --detach: no lease, a 90 s deadline, a and c cut each other" valid_doc "$T/bridge.json" \
	"d['command'] == 'inject' and d['lease_us'] == 0 and d['duration_us'] == 90000000 and [len(h['cuts']) for h in d['hosts']] == [1, 0, 1]"
check "bridge:b --detach: applied, a and c cut each other only ($(all_drops))" test "$(all_drops)" != 0/0/0
out=$(rctl -H "$GROUP" status --topology 2>&1)
check "status --topology: bridge:b in force" grep -q "^topology in force: bridge:b (a | c, b reaches both)" <<<"$out"
rctl -H "$GROUP" kill --reason "topology test" >/dev/null 2>&1
check "-H ... kill heals every host ($(all_drops))" healed
rctl -H "$GROUP" arm >/dev/null 2>&1

# --- a coordinator that dies (SIGKILL): every host heals itself within the lease (3 s)
"${BG_CTL[@]}" -H "$GROUP" inject partition --topology isolate:c --for 90s --lease 3s >"$T/dead.out" 2>&1 &
pid=$!
wait_until 20 held "$T/dead.out"
cat "$T/dead.out"
all_cut() { for h in $HOSTS; do [ "$(drops "$h")" -gt 0 ] || return 1; done; }
check "isolate:c held: drop rules on every host ($(all_drops))" all_cut
kill -KILL "$pid"
t0=$(date +%s%N)
wait "$pid" 2>/dev/null
wait_until 15 healed
ms=$(ms_since "$t0")
d=$(all_drops)
check "SIGKILL'd coordinator: all hosts healed ($d drop rules) in ${ms} ms (lease 3 s: within 4.5 s)" \
	bash -c "[ '$d' = 0/0/0 ] && [ $ms -le 4500 ]"
record "lease: coordinator SIGKILLed, all three hosts healed after ${ms} ms (lease 3 s)"
wait_until 20 same_revision
check "etcd: same revisions at the end" same_revision

# --- a GameDay step over the group: [scenario] hosts and topology = isolate:<leader>; chaosctl
# -H NAME=URL,... run gives each daemon its name and one seed, each applies its side of the cuts
wait_until 20 agreed_leader
check "before the step: the members agree on a leader ($(leader_of a))" agreed_leader
L=$(leader_of a)
PEERS=$(for h in $HOSTS; do [ "$h" = "$L" ] || echo "$h"; done)
M=$(head -n 1 <<<"$PEERS")
M2=$(tail -n 1 <<<"$PEERS")
printf '[scenario]\nname = isolate-leader\nhosts = a, b, c\n\n[step cut]\nat = 1s\nfault = partition\ntopology = isolate:%s\nfor = 12s\n' \
	"$L" >"$T/iso.ini"
out=$(rctl -H "$GROUP" plan "$T/iso.ini" 2>&1)
echo "$out"
check "plan over the group: $L cuts $M and $M2" bash -c "grep -Eq '^$L: +step cut +$M ' <<<'$out' && grep -Eq '^$L: +step cut +$M2 ' <<<'$out'"
check "plan over the group: $M and $M2 each cut $L only" bash -c "grep -Eq '^$M: +step cut +$L ' <<<'$out' && grep -Eq '^$M2: +step cut +$L ' <<<'$out' && ! grep -Eq '^$M: +step cut +$M2 ' <<<'$out'"
seeds=$(grep -Eo 'seed [0-9]+' <<<"$out" | sort -u | wc -l)
check "plan over the group: one seed for all hosts ($seeds)" test "$seeds" = 1
out=$("$CHAOSCTL" --socket "$T/a.sock" plan "$T/iso.ini" 2>&1)
check "a topology step on one host without its name: refused, the key named ($out)" \
	grep -q "topology = 'isolate:$L': this host's name in the group is not known" <<<"$out"
sed "s/^hosts = .*/hosts = a, b, d/; s/^topology = .*/topology = isolate:d/" "$T/iso.ini" >"$T/iso-d.ini"
out=$(rctl -H "a=ssh://root@${IP[a]}?socket=$T/a.sock" plan "$T/iso-d.ini" 2>&1)
check "a host without a peer's edge refuses at validation ($out)" grep -q "\[step cut\].*'d'" <<<"$out"
check "refused plans applied nothing ($(all_drops))" healed
"${BG_CTL[@]}" -H "$GROUP" run "$T/iso.ini" >"$T/run.out" 2>&1 &
pid=$!
mentions() { H "$1" nft list table inet chaosd 2>/dev/null | grep -c -F "${IP[$2]}"; }
step_cuts() { [ "$(mentions "$L" "$M")" -gt 0 ] && [ "$(mentions "$L" "$M2")" -gt 0 ] &&
	[ "$(mentions "$M" "$L")" -gt 0 ] && [ "$(mentions "$M2" "$L")" -gt 0 ]; }
wait_until 20 step_cuts
t0=$(date +%s%N)
check "during the step: $L cuts $M and $M2, each of them cuts $L ($(all_drops) drop rules)" step_cuts
check "during the step: $M and $M2 do not cut each other" bash -c "[ $(mentions "$M" "$M2") = 0 ] && [ $(mentions "$M2" "$M") = 0 ]"
wait_until 8 new_leader
acc=$(writes "$M" 3)
ref=$(writes "$L" 1)
ms=$(ms_since "$t0")
check "during the step: the majority ($M) accepted $acc of 3 writes" test "$acc" = 3
check "during the step: the isolated $L refused the write (still in the step: ${ms} ms < 11 s)" \
	bash -c "[ $ref = 0 ] && [ $ms -lt 11000 ]"
wait "$pid"
rc=$?
cat "$T/run.out"
check "the run over the group ended: exit 0 ($rc)" test "$rc" = 0
check "after the run: no partition on any host ($(all_drops))" healed
wait_until 20 same_revision
check "after the run: same revisions" same_revision
record "scenario topology step isolate:$L: majority $acc/3 writes accepted, isolated $((1 - ref))/1 refused; drop rules after the run: $(all_drops)"
# bridge:b: b cuts nobody (a run of no step there, held), a and c cut each other
printf '[scenario]\nname = bridge-b\nhosts = a, b, c\n\n[step br]\nat = 0s\nfault = partition\ntopology = bridge:b\nfor = 3s\n' \
	>"$T/bridge.ini"
"${BG_CTL[@]}" -H "$GROUP" run "$T/bridge.ini" >"$T/bridge-run.out" 2>&1 &
pid=$!
ac_cut() { [ "$(mentions a c)" -gt 0 ] && [ "$(mentions c a)" -gt 0 ]; }
wait_until 10 ac_cut
check "bridge:b step: a and c cut each other, b nobody ($(all_drops) drop rules)" \
	bash -c "[ $(mentions a c) -gt 0 ] && [ $(mentions c a) -gt 0 ] && [ $(drops b) = 0 ]"
wait "$pid"
rc=$?
check "bridge:b run: exit 0 ($rc), b held with no step, no partition left ($(all_drops))" \
	bash -c "[ $rc = 0 ] && grep -q '^b: .*outcome: held' '$T/bridge-run.out' && [ '$(all_drops)' = 0/0/0 ]"


check "every --json document is valid chaosd.topology/1" python3 - "$top_srcdir/doc/schema/chaosd.topology-1.json" "$T/plan.json" "$T/status.json" "$T/bridge.json" <<'PY'
import json, sys
from jsonschema import Draft202012Validator as V
v = V(json.load(open(sys.argv[1])))
for p in sys.argv[2:]:
    v.validate(json.load(open(p)))
PY

finish
