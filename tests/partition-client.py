#!/usr/bin/env python3
# What a real client sees through a partition (tests/host-partition-tests.sh). One line of
# results on stdout per command.
#   serve PORT                         TCP and UDP echo on PORT (threads, a deep backlog: socat's
#                                      fork per connection missed SYNs under load)
#   connect HOST PORT TIMEOUT_S        "ok|refused|timeout|error:NAME MS"
#   connects HOST PORT N TIMEOUT_S     N connects from distinct source ports: "ok=A refused=B timeout=C"
#   session HOST PORT -- CMD...        an echo session open before CMD runs; after it, 5 echoes
#                                      and one new connect: "session=OK/5 new=RESULT MS"
#   udp HOST PORT SECONDS SPORT              a datagram every 20 ms from one source port, replies
#                                      timed: "sent=N replies=M last_gap_ms=G" and, on stderr,
#                                      one "reply T" line per reply (T: seconds since start)
import errno
import socket
import subprocess
import sys
import threading
import time


def serve(port):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("0.0.0.0", port))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind(("0.0.0.0", port))
    t.listen(512)

    def udp_loop():
        while True:
            data, peer = u.recvfrom(2048)
            u.sendto(data, peer)

    def conn_loop(c):
        with c:
            while True:
                data = c.recv(2048)
                if not data:
                    return
                c.sendall(data)

    threading.Thread(target=udp_loop, daemon=True).start()
    while True:
        c, _ = t.accept()
        threading.Thread(target=conn_loop, args=(c,), daemon=True).start()


def ms_since(t0):
    return (time.monotonic() - t0) * 1000.0


def connect(host, port, timeout):
    t0 = time.monotonic()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        return s, "ok", ms_since(t0)
    except socket.timeout:
        s.close()
        return None, "timeout", ms_since(t0)
    except OSError as e:
        s.close()
        name = "refused" if e.errno == errno.ECONNREFUSED else "error:" + errno.errorcode.get(e.errno, str(e.errno))
        return None, name, ms_since(t0)


def echo_once(s, timeout):
    try:
        s.settimeout(timeout)
        s.sendall(b"x\n")
        return s.recv(16) == b"x\n"
    except OSError:
        return False


def main():
    cmd = sys.argv[1]
    if cmd == "serve":
        serve(int(sys.argv[2]))
    elif cmd == "connect":
        s, res, ms = connect(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
        if s:
            s.close()
        print("%s %.1f" % (res, ms))
    elif cmd == "connects":
        counts = {"ok": 0, "refused": 0, "timeout": 0}
        for _ in range(int(sys.argv[4])):
            s, res, _ = connect(sys.argv[2], int(sys.argv[3]), float(sys.argv[5]))
            if s:
                s.close()
            counts[res if res in counts else "timeout"] += 1
        print("ok=%d refused=%d timeout=%d" % (counts["ok"], counts["refused"], counts["timeout"]))
    elif cmd == "session":
        host, port = sys.argv[2], int(sys.argv[3])
        s, res, _ = connect(host, port, 2)
        if not s or not echo_once(s, 1):
            print("session=setup-failed(%s) new=none 0" % res)
            return 1
        subprocess.run(sys.argv[5:], check=True, stdout=subprocess.DEVNULL)
        good = sum(1 for _ in range(5) if echo_once(s, 0.3))
        n, res, ms = connect(host, port, 1)
        if n:
            n.close()
        print("session=%d/5 new=%s %.1f" % (good, res, ms))
    elif cmd == "udp":
        host, port, secs = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", int(sys.argv[5])))
        s.setblocking(False)
        t0 = time.monotonic()
        sent = replies = 0
        last = t0
        gap = 0.0
        while time.monotonic() - t0 < secs:
            s.sendto(b"u", (host, port))
            sent += 1
            end = time.monotonic() + 0.02
            while time.monotonic() < end:
                try:
                    s.recvfrom(16)
                except BlockingIOError:
                    time.sleep(0.002)
                    continue
                now = time.monotonic()
                replies += 1
                gap = max(gap, (now - last) * 1000.0)
                last = now
                print("reply %.3f" % (now - t0), file=sys.stderr, flush=True)
        print("sent=%d replies=%d last_gap_ms=%.0f" % (sent, replies, gap))
    else:
        print("unknown command " + cmd, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
