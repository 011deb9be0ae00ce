#!/bin/bash
# Boot Debian's stock kernel (it has sch_netem) under qemu and run SCRIPT inside it as root.
#
#   tests/vm/run.sh [--timeout SEC] [--mem MB] [--out DIR] [--log FILE] [--systemd] SCRIPT [ARGS...]
#
# The guest's root is this machine's / (read-only over 9p, tmpfs overlay on top: writes stay in
# the guest), so SCRIPT and the freshly built binaries run unchanged. SCRIPT runs with the
# caller's working directory, stdin /dev/null, a clean environment plus every CHAOSD_* variable,
# CI (tests/skip.sh reads it), CHAOSD_VM=1, and CHAOSD_VM_OUT=/mnt/out when --out is given. /run is a fresh tmpfs; /tmp shows the host's (writes stay in the guest).
#
#   --timeout SEC  kill the VM after SEC seconds (default 900)
#   --mem MB       guest memory (default 2048)
#   --out DIR      share host DIR read-write at /mnt/out in the guest (for result files)
#   --log FILE     also save the raw serial console to FILE
#   --systemd      boot the host's systemd as PID 1 and run SCRIPT from a oneshot unit
#
# Exit status: SCRIPT's, 124 on timeout, 125 if the VM did not boot or did not report a status.
# Environment: CHAOSD_VM_CACHE (kernel/initramfs cache, default ~/.cache/chaosd-vm),
# CHAOSD_VM_ACCEL (qemu accelerator, default tcg: KVM hangs on the machines this was built on),
# CHAOSD_VM_APPEND (extra kernel parameters, e.g. "loglevel=7" without quiet for debugging).
set -euo pipefail
shopt -s extglob

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
me=run.sh
die() {
	echo "$me: ERROR: $*" >&2
	exit 125
}
usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
	exit 125
}

timeout=900
mem=2048
out=""
log=""
mode=plain
while (($#)); do
	case $1 in
	--timeout) timeout=${2:?--timeout needs a value}; shift 2 ;;
	--timeout=*) timeout=${1#*=}; shift ;;
	--mem) mem=${2:?--mem needs a value}; shift 2 ;;
	--mem=*) mem=${1#*=}; shift ;;
	--out) out=${2:?--out needs a directory}; shift 2 ;;
	--out=*) out=${1#*=}; shift ;;
	--log) log=${2:?--log needs a file}; shift 2 ;;
	--log=*) log=${1#*=}; shift ;;
	--systemd) mode=systemd; shift ;;
	-h | --help) usage ;;
	--) shift; break ;;
	-*) die "unknown option $1 (see --help)" ;;
	*) break ;;
	esac
