#!/bin/bash
# PostgreSQL helpers for guest scripts (sourced after lib.sh): a private cluster in cd-b
# listening on db's address (10.77.0.2), and pgbench runs from cd-a with a latency per
# transaction. Not run on its own.

PGBIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PGDATA_T=$T/pg

# pg_start: initdb (trust, no fsync) and start as user postgres; 1 if it did not come up.
pg_start() {
	if ! [ -x "$PGBIN/initdb" ] || ! id postgres >/dev/null 2>&1; then
		echo "postgresql missing: run tests/install-deps.sh"
		return 1
	fi
	mkdir -p "$PGDATA_T" && chown postgres: "$PGDATA_T" || return 1
	runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA_T/data" -A trust -U postgres \
		--no-locale -E UTF8 --no-sync >"$PGDATA_T/initdb.log" 2>&1 ||
		{ cat "$PGDATA_T/initdb.log"; return 1; }
	# initdb trusts local connections only; the clients come from cd-a
	echo "host all all 10.77.0.0/24 trust" >>"$PGDATA_T/data/pg_hba.conf"
	B runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA_T/data" -l "$PGDATA_T/server.log" \
		-w -t 120 -o "-c listen_addresses=10.77.0.2 -c unix_socket_directories=$PGDATA_T \
		-c fsync=off -c max_connections=40 -c shared_buffers=16MB" start >/dev/null ||
		{ cat "$PGDATA_T/server.log"; return 1; }
	printf 'SELECT 1;\n' >"$PGDATA_T/select1.sql"
	chmod 644 "$PGDATA_T/select1.sql"
}

pg_stop() {
	B runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA_T/data" -m immediate stop \
		>/dev/null 2>&1
}

# pgbench_bg NAME SECONDS [OPTIONS...]: pgbench from cd-a against db in the background, one
# SELECT per transaction, each transaction's latency logged (-l) under $T/pgb-NAME.*. With
# a rate (-R) a transaction's latency counts from its scheduled start, so it includes its
# connection (-C) and any wait behind a stalled one.
pgbench_bg() {
	local name=$1 secs=$2
	shift 2
	rm -f "$T/pgb-$name".*
	A "$PGBIN/pgbench" -h 10.77.0.2 -U postgres -n -f "$PGDATA_T/select1.sql" -T "$secs" \
		-l --log-prefix="$T/pgb-$name" "$@" postgres >"$T/pgb-$name.out" 2>&1 &
	PGB_PIDS+=("$!")
}

# pgbench_stall NAME T_INJ T0: from NAME's log, with the fault applied at T_INJ and taken off
# from T0 on (seconds since the epoch): prints the transactions' median latency while the fault
# was on, the worst of those that ended from T0 on (the revert and everything it did later),
# that one minus the median ("stall", ms), both counts, and the worst while the fault was on
# (what the fault and the machine's own hiccups cost without a revert).
pgbench_stall() {
	cat "$T/pgb-$1".[0-9]* 2>/dev/null | python3 -c '
import sys
t_inj, t0 = map(float, sys.argv[1:3])
during, after = [], []
for line in sys.stdin:
    f = line.split()
    if len(f) < 6 or not f[2].isdigit():
        continue  # a failed or skipped transaction has no latency
    lat = int(f[2]) / 1e3; end = int(f[4]) + int(f[5]) / 1e6; start = end - lat / 1e3
    if start >= t_inj + 0.3 and end <= t0:
        during.append(lat)
    if end >= t0:
        after.append(lat)
during.sort()
med = during[len(during) // 2] if during else float("nan")
worst = max(after) if after else float("nan")
wd = during[-1] if during else float("nan")
print("%.0f %.0f %.0f %d %d %.0f" % (med, worst, worst - med, len(during), len(after), wd))
' "$2" "$3"
}
