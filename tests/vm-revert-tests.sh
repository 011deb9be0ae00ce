#!/bin/bash
# make check: lossless revert and undistorted measurements on a real netem kernel
# (tests/vm/revert.sh): TCP across a revert, connects across a fault's end, the first inject.
exec "${top_srcdir:?}/tests/vm-test.sh" vm-revert 900 revert.sh
