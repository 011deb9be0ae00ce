#!/bin/bash
# Self-test of run.sh's console handling, without booting anything: a fake qemu-system-x86_64
# replays console transcripts seen on real boots (firmware noise, the guest's first line glued to
# "Booting from ROM", partial lines) and run.sh must print the guest's output cleanly and exit
# with the right status. Needs the prepared cache (run.sh calls prepare.sh; instant when warm).
#   tests/vm/selftest.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fake=$(mktemp -d)
trap 'rm -rf "$fake"' EXIT

cat >"$fake/qemu-system-x86_64" <<'EOF'
#!/bin/bash
# Fake qemu: find the control share, read the nonce, replay $FAKE_SCENARIO.
set -euo pipefail
for a in "$@"; do
	[[ $a =~ path=([^,]*),mount_tag=chaosdctl ]] && ctl=${BASH_REMATCH[1]}
done
# shellcheck source=/dev/null
source "$ctl/job.sh"
n=$JOB_NONCE
e=$'\e'
bios="${e}c${e}[?7l${e}[2J${e}[0mSeaBIOS (version 1.16.2-debian-1.16.2-1)"$'\r\n'
off=$'[    4.297410] sysrq: Power Off\r\n[    4.301964] reboot: Power down\r\n'
case $FAKE_SCENARIO in
split-rom) # seen: the third dot after a terminal reset, then a bare CR
	printf '%s' "$bios" "Booting from ROM..${e}c${e}[?7l${e}[2J${e}[0m."$'\r'"hello"$'\r\n'
	printf '%s' "second ${e}[1;31mred${e}[0m line"$'\r\n' "CHAOSD-VM-EXIT=0 $n"$'\r\n' "$off"
	echo 0 >"$ctl/exit" ;;
same-line) # the recipe's case: guest output right after "Booting from ROM..."
	printf '%s' "$bios" "Booting from ROM...hello"$'\r\n' "CHAOSD-VM-EXIT=5 $n"$'\r\n' "$off" ;;
own-line)
	printf '%s' "$bios" "Booting from ROM..."$'\r\n' "${e}c${e}[?7l${e}[2J" "hello"$'\r\n'
	printf '%s' "CHAOSD-VM-EXIT=0 $n"$'\r\n' ;;
no-newline) # the script's last line had no newline: the marker follows on the same line
	printf '%s' "$bios" "Booting from ROM...hello"$'\r\n' "partial" "CHAOSD-VM-EXIT=3 $n"$'\r\n'
	echo 3 >"$ctl/exit" ;;
spoof) # a marker with the wrong nonce is just output
	printf '%s' "Booting from ROM...hello"$'\r\n' "CHAOSD-VM-EXIT=0 0000"$'\r\n'
	printf '%s' "CHAOSD-VM-EXIT=4 $n"$'\r\n' ;;
file-only) # marker lost on the console: the status file decides
	printf '%s' "Booting from ROM...hello"$'\r\n'
	echo 6 >"$ctl/exit" ;;
boot-failed)
	printf '%s' "Booting from ROM...CHAOSD-VM-BOOT-FAILED: insmod 9p.ko: bad"$'\r\n' "$off" ;;
no-marker)
	printf '%s' "$bios" "Booting from ROM...hello"$'\r\n' "[ 1.0] Kernel panic"$'\r\n' ;;
hang)
	printf '%s' "Booting from ROM...hello"$'\r\n'
	exec sleep 600 ;;
esac
EOF
chmod +x "$fake/qemu-system-x86_64"

fails=0
# expect SCENARIO STATUS STDOUT [run.sh options...]
expect() {
	local scenario=$1 want_rc=$2 want_out=$3 got rc=0
	shift 3
	got=$(FAKE_SCENARIO=$scenario PATH=$fake:$PATH \
		"$here/run.sh" "$@" "$here/smoke.sh" 2>"$fake/stderr") || rc=$?
	if [[ $rc == "$want_rc" && $got == "$want_out" ]]; then
		echo "ok:   $scenario -> $rc"
	else
		echo "FAIL: $scenario: exit $rc (want $want_rc), stdout:"
		printf '%s\n' "$got" | sed 's/^/    | /' | cat -A
		echo "  want:"
		printf '%s\n' "$want_out" | sed 's/^/    | /'
		sed 's/^/    stderr: /' "$fake/stderr"
		fails=$((fails + 1))
	fi
}

expect split-rom 0 $'hello\nsecond red line'
expect same-line 5 hello
expect own-line 0 hello
expect no-newline 3 $'hello\npartial'
expect spoof 4 $'hello\nCHAOSD-VM-EXIT=0 0000'
expect file-only 6 hello
expect boot-failed 125 "CHAOSD-VM-BOOT-FAILED: insmod 9p.ko: bad"
expect no-marker 125 $'hello\n[ 1.0] Kernel panic'
expect hang 124 hello --timeout 2

if ((fails > 0)); then
	echo "selftest: $fails failed"
	exit 1
fi
echo "selftest: all passed"
