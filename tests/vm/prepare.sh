#!/bin/bash
# Prepare the VM test kernel and initramfs in CACHE_DIR (idempotent; a second run is instant).
#
#   tests/vm/prepare.sh [CACHE_DIR]      (default: ${CHAOSD_VM_CACHE:-$HOME/.cache/chaosd-vm})
#
# Produces:
#   CACHE_DIR/kernel/boot/vmlinuz-KVER        Debian's stock kernel (has sch_netem)
#   CACHE_DIR/kernel/lib/modules/KVER         its module tree, depmod'ed (shared into the guest)
#   CACHE_DIR/initramfs.cpio.gz               static busybox + the modules needed to mount 9p root
#   CACHE_DIR/kver                            KVER, for run.sh
# Environment: CHAOSD_VM_KERNEL_PKG overrides the kernel package (default: what linux-image-amd64
# depends on).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${1:-${CHAOSD_VM_CACHE:-$HOME/.cache/chaosd-vm}}

# Needed by the guest before the 9p root is mounted, in load order. Dependencies that a given
# kernel version adds are pulled in automatically via modules.dep.
boot_modules=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
	netfs fscache 9pnet 9pnet_virtio 9p overlay)

die() {
	echo "prepare.sh: ERROR: $*" >&2
	exit 1
}
note() { echo "prepare.sh: $*" >&2; }

need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || die "'$c' not found; run tests/install-deps.sh"
	done
}
need apt-cache apt-get dpkg-deb depmod modprobe cpio gzip flock sha256sum
# /sbin may not be in PATH for non-login shells; depmod/modprobe live there.
PATH=$PATH:/usr/sbin:/sbin

mkdir -p "$cache" || die "cannot create cache dir $cache"
cache=$(cd "$cache" && pwd)

# Parallel run.sh invocations share the cache: serialise preparation.
exec 9>"$cache/.lock"
flock 9 || die "cannot lock $cache/.lock"

# --- kernel package --------------------------------------------------------------------------
resolve_pkg() {
	if [[ -n ${CHAOSD_VM_KERNEL_PKG:-} ]]; then
		echo "$CHAOSD_VM_KERNEL_PKG"
		return
	fi
	# "Depends: linux-image-6.1.0-56-amd64" -> the versioned image package.
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[^ <>]*\)$/\1/p' | head -n1
}

have_kernel=""
[[ -f $cache/kernel.stamp ]] && have_kernel=$(<"$cache/kernel.stamp")

# apt-cache takes seconds here (no pkgcache.bin in container images), so only ask it again when
# the apt lists changed since the last answer or the package override changed.
lists=/var/lib/apt/lists
checked=$cache/apt.checked
if [[ -n $have_kernel && -f $checked && $(<"$checked") == "${CHAOSD_VM_KERNEL_PKG:-}" &&
	-z $(find "$lists" -maxdepth 1 -cnewer "$checked" -print -quit 2>/dev/null) ]]; then
	want_kernel=$have_kernel
else
	pkg=$(resolve_pkg || true)
	ver=""
	[[ -n $pkg ]] && ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null |
		sed -n 's/^Version: //p' | head -n1 || true)
	if [[ -z $pkg || -z $ver ]]; then
		# Offline or no apt lists: reuse what is cached, but say so.
		[[ -n $have_kernel ]] ||
			die "cannot resolve the kernel package (apt-cache depends linux-image-amd64 gave nothing); run 'apt-get update' or tests/install-deps.sh"
		note "WARNING: cannot resolve linux-image-amd64 via apt; using cached $have_kernel"
		want_kernel=$have_kernel
	else
		want_kernel="$pkg $ver"
		echo "${CHAOSD_VM_KERNEL_PKG:-}" >"$checked"
	fi
fi

