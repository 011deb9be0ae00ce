#!/bin/bash
# make check-vm: netem's queue under a rate limit is sized from that rate (tests/vm/ratelimit.sh):
# TCP round trips and UDP one-way delay measured with iperf3 load, old limits against new.
exec "${top_srcdir:?}/tests/vm-test.sh" vm-ratelimit 600 ratelimit.sh
