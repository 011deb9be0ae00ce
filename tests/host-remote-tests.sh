#!/bin/bash
# make check: chaosctl -H over real ssh. Two hosts, cd-a and cd-b, each a network namespace with
# its own sshd (Debian's openssh-server, key auth with a key made here) and its own chaosd on
# its own socket; the client runs in a third namespace, cd-c, joined to both by a management
# link. Faults are partitions (nftables: this kernel lacks sch_netem) on the data link between
# cd-a and cd-b, and every check reads the kernel of the namespace it concerns.
set -uo pipefail
# shellcheck source=tests/host-lib.sh
. "$top_srcdir/tests/host-lib.sh" remote nft ping python3 ssh ssh-keygen
SSHD=/usr/sbin/sshd
[ -x "$SSHD" ] || skip_or_fail "sshd missing (openssh-server): run tests/install-deps.sh"
command -v ansible-playbook >/dev/null ||
	skip_or_fail "ansible-playbook missing (ansible-core): run tests/install-deps.sh"
C() { ip netns exec cd-c "$@"; }
cleanup() {
	for p in ${PIDS:-} $(cat "$T/chaosd-b.pid" 2>/dev/null); do kill "$p" 2>/dev/null; done
}
PIDS=

topology || { echo "FAIL: topology"; exit 1; }
netns_del cd-c
ip netns add cd-c
C ip link set lo up
ip link add c-a netns cd-c type veth peer name m-a netns cd-a
ip link add c-b netns cd-c type veth peer name m-b netns cd-b
C ip addr add 10.79.1.1/24 dev c-a
C ip addr add 10.79.2.1/24 dev c-b
A ip addr add 10.79.1.2/24 dev m-a
B ip addr add 10.79.2.2/24 dev m-b
C ip link set c-a up
C ip link set c-b up
A ip link set m-a up
B ip link set m-b up

# --- keys, sshd per namespace. Host a's socket is named in the URL (?socket=), host b's sshd
# sets CHAOSD_SOCKET for its sessions. The remote side runs `chaosctl dial-stdio` from PATH:
# the one just built.
ssh-keygen -q -t ed25519 -N '' -C chaosd-test-host -f "$T/hostkey"
ssh-keygen -q -t ed25519 -N '' -C chaosd-test-client -f "$T/id"
cp "$T/id.pub" "$T/authorized_keys"
mkdir -p /run/sshd # sshd's privilege separation directory (systemd makes it on a real host)
for h in a b; do
	addr=10.79.1.2
	[ $h = b ] && addr=10.79.2.2
	echo "$addr $(cut -d' ' -f1-2 "$T/hostkey.pub")" >>"$T/known_hosts"
	setenv="PATH=$top_builddir:/usr/sbin:/usr/bin:/sbin:/bin"
	[ $h = b ] && setenv="$setenv CHAOSD_SOCKET=$T/b.sock"
	cat >"$T/sshd-$h.conf" <<EOF
ListenAddress $addr
HostKey $T/hostkey
PidFile $T/sshd-$h.pid
AuthorizedKeysFile $T/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
SetEnv $setenv
EOF
done
ip netns exec cd-a "$SSHD" -D -e -f "$T/sshd-a.conf" >>"$T/sshd-a.log" 2>&1 &
PIDS="$PIDS $!"
# The client's ssh: the user's own config would be ~/.ssh of the account running the test, so
# the ssh chaosctl finds in PATH is one that reads this test's config.
mkdir -p "$T/bin"
cat >"$T/ssh_config" <<EOF
Host *
	IdentityFile $T/id
	IdentitiesOnly yes
	UserKnownHostsFile $T/known_hosts
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
EOF
printf '#!/bin/sh\nexec /usr/bin/ssh -F %s "$@"\n' "$T/ssh_config" >"$T/bin/ssh"
chmod +x "$T/bin/ssh"
rctl() { C env PATH="$T/bin:$PATH" "$CHAOSCTL" "$@"; }

