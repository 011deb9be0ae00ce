#!/bin/bash
# Build the libFuzzer targets with clang (ASan+UBSan) into OUT: `make fuzz`.
# Run one with e.g.: OUT/fuzz-config -max_total_time=60 fuzz/corpus/config
set -euo pipefail
src=${1:?source dir}
out=${2:?output dir}
mkdir -p "$out"
cc=${CLANG:-clang}
common=(-std=gnu11 -D_GNU_SOURCE -g -O1 -include "$out/../autoconfig.h" -I"$src/src"
	-Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes
	-Wno-unused-parameter -Werror)
san=address,undefined
read -r -a lib_cflags <<<"$(pkg-config --cflags libmnl)"
# The parsers only: no netlink, no daemon state.
objs=()
for m in diag parse utf8 strbuf edge fault netem ini config config-keys config-dest proto fileio journal \
	scenario scenario-cond scenario-parser scenario-keys scenario-probe scenario-step \
	scenario-timeline \
	scenario-topology topology \
	schedule flowsel edge-scope; do
	"$cc" "${common[@]}" -fsanitize=fuzzer-no-link,$san "${lib_cflags[@]}" \
		-c "$src/src/$m.c" -o "$out/$m.o"
	objs+=("$out/$m.o")
done
for t in config fault proto scenario journal; do
	"$cc" "${common[@]}" -fsanitize=fuzzer,$san "$src/fuzz/fuzz-$t.c" "${objs[@]}" \
		-lm -o "$out/fuzz-$t"
	echo "built $out/fuzz-$t"
done
