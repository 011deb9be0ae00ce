#!/usr/bin/env python3
# A service's traffic for tests/vm/service.sh: every 100 ms a new TCP connection to HOST:PORT,
# one byte echoed, appended to LOG as "EPOCH ok CONNECT_MS ECHO_MS" or "EPOCH fail ERROR".
# Run as a transient systemd unit, so its sockets are that unit's (cgroup, user).
import socket
import sys
import time

host, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(log, "a", buffering=1) as out:
    while True:
        t0 = time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=1.0) as s:
                t1 = time.monotonic()
                s.sendall(b"x")
                if s.recv(16) != b"x":
                    raise OSError("bad echo")
                t2 = time.monotonic()
            out.write("%.3f ok %.1f %.1f\n" % (time.time(), (t1 - t0) * 1e3, (t2 - t1) * 1e3))
        except OSError as e:
            out.write("%.3f fail %s\n" % (time.time(), type(e).__name__))
        time.sleep(max(0.0, 0.1 - (time.monotonic() - t0)))