done
(($#)) || usage
[[ $timeout =~ ^[1-9][0-9]*$ ]] || die "--timeout must be a positive number of seconds"
[[ $mem =~ ^[1-9][0-9]*$ ]] || die "--mem must be a positive number of MB"

for c in qemu-system-x86_64 timeout mkfifo realpath; do
	command -v "$c" >/dev/null || die "'$c' not found; run tests/install-deps.sh"
done

# The guest mounts fresh filesystems over these, hiding the host's files there.
hidden_in_guest() {
	case $1/ in
	/run/* | /proc/* | /sys/* | /dev/* | /mnt/out/* | /lib/modules/* | /usr/lib/modules/*) return 0 ;;
	esac
	return 1
}

script=$(realpath -e -- "$1" 2>/dev/null) || die "script $1 does not exist"
shift
[[ -f $script && -x $script ]] || die "script $script is not an executable file"
cwd=$(pwd -P)
hidden_in_guest "$script" && die "script $script is under a directory the guest mounts over (/run, /proc, ...); put it elsewhere"
hidden_in_guest "$cwd" && die "working directory $cwd is under a directory the guest mounts over (/run, /proc, ...); run from elsewhere"

cache=${CHAOSD_VM_CACHE:-$HOME/.cache/chaosd-vm}
"$here/prepare.sh" "$cache" || die "preparing the VM kernel/initramfs in $cache failed"
cache=$(realpath "$cache")
kver=$(<"$cache/kver")
kernel=$cache/kernel/boot/vmlinuz-$kver
modules=$(realpath "$cache/kernel/lib/modules/$kver")

if [[ -n $out ]]; then
	mkdir -p -- "$out" || die "cannot create --out directory $out"
	out=$(realpath -- "$out")
fi
if [[ -n $log ]]; then
	: >"$log" || die "cannot write --log file $log"
fi

# Control share: stage 2 of the guest init, the job description, and the exit-status file.
ctl=$(mktemp -d "${TMPDIR:-/tmp}/chaosd-vm.XXXXXX")
qpid=""
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	[[ -n $qpid ]] && kill "$qpid" 2>/dev/null
	rm -rf "$ctl"
}
trap cleanup EXIT
trap 'echo "$me: interrupted" >&2; exit 130' INT TERM HUP

cp "$here/guest-stage2.sh" "$ctl/stage2.sh"
nonce=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
{
	printf 'JOB_SCRIPT=%q\n' "$script"
	printf 'JOB_CWD=%q\n' "$cwd"
	printf 'JOB_NONCE=%q\n' "$nonce"
	printf 'JOB_MODE=%q\n' "$mode"
	printf 'JOB_OUT=%q\n' "$([[ -n $out ]] && echo 1 || echo 0)"
	printf 'JOB_ARGS=('
	for a in "$@"; do printf '%q ' "$a"; done
	printf ')\nJOB_ENV=('
	while IFS= read -r v; do
		[[ $v == CHAOSD_VM_CACHE || $v == CHAOSD_VM_ACCEL || $v == CHAOSD_VM_APPEND ]] && continue
		printf '%q ' "$v=${!v}"
	done < <(compgen -e | grep -E '^(CHAOSD_.*|CI)$' || true)
	printf ')\n'
} >"$ctl/job.sh"

cmdline="console=ttyS0 quiet panic=-1 mitigations=off chaosd.kver=$kver chaosd.msize=262144"
cmdline+=" chaosd.out=$([[ -n $out ]] && echo 1 || echo 0)${CHAOSD_VM_APPEND:+ $CHAOSD_VM_APPEND}"
if [[ $mode == systemd ]]; then
	# fstab=no: the host's fstab describes the host's disks, not this guest.
	cmdline+=" systemd.unit=chaosd-vm.target fstab=no systemd.show_status=0"
	cmdline+=" systemd.mask=serial-getty@ttyS0.service"
fi

qemu=(qemu-system-x86_64 -accel "${CHAOSD_VM_ACCEL:-tcg}" -m "$mem" -smp 2
	-nographic -no-reboot -nic none
	-kernel "$kernel" -initrd "$cache/initramfs.cpio.gz" -append "$cmdline"
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$modules,mount_tag=modules,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$ctl,mount_tag=chaosdctl,security_model=none,multidevs=remap")
[[ -n $out ]] && qemu+=(-virtfs "local,path=$out,mount_tag=chaosdout,security_model=none,multidevs=remap")

fifo=$ctl/console
mkfifo "$fifo"
start=$SECONDS
# timeout(1) puts qemu in its own process group, so the traps above must kill it on ^C.
timeout -k 10 "$timeout" "${qemu[@]}" </dev/null >"$fifo" &
qpid=$!

# Stream the console: drop CRs, terminal escape sequences, the firmware's banner and its
# "Booting from ROM..." (the guest's first line may follow it on the same line), our own status
# marker, and the kernel's power-off messages after it.
status=""
boot_error=""
started=""
esc=$'\e'
while IFS= read -r line || [[ -n $line ]]; do
	[[ -n $log ]] && printf '%s\n' "$line" >>"$log"
	line=${line%%+($'\r')}
	if [[ -z $started ]]; then
		# Firmware output ends with terminal resets (ESC c) and carriage returns interleaved with
		# the guest's first bytes; exactly where varies from run to run. Keep what a terminal
		# would show last: the text after the last reset and after the last bare CR.
		[[ $line == *"$esc"c* ]] && line=${line##*"$esc"c}
		[[ $line == *$'\r'* ]] && line=${line##*$'\r'}
		if [[ $line == *"Booting from ROM"* ]]; then
			line=${line#*Booting from ROM}
			for _ in 1 2 3; do line=${line#.}; done
		fi
	fi
	line=${line//$'\r'/}
	line=${line//$esc\[*([0-9;?])[@A-Za-z]/}
	line=${line//$esc?/}
	if [[ -z $started ]]; then
		[[ -z $line || $line == "SeaBIOS (version "*")" ]] && continue
		started=1
	fi
	if [[ -n $status$boot_error && $line =~ ^\[\ *[0-9]+\.[0-9]+\]\ (sysrq|reboot):\  ]]; then
		continue
	fi
	if [[ $line =~ CHAOSD-VM-EXIT=([0-9]+)\ $nonce ]]; then
		status=${BASH_REMATCH[1]}
		line=${line%%CHAOSD-VM-EXIT=*}
		[[ -n $line ]] && printf '%s\n' "$line"
		continue
	fi
	[[ $line == *CHAOSD-VM-BOOT-FAILED:* ]] && boot_error=${line#*CHAOSD-VM-BOOT-FAILED: }
	printf '%s\n' "$line"
done <"$fifo"

qrc=0
wait "$qpid" || qrc=$?
qpid=""
elapsed=$((SECONDS - start))

# The status file written over 9p does not depend on the console draining before power-off.
if [[ -f $ctl/exit ]]; then
	file_status=$(<"$ctl/exit")
	if [[ -n $status && $status != "$file_status" ]]; then
		echo "$me: WARNING: console marker says $status, status file says $file_status; using the file" >&2
	fi
	status=$file_status
fi

if [[ -n $status ]]; then
	((qrc == 124)) && echo "$me: WARNING: the script finished but the VM did not power off before the timeout" >&2
	echo "$me: guest script exited with status $status after ${elapsed}s (kernel $kver, $mode mode)" >&2
	exit "$status"
fi
if [[ -n $boot_error ]]; then
	echo "$me: ERROR: guest setup failed: $boot_error" >&2
	exit 125
fi
if ((qrc == 124)); then
	echo "$me: ERROR: timed out after ${timeout}s without an exit status from the guest" >&2
	exit 124
fi
echo "$me: ERROR: the VM stopped after ${elapsed}s without reporting an exit status (qemu exit status $qrc); see the console output above${log:+ or $log}" >&2
exit 125
