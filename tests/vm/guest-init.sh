#!/bin/busybox sh
# shellcheck shell=dash
# /init of the chaosd VM initramfs (busybox sh, PID 1).
# Loads the virtio/9p/overlay modules, builds the guest root (host / over 9p, read-only, with a
# tmpfs overlay on top), mounts the module tree, /run and the run.sh control share, then
# switch_roots into stage 2 (guest-stage2.sh, copied into the control share by run.sh).
# Kernel command line (set by run.sh): chaosd.kver=KVER chaosd.msize=N chaosd.out=0|1
# chaosd.rootopts=OPT,... (extra 9p mount options for the root, for experiments)

/bin/busybox --install -s /bin
export PATH=/bin

# The kernel may have started us without stdio; devtmpfs gives us a console to talk to.
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1

fail() {
	echo "CHAOSD-VM-BOOT-FAILED: $*"
	echo o >/proc/sysrq-trigger 2>/dev/null || echo o >/newroot/proc/sysrq-trigger 2>/dev/null
	poweroff -f # reboot(2) directly, in case /proc is not where we expect
	while :; do sleep 60; done
}

mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"

kver=$(uname -r)
msize=262144
want_out=0
# shellcheck disable=SC2013 # the command line is a list of words
for arg in $(cat /proc/cmdline); do
	case $arg in
	chaosd.kver=*) kver=${arg#*=} ;;
	chaosd.msize=*) msize=${arg#*=} ;;
	chaosd.out=*) want_out=${arg#*=} ;;
	chaosd.rootopts=*) rootopts=",${arg#*=}" ;;
	esac
done
[ "$kver" = "$(uname -r)" ] || fail "booted kernel $(uname -r) but run.sh expected $kver"

# Order and decompression were settled by prepare.sh.
[ -f /modules/load.list ] || fail "initramfs has no /modules/load.list (rebuild with prepare.sh)"
while read -r mod; do
	err=$(insmod "/modules/$mod" 2>&1) || fail "insmod $mod: $err"
done </modules/load.list

# virtio devices probe asynchronously; wait until every 9p mount tag we need is visible.
have_tag() {
	for t in /sys/bus/virtio/drivers/9pnet_virtio/*/mount_tag; do
		[ -f "$t" ] && [ "$(tr -d '\0' <"$t")" = "$1" ] && return 0
	done
	return 1
}
tags="hostroot modules chaosdctl"
[ "$want_out" = 1 ] && tags="$tags chaosdout"
for tag in $tags; do
	i=0
	until have_tag "$tag"; do
		i=$((i + 1))
		[ $i -le 200 ] || fail "9p mount tag '$tag' did not appear (virtio-9p device missing?)"
		sleep 0.05
	done
done

p9() { # TAG DIR EXTRA_OPTS
	err=$(mount -t 9p -o "trans=virtio,version=9p2000.L,msize=$msize$3" "$1" "$2" 2>&1) ||
		fail "mount 9p tag '$1' on $2: $err"
}

mkdir -p /lower /rw
p9 hostroot /lower ",ro$rootopts"
mount -t tmpfs -o mode=755 tmpfs /rw || fail "mount tmpfs for the overlay upper layer"
mkdir -p /rw/upper /rw/work
err=$(mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot 2>&1) ||
	fail "mount overlay (host root + tmpfs): $err"

r=/newroot
mkdir -p "$r/lib/modules/$kver" || fail "mkdir /lib/modules/$kver in the guest root"
p9 modules "$r/lib/modules/$kver" ",ro"
# /tmp stays the overlay's: the host's /tmp shows through (a clone built under /tmp runs in
# the guest as it is) and the guest's writes land in the tmpfs upper layer.
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$r/run" || fail "mount tmpfs on /run"
mkdir -p "$r/run/chaosd-vm"
p9 chaosdctl "$r/run/chaosd-vm" ""
if [ "$want_out" = 1 ]; then
	mkdir -p "$r/mnt/out" || fail "mkdir /mnt/out in the guest root"
	p9 chaosdout "$r/mnt/out" ""
fi
[ -f "$r/run/chaosd-vm/stage2.sh" ] || fail "control share has no stage2.sh"

for d in dev proc sys; do
	mount --move "/$d" "$r/$d" || fail "move /$d into the new root"
done
mkdir -p "$r/dev/pts" "$r/dev/shm"
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts "$r/dev/pts" || fail "mount /dev/pts"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$r/dev/shm" || fail "mount /dev/shm"

# shellcheck disable=SC2093 # only reached if exec fails
exec switch_root "$r" /bin/bash /run/chaosd-vm/stage2.sh
fail "switch_root to the 9p root failed"
