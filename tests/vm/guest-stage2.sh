#!/bin/bash
# Stage 2 of the chaosd VM guest. run.sh copies it and job.sh into the control share, which the
# initramfs mounts at /run/chaosd-vm.
#   (no argument)  PID 1 right after switch_root: finish the setup, then run the job (plain mode)
#                  or install a oneshot unit for it and exec systemd (--systemd mode).
#   --run          run the job, report its status, power off (called by that unit).
# Reporting: the exit status goes to /run/chaosd-vm/exit (primary) and to the console as
# "CHAOSD-VM-EXIT=<n> <nonce>"; setup failures print "CHAOSD-VM-BOOT-FAILED: <why>".
set -u
ctl=/run/chaosd-vm
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

power_off() {
	local wait=/run/chaosd-vm-poweroff.fifo
	sync
	# Let the serial line drain before the machine disappears: stty's tcsetattr uses TCSADRAIN.
	stty -F /dev/console "$(stty -F /dev/console -g 2>/dev/null)" 2>/dev/null
	mkfifo "$wait" 2>/dev/null
	echo o >/proc/sysrq-trigger
	# The power-off runs asynchronously and tears down the 9p root, so from here on only
	# builtins: wait on a FIFO nobody writes (opened read-write, so the open does not block).
	read -r -t 60 <>"$wait"
	echo "chaosd-vm: sysrq power-off did not happen" >&2
	exit 1 # PID 1 exiting panics the kernel; panic=-1 and -no-reboot end qemu
}

boot_fail() {
	echo "CHAOSD-VM-BOOT-FAILED: $*"
	power_off
}

# shellcheck source=/dev/null
source "$ctl/job.sh" || boot_fail "cannot read $ctl/job.sh"
# job.sh defines: JOB_SCRIPT JOB_ARGS[] JOB_CWD JOB_ENV[] JOB_NONCE JOB_MODE JOB_OUT

setup() {
	echo chaosd-vm >/proc/sys/kernel/hostname
	# devtmpfs lacks the links udev would make; bash process substitution needs /dev/fd.
	if ! { ln -sfn /proc/self/fd /dev/fd && ln -sfn /proc/self/fd/0 /dev/stdin &&
		ln -sfn /proc/self/fd/1 /dev/stdout && ln -sfn /proc/self/fd/2 /dev/stderr; }; then
		boot_fail "create /dev/fd and /dev/std* links"
	fi
	mkdir -p /sys/fs/cgroup
	mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup ||
		boot_fail "mount cgroup2 on /sys/fs/cgroup"
	ip link set lo up || boot_fail "ip link set lo up"
	# Module autoloading (sch_netem, ifb, nf_tables...) goes through the host's kmod via the
	# kernel's modprobe helper and the shared, depmod'ed module tree.
	local helper
	helper=$(</proc/sys/kernel/modprobe)
	[[ -x $helper ]] || boot_fail "kernel modprobe helper '$helper' is not executable in the guest"
	[[ -f /lib/modules/$(uname -r)/modules.dep ]] ||
		boot_fail "/lib/modules/$(uname -r)/modules.dep missing (module share not mounted?)"
}

run_job() {
	local rc
	if ! cd "$JOB_CWD" 2>/dev/null; then
		boot_fail "working directory $JOB_CWD is not visible in the guest"
	fi
	[[ -x $JOB_SCRIPT && -f $JOB_SCRIPT ]] ||
		boot_fail "script $JOB_SCRIPT is not an executable file in the guest"
	local -a env=(PATH="$PATH" HOME=/root TERM=dumb LANG=C.UTF-8 CHAOSD_VM=1)
	[[ $JOB_OUT == 1 ]] && env+=(CHAOSD_VM_OUT=/mnt/out)
	env -i "${env[@]}" "${JOB_ENV[@]}" "$JOB_SCRIPT" "${JOB_ARGS[@]}" </dev/null
	rc=$?
	sync
	echo "$rc" >"$ctl/exit.tmp" && mv "$ctl/exit.tmp" "$ctl/exit"
	printf 'CHAOSD-VM-EXIT=%d %s\n' "$rc" "$JOB_NONCE"
	power_off
}

install_systemd_job() {
	local d=/run/systemd/system
	mkdir -p "$d" || boot_fail "mkdir $d"
	# A target of its own: basic.target plus the job, none of the host's multi-user services.
	cat >"$d/chaosd-vm.target" <<-EOF || boot_fail "write $d/chaosd-vm.target"
		[Unit]
		Description=chaosd VM test
		Requires=basic.target chaosd-vm-job.service
		After=basic.target
		AllowIsolate=yes
	EOF
	cat >"$d/chaosd-vm-job.service" <<-EOF || boot_fail "write $d/chaosd-vm-job.service"
		[Unit]
		Description=chaosd VM test script
		After=basic.target
		[Service]
		Type=oneshot
		ExecStart=/bin/bash $ctl/stage2.sh --run
		StandardInput=null
		StandardOutput=tty
		StandardError=inherit
		TTYPath=/dev/console
		TTYReset=no
		TTYVHangup=no
	EOF
}

case ${1:-} in
--run)
	run_job
	;;
"")
	setup
	if [[ $JOB_MODE == systemd ]]; then
		install_systemd_job
		# The host may be a container: its marker files would make systemd believe it runs in
		# one and ignore the kernel command line (systemd.unit=...). Deleting them only
		# whites them out in the guest's overlay.
		rm -f /.dockerenv /run/.containerenv || boot_fail "remove container marker files"
		# tmpfiles.d/tmp.conf says "D /tmp": at boot systemd-tmpfiles would empty /tmp,
		# which here is the host's (a clone built under /tmp would vanish, and deleting the
		# host's files one whiteout at a time takes minutes). An empty override keeps it.
		mkdir -p /etc/tmpfiles.d || boot_fail "mkdir /etc/tmpfiles.d"
		: >/etc/tmpfiles.d/tmp.conf || boot_fail "override tmpfiles.d/tmp.conf"
		# run.sh put systemd.unit=chaosd-vm.target on the kernel command line.
		# shellcheck disable=SC2093 # only returns if exec fails
		exec /lib/systemd/systemd
		boot_fail "exec /lib/systemd/systemd"
	fi
	run_job
	;;
*)
	boot_fail "stage2.sh: unknown argument $1"
	;;
esac
