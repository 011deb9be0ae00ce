#!/bin/bash
# README Quick start, first command: set up this machine, build chaosd, and run a short
# GameDay inside a VM with a real netem kernel, printing measured RTT and loss before, during
# and after each fault.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
echo "== installing build and VM dependencies (apt-get)"
tests/install-deps.sh
echo "== building chaosd"
[ -x configure ] || autoreconf -fi >/dev/null
mkdir -p build
(cd build && { [ -f Makefile ] || ../configure -q >/dev/null; } && make -s -j"$(nproc)" all)
echo "== preparing the VM kernel (Debian linux-image-amd64, has sch_netem)"
tests/vm/prepare.sh
echo "== booting the VM and running the GameDay (about two minutes under emulation)"
mkdir -p "$top/build/gameday"
rc=0
CHAOSD_BUILDDIR=$top/build CHAOSD_SRCDIR=$top \
	tests/vm/run.sh --timeout 900 --out "$top/build/gameday" "$top/tests/vm/gameday-demo.sh" ||
	rc=$?
[ -s "$top/build/gameday/gameday.html" ] &&
	echo "== the GameDay's report: $top/build/gameday/gameday.html (open it in a browser)"
exit $rc
