#!/bin/bash
# Replay every fuzz corpus through the same entry points libFuzzer drives (make check).
set -euo pipefail
: "${top_srcdir:?}" "${top_builddir:?}"
for t in config fault proto scenario journal; do
	dir="$top_srcdir/fuzz/corpus/$t"
	n=$(find "$dir" -type f | wc -l)
	[ "$n" -gt 0 ] || { echo "FAIL: corpus $dir is empty"; exit 1; }
	"$top_builddir/fuzz/replay-$t" "$dir"
done
