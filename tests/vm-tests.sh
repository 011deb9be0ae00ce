#!/bin/bash
# make check: the end-to-end tests on a real netem kernel (tests/vm/e2e.sh).
exec "${top_srcdir:?}/tests/vm-test.sh" vm-e2e 1500 e2e.sh
