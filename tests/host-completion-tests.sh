#!/bin/bash
# make check: the bash and zsh completions of chaosctl. bash: bash-completion loads ours and
# Tab is simulated (COMP_WORDS, COMP_CWORD) for verbs, fault kinds, fault options, option
# values and scenario files; edge names come from a chaosd running in a network namespace
# (the topology of tests/vm/lib.sh), and from nowhere when it is stopped. zsh: a syntax
# check, and Tab through compinit in a zsh on a pseudo-terminal.
set -uo pipefail
# shellcheck source=tests/host-lib.sh
. "$top_srcdir/tests/host-lib.sh" completion zsh
[ -f /usr/share/bash-completion/bash_completion ] ||
	skip_or_fail "bash-completion missing: run tests/install-deps.sh"
BASH_COMPLETION=/usr/share/bash-completion/bash_completion
cleanup() {
	[ -n "${CHAOSD_PID:-}" ] && kill "$CHAOSD_PID" 2>/dev/null
}

# complete_bash WORDS...: what Tab offers for the last word, sorted, on one line. chaosctl is
# found on PATH as an installed one would be; CHAOSD_SOCKET points it at the test's daemon
# (at $SOCKET_ENV if set).
complete_bash() {
	PATH=$top_builddir:$PATH CHAOSD_SOCKET=${SOCKET_ENV:-$SOCK} bash --norc -c '
		. "$1"; . "$2"; shift 2
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_chaosctl chaosctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' \
		_ $BASH_COMPLETION "$top_srcdir/completions/chaosctl" "$@"
}
# offers [--zsh] DESC "EXPECTED WORDS" WORDS...: Tab offers exactly the expected words
offers() {
	local how=complete_bash desc want got
	[ "$1" = --zsh ] && how=complete_zsh && shift
	desc=$1
	want=$(printf '%s\n' $2 | sort | tr '\n' ' ')
	shift 2
	got=$($how "$@")
	if [ "$got" = "$want" ]; then ok "$desc: '$*<TAB>' -> $got"; else
		bad "$desc: '$*<TAB>' -> '$got', want '$want'"; fi
}

check "bash: the script registers the completion" bash --norc -c \
	". $BASH_COMPLETION; . $top_srcdir/completions/chaosctl
	complete -p chaosctl | grep -q -- '-F _chaosctl chaosctl\$'"
offers "bash: a verb" "inject" chaosctl inj
verbs=$("$CHAOSCTL" --list-verbs | tr '\n' ' ')
offers "bash: every verb chaosctl knows" "$verbs" chaosctl ""
check "bash: the verb list is proto_verbs[] (metrics is in it)" grep -qw metrics <<<"$verbs"
offers "bash: the fault kinds" "latency loss corrupt duplicate reorder rate partition" \
	chaosctl inject ""
offers "bash: latency's options" \
	"--edge --ms --jitter --correlation --distribution --direction --flows --for --lease" \
	chaosctl inject latency --
offers "bash: loss's options after one given" "--edge --percent --correlation --model --ge-p
	--ge-r --ge-bad-loss --ge-good-loss --direction --flows --for --lease" \
	chaosctl inject loss --percent 5 --
offers "bash: the values of an option with a fixed set" "normal" chaosctl inject latency --distribution no
offers "bash: global options" "--host --socket --json --help --version" chaosctl --
offers "bash: the verb after -H HOST" "status" chaosctl -H ssh://h stat
offers "bash: kill's options come from its usage" "--edge --reason --for --history" chaosctl kill --
# The group form's options (-H ... --topology) are in ctlopt_group_options[], not parsed aside.
offers "bash: inject partition's options with the group form's" "--edge --topology --seed --detach
	--direction --flows --mode --connections --for --lease" chaosctl -H a,b inject partition --
offers "bash: status --topology" "--topology" chaosctl -H a,b status --
offers "bash: plan's options with the group form's" "--seed --host-name --topology" chaosctl plan --
offers "bash: no edges while chaosd is not running" "" chaosctl inject latency --edge ""
mkdir -p "$T/scen"
touch "$T/scen/a.ini" "$T/scen/b.ini" "$T/scen/notes.txt"
offers "bash: scenario files are *.ini" "$T/scen/a.ini $T/scen/b.ini" chaosctl run "$T/scen/"

topology || { echo "FAIL: topology"; exit 1; }
write_config
start_chaosd || exit 1
offers "bash: edge names from the running chaosd" "db cache ghost" chaosctl inject latency --edge ""
offers "bash: edge names by prefix" "cache" chaosctl --json revert --edge c
SOCKET_ENV=/nonexistent offers "bash: --socket on the command line is used" "db" \
	chaosctl --socket "$SOCK" inject partition --edge d

# --- zsh: syntax, then the function with compadd printing what it is given
check "zsh: the completion parses (zsh -n)" zsh -n "$top_srcdir/completions/_chaosctl"
# complete_zsh WORDS...: the same through zsh's real completion system (compinit, our
# _chaosctl on fpath) in a zsh on a pseudo-terminal: Tab is a widget running
# _main_complete, and compadd is wrapped to print what completion adds.
cat >"$T/complete.zsh" <<'ZSH'
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PROMPT= RPROMPT=; fpath=($1 \$fpath); autoload -Uz compinit; compinit -u -D"
# The markers are split in the commands ("<""m>") so that the terminal's echo of a command
# never matches what the reader waits for; only the output does.
zpty -w z 'compadd() { builtin compadd -O __m "$@"; print -rl -- "<""m>"${^__m}; builtin compadd "$@" }'
zpty -w z 'comptest() { zle -C _x complete-word _main_complete; zle _x; print -r -- "<""end>"; }'
zpty -w z 'zle -N comptest; bindkey "^T" comptest; print -r -- "<""ready>"'
zpty -r z l '*<ready>*'
zpty -w -n z "$2"$'\x14'
out=
while zpty -r z l; do
	[[ $l == *'<end>'* ]] && break
	[[ $l == *'<m>'* ]] && out+="${${l##*<m>}%%$'\r'*}"$'\n'
done
print -rn -- "$out" | sort -u | tr '\n' ' '
zpty -d z
ZSH
complete_zsh() {
	PATH=$top_builddir:$PATH CHAOSD_SOCKET=$SOCK timeout 30 zsh -f "$T/complete.zsh" \
		"$top_srcdir/completions" "$*"
}
offers --zsh "zsh: every verb" "$verbs" chaosctl ""
offers --zsh "zsh: a verb" "inject" chaosctl inj
offers --zsh "zsh: the values of an option with a fixed set" "uniform normal pareto paretonormal" \
	chaosctl inject latency --distribution ""
# _files also adds the path's directories along the way: look for the files only.
got=$(complete_zsh chaosctl run "$T/scen/")
check "zsh: scenario files are *.ini ($got)" bash -c \
	"grep -qw a.ini <<<'$got' && grep -qw b.ini <<<'$got' && ! grep -q notes <<<'$got'"
offers --zsh "zsh: the fault kinds" "latency loss corrupt duplicate reorder rate partition" \
	chaosctl inject ""
offers --zsh "zsh: rate's options" "--edge --kbit --direction --flows --for --lease" chaosctl inject rate --
offers --zsh "zsh: edge names from the running chaosd" "db cache ghost" chaosctl inject loss --edge ""
stop_chaosd
finish
