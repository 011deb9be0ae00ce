#!/bin/bash
# make check: the host's systemd as PID 1 in the netem VM (tests/vm/systemd.sh): socket
# activation, sd_notify, watchdog, ExecStopPost cleanup, stop, reload, the audit journal and
# GameDay units.
exec "${top_srcdir:?}/tests/vm-test.sh" vm-systemd 900 systemd.sh --systemd
