#!/bin/bash
# make check-vm: a rate fault queues in bytes sized from its rate (tests/vm/ratelimit.sh): the
# tbf under chaosd's netem, TCP round trips and throughput and UDP one-way delay under iperf3
# load within the derived bounds, against netem's old packet limit in the same boot.
exec "${top_srcdir:?}/tests/vm-test.sh" vm-ratelimit 600 ratelimit.sh
