#!/bin/bash
# make check: crash safety on a real netem kernel (tests/vm/crash.sh): SIGKILL at random points
# never leaves kernel state behind once chaosd restarts or `chaosd --cleanup` runs, a restart
# never re-applies what a revert or the kill switch had already removed, and the user's own
# qdiscs come back byte-for-byte. CHAOSD_CRASH_SEED / _CYCLES / _BUDGET / _MIN_CYCLES / _EXTRA
# pass through to the guest. The kill loop runs CHAOSD_CRASH_CYCLES (240, ~7 min) cycles; it
# stops early once the script has run CHAOSD_CRASH_BUDGET (660 s), or up to CHAOSD_CRASH_EXTRA
# (480 s) later on a machine too slow to have run CHAOSD_CRASH_MIN_CYCLES (200) cycles by then,
# and fails with fewer; the timeout (budget + extra + 240 s for the boot and the final checks)
# only catches a hang.
exec "${top_srcdir:?}/tests/vm-test.sh" vm-crash 1380 crash.sh
