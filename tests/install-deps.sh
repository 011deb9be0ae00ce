#!/bin/bash
# Install every Debian package chaosd needs to build and test (including the VM harness).
# Idempotent: when all packages are already installed it only runs dpkg-query.
set -euo pipefail

build_deps=(
	build-essential autoconf automake libtool pkg-config
	libmnl-dev libsystemd-dev check libnftnl-dev libacl1-dev
	libnetfilter-conntrack-dev # connections = established and the conntrack clean-up of partitions
	clang libclang-rt-14-dev valgrind
	debhelper # builds the Debian package (debian/; tests/vm-deb-tests.sh)
)
test_deps=(
	qemu-system-x86 busybox-static cpio kmod iproute2 iputils-ping nftables socat python3
	xz-utils zstd
	chromium # renders a GameDay report's HTML in the scenario tests
	python3-prometheus-client # parses chaosctl metrics and metrics_file in the metrics tests
	bash-completion zsh # the completion tests load chaosctl's scripts in both shells
	openssh-server openssh-client # chaosctl -H ssh:// against sshd in network namespaces
	ansible-core # runs contrib/ansible/gameday.yml against those namespaces
	man-db groff-base bsdextrautils # the man page test renders the pages (man -l, groff, col)
	conntrack # the partition tests read the kernel's connection table (conntrack -L)
	iperf3 # the rate-limit VM test loads the link and reads TCP round trips
	python3-jsonschema # validates chaosctl --json output against doc/schema/
	lintian # checks the Debian package (tests/vm-deb-tests.sh)
	nginx-light # the real web server the scenario library runs against (tests/vm/schedule.sh)
)
pkgs=("${build_deps[@]}" "${test_deps[@]}")

missing=()
for p in "${pkgs[@]}"; do
	# "install ok installed" is the only state in which the package is really usable.
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
	echo "install-deps: all ${#pkgs[@]} packages already installed"
	exit 0
fi

if ((EUID != 0)); then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: must run as root to install them" >&2
	exit 1
fi

echo "install-deps: installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
