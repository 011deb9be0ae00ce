#!/bin/bash
# make check: the host's systemd as PID 1 in the netem VM (tests/vm/systemd.sh): socket
# activation, sd_notify, watchdog, ExecStopPost cleanup, stop, reload, the audit journal and
# GameDay units, and service edges (tests/vm/service.sh, ~4 min of the guest's 760 s).
exec "${top_srcdir:?}/tests/vm-test.sh" vm-systemd 1200 systemd.sh --systemd
