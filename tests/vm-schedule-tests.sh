#!/bin/bash
# make check-vm: scenario timing on a real netem kernel (tests/vm/schedule.sh): start_when under
# a real load, until on a real error rate, seeded start times, the library end to end.
exec "${top_srcdir:?}/tests/vm-test.sh" vm-schedule 900 schedule.sh