# --- chaosd in each namespace, edge db across the data link
write_config
cp "$T/chaosd.conf" "$T/a.conf"
cat >"$T/b.conf" <<'CONF'
[chaosd]
default_duration = 5m
max_duration = 1h
read_group = chaosd-rt

[edge db]
interface = b0
destination = 10.77.0.1/32

[edge cache]
interface = b0
destination = 10.77.0.3/32
CONF
ip netns exec cd-a "$CHAOSD" --config "$T/a.conf" --socket "$T/a.sock" \
	--state-dir "$T/state-a" >>"$T/chaosd-a.log" 2>&1 &
PIDS="$PIDS $!"
# Host b also has a user who is not root: chaosd-rt (uid 4242), in b's read_group. It is in
# copies of /etc/passwd, group and shadow bind-mounted in the mount namespace ip netns exec
# makes, where b's chaosd and sshd run: the machine's own files are not touched.
cp /etc/passwd "$T/passwd"
cp /etc/group "$T/group"
install -m 600 /etc/shadow "$T/shadow"
echo "chaosd-rt:x:4242:4242:chaosd remote test:$T:/bin/sh" >>"$T/passwd"
echo "chaosd-rt:x:4242:" >>"$T/group"
echo "chaosd-rt:*:19000:0:99999:7:::" >>"$T/shadow"
ip netns exec cd-b bash -c '
	for f in passwd group shadow; do mount --bind "$1/$f" "/etc/$f" || exit 1; done
	"$2" --config "$1/b.conf" --socket "$1/b.sock" --state-dir "$1/state-b" \
		>>"$1/chaosd-b.log" 2>&1 &
	echo $! >"$1/chaosd-b.pid"
	exec "$3" -D -e -f "$1/sshd-b.conf" >>"$1/sshd-b.log" 2>&1' _ "$T" "$CHAOSD" "$SSHD" &
PIDS="$PIDS $!"
check "the machine's /etc/passwd does not know chaosd-rt" bash -c "! getent passwd chaosd-rt"
HA="ssh://root@10.79.1.2?socket=$T/a.sock"
HB="ssh://root@10.79.2.2"
up() { rctl -H "$1" ping >/dev/null 2>&1; }
if ! wait_until 20 up "$HA" || ! wait_until 20 up "$HB"; then
	echo "FAIL: chaosd over ssh did not answer"
	tail -n 20 "$T"/sshd-*.log "$T"/chaosd-*.log
	rctl -H "$HA" ping
	exit 1
fi
snapshot "$T/before-a"
# the kernel's view of cd-a's and cd-b's partitions
drops() { ip netns exec "$1" nft list table inet chaosd 2>/dev/null | grep -c 'drop'; }
loss() { # loss NS DEST: percent of 10 pings lost
	ip netns exec "$1" ping -n -c 10 -i 0.05 -W 1 "$2" 2>&1 | sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p'
}

# --- one host: status and inject through ssh, seen in that namespace's kernel only
out=$(rctl -H "$HA" status 2>&1)
check "-H ssh:// status answers from cd-a's chaosd ($out)" grep -q 'No active faults' <<<"$out"
out=$(rctl -H "$HA" inject partition --edge db --for 10m 2>&1)
echo "  -> $out"
check "-H ssh:// inject: applied (exit 0)" grep -q "injected fault 1: partition on edge 'db' (a0)" <<<"$out"
n=$(drops cd-a)
check "cd-a's nftables has the partition's drop rules ($n)" in_range "${n:-0}" 1 100
check "cd-a: 10.77.0.2 unreachable ($(loss cd-a 10.77.0.2)% lost)" in_range "$(loss cd-a 10.77.0.2)" 100 100
check "cd-b's kernel untouched (no inet chaosd table)" bash -c "! ip netns exec cd-b nft list table inet chaosd >/dev/null 2>&1"
out=$(rctl -H "$HA" status 2>&1)
check "status over ssh lists the fault" grep -Eq '^1 +db +partition' <<<"$out"