if [[ $have_kernel != "$want_kernel" ]]; then
	read -r pkg ver <<<"$want_kernel"
	note "fetching kernel package $pkg $ver"
	rm -rf "$cache/kernel.tmp" "$cache/dl"
	mkdir -p "$cache/dl"
	# Download as root into our own dir; the _apt sandbox user could not write there.
	(cd "$cache/dl" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver" >/dev/null) ||
		die "apt-get download $pkg=$ver failed"
	deb=("$cache"/dl/*.deb)
	[[ -f ${deb[0]} ]] || die "apt-get download produced no .deb in $cache/dl"
	dpkg-deb -x "${deb[0]}" "$cache/kernel.tmp" || die "dpkg-deb -x ${deb[0]} failed"
	rm -rf "$cache/dl"

	# Newer Debian kernels ship modules under usr/lib; depmod -b wants BASE/lib/modules.
	if [[ ! -d $cache/kernel.tmp/lib/modules && -d $cache/kernel.tmp/usr/lib/modules ]]; then
		ln -s usr/lib "$cache/kernel.tmp/lib"
	fi
	mapfile -t kvers < <(ls "$cache/kernel.tmp/lib/modules")
	((${#kvers[@]} == 1)) || die "expected one module tree in $pkg, found: ${kvers[*]:-none}"
	kver=${kvers[0]}
	[[ -f $cache/kernel.tmp/boot/vmlinuz-$kver ]] || die "$pkg has no boot/vmlinuz-$kver"
	depmod -b "$cache/kernel.tmp" "$kver" || die "depmod -b $cache/kernel.tmp $kver failed"
	rm -rf "$cache/kernel" "$cache/initramfs.cpio.gz" "$cache/initramfs.stamp"
	mv "$cache/kernel.tmp" "$cache/kernel"
	echo "$kver" >"$cache/kver"
	echo "$want_kernel" >"$cache/kernel.stamp"
fi

kver=$(<"$cache/kver")
moddir=$cache/kernel/lib/modules/$kver
[[ -d $moddir && -f $cache/kernel/boot/vmlinuz-$kver ]] ||
	die "cache $cache is incomplete; delete it and run again"

# --- initramfs -------------------------------------------------------------------------------
busybox=$(command -v busybox || true)
[[ -n $busybox ]] || die "busybox not found; install busybox-static (tests/install-deps.sh)"
# A dynamic busybox would need its libraries inside the initramfs.
if ldd "$busybox" >/dev/null 2>&1; then
	die "$busybox is dynamically linked; install busybox-static"
fi

init_src=$here/guest-init.sh
[[ -f $init_src ]] || die "missing $init_src"
stamp=$(cat "$init_src" "${BASH_SOURCE[0]}" "$busybox" | sha256sum | cut -d' ' -f1)
stamp="$want_kernel $stamp"
if [[ -f $cache/initramfs.cpio.gz && -f $cache/initramfs.stamp &&
	$(<"$cache/initramfs.stamp") == "$stamp" ]]; then
	exit 0
fi

note "building initramfs for $kver"
root=$cache/initramfs.tmp
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,newroot,modules}
cp "$busybox" "$root/bin/busybox"
cp "$init_src" "$root/init"
chmod 755 "$root/init" "$root/bin/busybox"
# The kernel opens /dev/console for init before devtmpfs exists; without the node init would
# start with no stdio. mknod needs root; guest-init.sh re-opens the console after devtmpfs anyway.
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null ||
	note "WARNING: cannot mknod /dev/console (not root?); early init errors may be invisible"

# Resolve each boot module with its dependencies, in load order; modules built into this kernel
# are reported as "builtin" and skipped. Busybox insmod cannot read compressed modules, so they
# are stored decompressed.
declare -A seen=()
n=0
: >"$root/modules/load.list"
for m in "${boot_modules[@]}"; do
	if ! deps=$(modprobe -d "$cache/kernel" -S "$kver" --show-depends "$m" 2>&1); then
		note "module $m: not in $kver (neither a module nor built in); not loading it"
		continue
	fi
	while read -r kind path _; do
		case $kind in
		builtin) continue ;;
		insmod) ;;
		*) die "unexpected modprobe --show-depends output for $m: $kind $path" ;;
		esac
		[[ -n ${seen[$path]:-} ]] && continue
		seen[$path]=1
		base=${path##*/}
		name=${base%%.ko*}
		out=$(printf '%02d-%s.ko' "$n" "$name")
		case $base in
		*.ko) cp "$path" "$root/modules/$out" ;;
		*.ko.xz) need xz && xz -dc "$path" >"$root/modules/$out" ;;
		*.ko.zst) need zstd && zstd -qdc "$path" >"$root/modules/$out" ;;
		*.ko.gz) gzip -dc "$path" >"$root/modules/$out" ;;
		*) die "unknown module format: $path" ;;
		esac || die "cannot copy/decompress $path"
		echo "$out" >>"$root/modules/load.list"
		n=$((n + 1))
	done <<<"$deps"
done
((n > 0)) || note "WARNING: no boot modules to load (all built in?)"

(cd "$root" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc --quiet | gzip -1 >"$cache/initramfs.cpio.gz.tmp") ||
	die "building the initramfs cpio failed"
mv "$cache/initramfs.cpio.gz.tmp" "$cache/initramfs.cpio.gz"
rm -rf "$root"
echo "$stamp" >"$cache/initramfs.stamp"
note "initramfs ready: $n modules for $kver in $cache"
