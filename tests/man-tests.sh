#!/bin/bash
# make check: the four man pages render without a warning, and document everything the code
# accepts. The lists come from the code, not from here: chaosd --help (daemon_options), chaosctl's
# completion lists (proto_verbs, fault kinds, fault_keys, its global options) and tests/man-keys
# (config_keys, scenario_keys, fault_keys). A key added to a table without documentation fails.
set -uo pipefail
: "${top_srcdir:?}" "${top_builddir:?}"
# shellcheck source=tests/skip.sh
. "$top_srcdir/tests/skip.sh"
for c in man groff col; do
	command -v $c >/dev/null || skip_or_fail "'$c' missing: run tests/install-deps.sh"
done
B=$top_builddir
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

for page in chaosd.8 chaosctl.1 chaosd.conf.5 chaosd.scenario.5; do
	f=$B/man/$page
	[ -s "$f" ] || { bad "$page was not generated"; continue; }
	# groff's own warnings (all of them), then man-db's own check of the page
	groff -ww -z -man -Tutf8 "$f" 2>"$T/w" && [ ! -s "$T/w" ] && ok ||
		bad "$page: groff -ww warns: $(cat "$T/w")"
	# Examples do not count as documentation: their lines are left out.
	MANWIDTH=250 man --warnings -l "$f" 2>"$T/w" | col -b |
		awk '/^[A-Z]/ { ex = /^EXAMPLES?$/ } !ex' >"$T/$page.txt"
	[ ! -s "$T/w" ] && ok || bad "$page: man --warnings: $(cat "$T/w")"
	grep -q '^NAME' "$T/$page.txt" && ok || bad "$page: man -l rendered no NAME section"
done

# documented PAGE ITEM: ITEM begins a line of the rendered page (a tagged paragraph's tag)
documented() {
	if grep -qE "^ +$(printf '%s' "$2" | sed 's/[.[\*^$]/\\&/g')( |\$)" "$T/$1.txt"; then
		ok
	else
		bad "$1 does not document '$2'"
	fi
}
n_items=0
# chaosd: every option of --help (the table getopt is driven by)
opts=$("$B/chaosd" --help | grep -oE '^  --[a-z-]+')
[ -n "$opts" ] || bad "chaosd --help lists no options"
for o in $opts; do documented chaosd.8 "$o"; n_items=$((n_items + 1)); done
# chaosctl: global options, verbs (with every option their usage names), fault kinds and options
CTL=$B/chaosctl
for o in $("$CTL" --list-global-options); do
	documented chaosctl.1 "$o"
	n_items=$((n_items + 1))
done
verbs=$("$CTL" --list-verbs)
[ -n "$verbs" ] || bad "chaosctl --list-verbs lists nothing"
for v in $verbs; do
	documented chaosctl.1 "$v"
	n_items=$((n_items + 1))
	[ "$v" = inject ] && continue
	for o in $("$CTL" --list-options "$v"); do
		n_items=$((n_items + 1))
		if grep -E "^ +$v( |\$)" "$T/chaosctl.1.txt" | grep -q -- "$o"; then ok; else
			bad "chaosctl.1: verb $v does not show its option $o"
		fi
	done
done
for k in $("$CTL" --list-kinds); do
	documented chaosctl.1 "$k"
	n_items=$((n_items + 1))
	for o in $("$CTL" --list-options inject "$k"); do
		[ "$o" = --edge ] && continue # in the verb's usage line
		documented chaosctl.1 "$o"
		n_items=$((n_items + 1))
	done
done
# the parsers' key tables
"$B/tests/man-keys" >"$T/keys" || bad "tests/man-keys failed"
[ "$(wc -l <"$T/keys")" -gt 20 ] || bad "tests/man-keys listed only $(wc -l <"$T/keys") keys"
while read -r table key; do
	case $table in
	config) documented chaosd.conf.5 "$key" ;;
	scenario | fault) documented chaosd.scenario.5 "$key" ;;
	esac
	n_items=$((n_items + 1))
done <"$T/keys"
# chaosd(8)'s reference: every metric family and audit field the daemon's source emits
names=$(grep -ohE 'family\(o, "chaosd_[a-z_]+"' "$top_srcdir/daemon/"*.c | grep -oE 'chaosd_[a-z_]+'
	grep -ohE '"CHAOSD_[A-Z_]+=' "$top_srcdir/daemon/"*.c | grep -oE 'CHAOSD_[A-Z_]+')
[ "$(printf '%s\n' "$names" | grep -c .)" -gt 10 ] ||
	bad "found only $(printf '%s\n' "$names" | grep -c .) metric families and audit fields in daemon/"
for n in $(printf '%s\n' "$names" | sort -u); do
	grep -qE "(^|[ ,])$n(_total)?(,|\$| )" "$T/chaosd.8.txt" && ok || bad "chaosd.8 does not name '$n'"
	n_items=$((n_items + 1))
done
echo "man pages: $n_items items from the code checked, $pass passed, $fail failed"
[ "$fail" = 0 ]