# --- CHAOSCTL_HOST; host b's socket comes from CHAOSD_SOCKET in its sshd's environment
out=$(C env CHAOSCTL_HOST="$HB" PATH="$T/bin:$PATH" "$CHAOSCTL" inject partition --edge db --for 10m 2>&1)
echo "  -> $out"
check "CHAOSCTL_HOST inject: applied on b" grep -q "injected fault 1: partition on edge 'db' (b0)" <<<"$out"
n=$(drops cd-b)
check "cd-b's nftables has the partition's drop rules ($n)" in_range "${n:-0}" 1 100
check "cd-b: 10.77.0.1 unreachable ($(loss cd-b 10.77.0.1)% lost)" in_range "$(loss cd-b 10.77.0.1)" 100 100
out=$(C env CHAOSCTL_HOST="bad://x" "$CHAOSCTL" status 2>&1)
check "a bad CHAOSCTL_HOST is refused, naming the variable" grep -q "CHAOSCTL_HOST: bad host 'bad://x'" <<<"$out"

# --- both hosts at once: --json status, then kill reverts both kernels
rctl --json -H "$HA,$HB" status >"$T/status.json"
check "-H a,b --json status: one chaosd.hosts document with each host's faults" python3 - "$T/status.json" "$HA" "$HB" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["schema"] == "chaosd.hosts/1" and d["ok"] is True, d
assert [h["host"] for h in d["hosts"]] == sys.argv[2:4], d
for h in d["hosts"]:
    assert h["exit"] == 0 and h["result"]["schema"] == "chaosd.status/2", h
    assert [f["kind"] for f in h["result"]["faults"]] == ["partition"], h
PY
out=$(rctl -H "$HA,$HB" kill --reason "remote test" 2>&1)
rc=$?
echo "$out"
check "-H a,b kill: exit 0 ($rc)" test "$rc" = 0
check "-H a,b kill: a line for a" grep -Eq "^ssh://root@10\.79\.1\.2\?socket=[^ ]*: +kill switch engaged: 1 fault" <<<"$out"
check "-H a,b kill: a line for b" grep -Eq "^ssh://root@10\.79\.2\.2: +kill switch engaged: 1 fault" <<<"$out"
check "kill: cd-a's drop rules are gone ($(drops cd-a))" test "$(drops cd-a)" = 0
check "kill: cd-b's drop rules are gone ($(drops cd-b))" test "$(drops cd-b)" = 0
check "kill: cd-a reaches 10.77.0.2 again ($(loss cd-a 10.77.0.2)% lost)" in_range "$(loss cd-a 10.77.0.2)" 0 0
check "kill: cd-b reaches 10.77.0.1 again ($(loss cd-b 10.77.0.1)% lost)" in_range "$(loss cd-b 10.77.0.1)" 0 0
check "kill: cd-a's tc, links and nft tables as before" same_state "$T/before-a"
out=$(rctl -H "$HA" inject partition --edge db 2>&1)
check "the kill switch holds on a (inject refused)" grep -q 'kill switch' <<<"$out"
out=$(rctl -H "$HA,$HB" arm 2>&1)
check "-H a,b arm: both armed" test "$(grep -c 'armed:' <<<"$out")" = 2

# --- the remote user's permissions: chaosd on b reads the relay's credentials (SO_PEERCRED),
# so chaosd-rt, a member of b's read_group only, may read but not change anything
HU="ssh://chaosd-rt@10.79.2.2"
out=$(rctl -H "$HU" status 2>&1)
check "a read_group user over ssh may read ($out)" grep -q 'No active faults' <<<"$out"
out=$(rctl -H "$HU" inject partition --edge db 2>&1)
rc=$?
echo "  -> $out"
check "a read_group user over ssh may not inject: chaosd saw uid 4242, not root (exit $rc)" \
	grep -q "permission denied: uid 4242 is neither root nor in the socket group 'chaos'; it may only read" <<<"$out"
check "the refused inject left b's kernel alone ($(drops cd-b) drop rules)" test "$(drops cd-b)" = 0

