#!/bin/bash
# Shared start of the host tests (make check, on this machine's kernel, in network
# namespaces): skip or fail when a requirement is missing (tests/skip.sh), sourcing
# tests/vm/lib.sh with a test directory of their own, and an exit that leaves nothing running.
# Sourced, not run: . host-lib.sh NAME [COMMAND...]
# A suite's own `cleanup` function, if it defines one, runs first at exit; then every
# background job of the suite and every process in cd-a, cd-b and cd-c is ended and the
# namespaces are deleted.
: "${top_srcdir:?}" "${top_builddir:?}"
# Every host test uses the same namespaces (cd-a, cd-b) and make check -j runs tests at the
# same time: one host test at a time, the lock held by flock itself (-o: not by the daemons
# and servers a test starts in the background).
if [ -z "${CHAOSD_HOST_LOCKED:-}" ]; then
	export CHAOSD_HOST_LOCKED=1
	flock -o -w 900 -E 75 /run/chaosd-host-tests.lock bash "$0"
	rc=$?
	# flock's own timeout says nothing: say why this suite did not run
	[ "$rc" != 75 ] || echo "FAIL: /run/chaosd-host-tests.lock still held by other host suites after 900 s"
	exit "$rc"
fi
# shellcheck source=tests/skip.sh
. "$top_srcdir/tests/skip.sh"
[ "$(id -u)" = 0 ] || skip_or_fail "needs root for network namespaces"
for c in ip "${@:2}"; do
	command -v "$c" >/dev/null || skip_or_fail "'$c' missing: run tests/install-deps.sh"
done
export CHAOSD_BUILDDIR=$top_builddir CHAOSD_SRCDIR=$top_srcdir
export CHAOSD_TEST_DIR=/run/chaosd-$1-test
# shellcheck source=tests/vm/lib.sh
. "$top_srcdir/tests/vm/lib.sh"
# host_firewall NS: a host firewall that tracks connections, as most hosts have, in NS (A or B):
# conntrack then knows the connections open before a partition begins (a namespace without
# such a rule tracks nothing, and connections = established has nothing to cut). Its table is
# inet hostfw.
host_firewall() {
	"$1" nft -f - <<'NFT'
table inet hostfw {
	chain input {
		type filter hook input priority 0; policy accept;
		ct state established,related accept
	}
}
NFT
}
# wait_until SECONDS CMD...: poll every 0.1 s
wait_until() {
	local n=$(($1 * 10))
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}
# The remote suites' ssh (sshd in network namespaces): ssh_keys makes a host key and a client
# key, and an ssh in $T/bin that uses and trusts only them; sshd_conf NAME ADDR SETENV writes
# $T/sshd-NAME.conf for an sshd on ADDR (key auth, root allowed, SETENV for its sessions) and
# adds ADDR to the client's known hosts.
ssh_keys() {
	ssh-keygen -q -t ed25519 -N '' -C chaosd-test-host -f "$T/hostkey"
	ssh-keygen -q -t ed25519 -N '' -C chaosd-test-client -f "$T/id"
	cp "$T/id.pub" "$T/authorized_keys"
	# /run/sshd: sshd's privilege separation directory (systemd makes it on a real host)
	mkdir -p /run/sshd "$T/bin"
	# The user's own config would be ~/.ssh of the account running the test, so the ssh
	# chaosctl finds in PATH is one that reads this test's config.
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
}
sshd_conf() {
	echo "$2 $(cut -d' ' -f1-2 "$T/hostkey.pub")" >>"$T/known_hosts"
	cat >"$T/sshd-$1.conf" <<EOF
ListenAddress $2
HostKey $T/hostkey
PidFile $T/sshd-$1.pid
AuthorizedKeysFile $T/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
SetEnv $3
EOF
}
host_exit() {
	local rc=$? jobs
	if declare -F cleanup >/dev/null; then cleanup; fi
	jobs=$(jobs -p)
	# shellcheck disable=SC2086
	[ -z "$jobs" ] || kill $jobs 2>/dev/null
	netns_del cd-a cd-b cd-c
	exit "$rc"
}
trap host_exit EXIT
