#!/bin/bash
# make check: GameDay scenarios on a real netem kernel (tests/vm/scenario.sh): latency ramps
# and probe aborts need sch_netem.
exec "${top_srcdir:?}/tests/vm-test.sh" vm-scenario 600 scenario.sh