# --- one GameDay on both hosts: it aborts on a (its probe crosses the partition; on a loaded
# machine its steady state may fail first: violated), and then the fan-out aborts b's, which
# would have run its 120 s step (b's probe stays on b's own address)
ip netns exec cd-b python3 -m http.server --bind 10.77.0.2 8080 >/dev/null 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 50); do A bash -c 'exec 3<>/dev/tcp/10.77.0.2/8080' 2>/dev/null && break; sleep 0.1; done
cat >"$T/both.ini" <<'INI'
[scenario]
name = both
max_duration = 5m

[probe api]
type = http
target = http://10.77.0.2:8080/
interval = 200ms
# generous: a loaded machine must not fail the steady state by slowness alone
timeout = 2s
abort_when = failure_rate > 50% over 4s
steady_state = success_rate >= 90% over 2s

[step cut]
at = 0s
fault = partition
edge = db
for = 120s
INI
t0=$(date +%s%N)
rctl -H "$HA,$HB" run "$T/both.ini" >"$T/both.out" 2>"$T/both.err"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
cat "$T/both.out" "$T/both.err"
record "-H a,b run: $(grep -o 'outcome: [a-z]*' "$T/both.out" | head -n 1) on a, b's run aborted by the fan-out; ${ms} ms in all"
check "-H a,b run: exit 2 (aborted) ($rc)" test "$rc" = 2
check "-H a,b run: a's run aborted by its probe (or violated)" grep -Eq "^ssh://root@10.79.1.2\?socket=[^ ]*: .*(abort .*probe api: failure_rate|outcome: violated)" "$T/both.out"
check "-H a,b run: the fan-out says it aborts the others" grep -Eq "^ssh://root@10.79.1.2\?socket=[^ ]*: +run (aborted|violated): aborting the runs on the other hosts" "$T/both.err"
check "-H a,b run: b's run aborted too" grep -q "^ssh://root@10.79.2.2: .*interrupted: aborting run" "$T/both.err"
check "-H a,b run: over well before b's 120 s step (${ms} ms)" in_range "$ms" 0 60000
check "-H a,b run: no drop rules left on a ($(drops cd-a)) nor b ($(drops cd-b))" test "$(drops cd-a)$(drops cd-b)" = 00

# --- contrib/ansible: its syntax, then the GameDay play against both hosts over the same sshd
# (the install play is skipped: chaosd_deb unset; these hosts share this machine's files)
PLAY=$top_srcdir/contrib/ansible/gameday.yml
export ANSIBLE_HOME=$T/ansible ANSIBLE_LOCAL_TEMP=$T/ansible/tmp ANSIBLE_NOCOLOR=1 \
	ANSIBLE_SSH_ARGS="-o ControlMaster=no" ANSIBLE_PIPELINING=1 ANSIBLE_RETRY_FILES_ENABLED=0
check "ansible-playbook --syntax-check gameday.yml" ansible-playbook --syntax-check -i localhost, "$PLAY"
cat >"$T/inventory" <<INV
[chaosd]
a ansible_host=10.79.1.2 chaosctl="$CHAOSCTL --socket $T/a.sock"
b ansible_host=10.79.2.2 chaosctl="$CHAOSCTL --socket $T/b.sock"
[chaosd:vars]
ansible_user=root
ansible_become=false
ansible_python_interpreter=/usr/bin/python3
ansible_ssh_common_args=-F $T/ssh_config
ansible_remote_tmp=$T/ansible/remote
INV
t0=$(date +%s%N)
C env PATH="$T/bin:$PATH" ansible-playbook -i "$T/inventory" "$PLAY" -e chaosd_scenario="$T/both.ini" >"$T/ansible.out" 2>&1
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
grep -E '^(TASK|ok|changed|fatal|failed|PLAY RECAP|[ab] +:)|"msg"' "$T/ansible.out" | tail -40
record "ansible gameday.yml on a and b: $(grep -o '"msg": "a: run [^ ]* [a-z]*' "$T/ansible.out" | awk '{print $NF}') on a, the play aborted b's; ${ms} ms in all"
check "ansible: the play fails (the hypothesis did not hold) ($rc)" test "$rc" = 2
check "ansible: a's run aborted (or violated)" grep -Eq '"msg": "a: run [^ ]* (aborted|violated)"' "$T/ansible.out"
check "ansible: b's run aborted by the play" grep -q '"msg": "b: run [^ ]* aborted"' "$T/ansible.out"
check "ansible: the abort was sent to b only" bash -c "grep -A3 'TASK \\[Abort the run where' '$T/ansible.out' | grep -q '^changed: \\[b\\]' && ! grep -A3 'TASK \\[Abort the run where' '$T/ansible.out' | grep -q '^changed: \\[a\\]'"
run_b=$(sed -n 's/.*"msg": "b: run \([^ ]*\) aborted".*/\1/p' "$T/ansible.out" | head -n 1)
out=$(B "$CHAOSCTL" --socket "$T/b.sock" --json report "${run_b:-none}" 2>&1)
check "ansible: b's report of run ${run_b:-?} says chaosctl abort" grep -q 'chaosctl abort by uid 0' <<<"$out"
check "ansible: over well before b's 120 s step (${ms} ms)" in_range "$ms" 0 100000
check "ansible: no drop rules left on a ($(drops cd-a)) nor b ($(drops cd-b))" test "$(drops cd-a)$(drops cd-b)" = 00

# --- Ctrl-C (SIGINT) on `chaosctl -H a,b run` aborts the run on both hosts. Partitioned: the
# cache edge, which neither host's probe uses, so only the signal can end the runs early.
sed -e 's/^name = both/name = long/' -e 's/^edge = db/edge = cache/' "$T/both.ini" >"$T/long.ini"
t0=$(date +%s%N)
ip netns exec cd-c env PATH="$T/bin:$PATH" "$CHAOSCTL" -H "$HA,$HB" run "$T/long.ini" \
	>"$T/long.out" 2>"$T/long.err" &
pid=$!
started() { [ "$(grep -c 'started (Ctrl-C aborts it' "$T/long.out")" = 2 ]; }
wait_until 30 started
sleep 2
kill -INT "$pid"
wait "$pid"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
cat "$T/long.err"
check "Ctrl-C on -H a,b run: exit 2 (aborted) ($rc)" test "$rc" = 2
check "Ctrl-C on -H a,b run: both runs aborted ($(grep -c 'interrupted: aborting run' "$T/long.err") of 2)" test "$(grep -c 'interrupted: aborting run' "$T/long.err")" = 2
check "Ctrl-C on -H a,b run: both reports say chaosctl abort" test "$(grep -c 'outcome: aborted (exit 2): chaosctl abort' "$T/long.out")" = 2
check "Ctrl-C on -H a,b run: over long before the 120 s step (${ms} ms)" in_range "$ms" 0 60000
check "Ctrl-C on -H a,b run: no drop rules left on a ($(drops cd-a)) nor b ($(drops cd-b))" test "$(drops cd-a)$(drops cd-b)" = 00

# --- a dead host: named with ssh's reason, the live host's answer still printed, exit 5 (unreachable)
DEAD="ssh://root@10.79.2.2:2222"
rctl -H "$HA,$DEAD" status >"$T/dead.out" 2>"$T/dead.err"
rc=$?
cat "$T/dead.out" "$T/dead.err"
check "dead host: exit non-zero ($rc)" test "$rc" != 0
check "dead host: the live host's status printed" grep -q "^ssh://root@10.79.1.2?socket=.*No active faults" "$T/dead.out"
check "dead host: named, with ssh's reason" grep -q "^$DEAD: .*cannot reach chaosd on $DEAD (ssh exit status 255): ssh: connect to host 10.79.2.2 port 2222: Connection refused" "$T/dead.err"
check "dead host: the summary names it" grep -q "status failed on 1 of 2 hosts: $DEAD (exit 5)" "$T/dead.err"
rctl --json -H "$DEAD,$HA" status >"$T/dead.json" 2>/dev/null
check "dead host: --json has both, the dead one as a chaosd.error document" python3 - "$T/dead.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["schema"] == "chaosd.hosts/1" and d["ok"] is False, d
dead, live = d["hosts"]
assert dead["exit"] == 5 and dead["result"]["schema"] == "chaosd.error/1", d
assert "Connection refused" in dead["result"]["error"] and "Connection refused" in dead["error"], d
assert live["exit"] == 0 and live["result"]["schema"] == "chaosd.status/2", d
PY
if python3 -c 'import jsonschema' 2>/dev/null; then
	check "both --json documents are valid chaosd.hosts/1, and each host's its own schema" \
		python3 - "$top_srcdir/doc/schema" "$T/status.json" "$T/dead.json" <<'PY'
import json, os, sys
from jsonschema import Draft202012Validator as V
sdir = sys.argv[1]
def schema(name):
    return json.load(open(os.path.join(sdir, name.replace("/", "-") + ".json")))
for p in sys.argv[2:]:
    d = json.load(open(p))
    V(schema("chaosd.hosts/1")).validate(d)
    for h in d["hosts"]:
        V(schema(h["result"]["schema"])).validate(h["result"])
PY
else
	skip_or_fail "python3-jsonschema missing: run tests/install-deps.sh"
fi
out=$(rctl -H "ssh://root@10.79.1.2?socket=/nonexistent.sock" status 2>&1)
echo "  -> $out"
check "a wrong remote socket: the remote relay's reason" grep -q "cannot reach chaosd on .*dial-stdio: cannot reach chaosd at '/nonexistent.sock'" <<<"$out"

# --- a lease held over ssh outlives chaosd's idle timeout (60 s): the renewal every 70 s (a
# third of 3m30s) finds the session closed and opens another
ip netns exec cd-c env PATH="$T/bin:$PATH" "$CHAOSCTL" -H "$HA" inject partition --edge db \
	--lease 3m30s >"$T/lease.out" 2>&1 &
pid=$!
sleep 75
out=$(rctl -H "$HA" status 2>&1)
check "lease over ssh: the fault is still there after 75 s ($(drops cd-a) drop rules)" \
	grep -Eq '^[0-9]+ +db +partition' <<<"$out"
check "lease over ssh: chaosctl still holds it" kill -0 "$pid"
kill -INT "$pid"
wait "$pid"
rc=$?
cat "$T/lease.out"
check "lease over ssh: stopping chaosctl reverts the fault (exit $rc)" grep -q '^reverted fault' "$T/lease.out"
check "lease over ssh: the renewal at 70 s and the revert went through new sessions, no error" \
	bash -c "! grep -q 'cannot reach' '$T/lease.out'"
check "lease over ssh: no drop rules left on a ($(drops cd-a))" test "$(drops cd-a)" = 0

# --- refused before anything is sent
expect_usage() { # DESC PATTERN ARGS...
	local desc=$1 pat=$2 out rc
	shift 2
	out=$(rctl "$@" 2>&1)
	rc=$?
	if [ "$rc" = 4 ] && grep -q -- "$pat" <<<"$out"; then ok "$desc"; else bad "$desc: exit $rc, '$out'"; fi
}
expect_usage "bad scheme" "bad host 'http://h': unsupported scheme 'http://'" -H http://h status
expect_usage "bad port" "bad port '70000' (1-65535)" -H ssh://h:70000 status
expect_usage "option injection as a host" "bad host name '-oProxyCommand=x'" -H ssh://-oProxyCommand=x status
expect_usage "unknown query" "unknown query 'sock=/x' (only socket=PATH)" -H "ssh://h?sock=/x" status
expect_usage "shell characters in the socket" "socket path '/x;id' must be absolute" -H "ssh://h?socket=/x;id" status
expect_usage "an empty host in the list" "bad host '' in 'a,,b': empty host name" -H a,,b status
expect_usage "revert ID on two hosts" "revert takes one host, not 2: fault ids are per host" -H "$HA,$HB" revert 1
expect_usage "--socket with -H" "with -H give the remote one as ssh://HOST?socket=PATH" -H "$HA" --socket /x status
check "nothing was applied by refused commands" test "$(drops cd-a)$(drops cd-b)" = 00

finish
