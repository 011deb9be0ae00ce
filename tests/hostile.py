#!/usr/bin/python3
# Attack and measurement tool of tests/host-hostile-tests.sh and bench/hostile.sh (stdlib only).
# Speaks chaosd's wire format (src/proto.h) itself, so no process start-up is measured.
#   hostile.py probe SOCK N             root: N pings and N kill+arm, latency summary
#   hostile.py request SOCK TYPE [K=V]  one raw request; prints the reply type and fields
#   hostile.py inject SOCK EDGE...      one partition per edge, on one connection
#   hostile.py flood SOCK SECONDS       connect as fast as possible, hold what connects
#   hostile.py slow SOCK SECONDS MAX    MAX connections, one byte every 2 s on each
#   hostile.py pipeline SOCK SECONDS N  N connections pipelining status, never reading
#   hostile.py cap SOCK SECONDS MAX     open connections until chaosd refuses them
# The attacks print READY once they are in full swing, then a summary line of key=value.
import errno
import math
import os
import resource
import socket
import struct
import sys
import time

MAGIC = 0x43484450
T = {"inject": 1, "status": 2, "revert": 3, "kill": 4, "arm": 5, "ping": 7}


def frame(t, fields=()):
    body = b"".join(k.encode() + b"=" + (v if isinstance(v, bytes) else v.encode()) + b"\0"
                    for k, v in fields)
    return struct.pack(">IHHI", MAGIC, 1, t, len(body)) + body


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise ConnectionError("closed by chaosd after %d of %d bytes" % (len(b), n))
        b += c
    return b


def read_reply(s):
    _, _, t, n = struct.unpack(">IHHI", recv_exact(s, 12))
    body = recv_exact(s, n)
    return t, [f.split(b"=", 1) for f in body.split(b"\0") if b"=" in f]


def timed(path, t, fields=(), timeout=2.0):
    """Seconds from connect() to the whole reply; inf when chaosd never answers."""
    t0 = time.monotonic()
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(frame(t, fields))
            rt, _ = read_reply(s)
    except OSError as e:
        return math.inf, str(e)
    return time.monotonic() - t0, None if rt == 0x8000 else "error reply"


def pct(xs, p):
    xs = sorted(xs)
    return xs[max(0, math.ceil(p / 100 * len(xs)) - 1)]


def ms(x):
    return "inf" if x == math.inf else "%.1f" % (x * 1e3)


def probe(path, n):
    pings, kills, errs = [], [], []
    for i in range(n):
        dt, e = timed(path, T["ping"])
        pings.append(dt)
        if e:
            errs.append("ping: " + e)
        dt, e = timed(path, T["kill"], [("reason", "hostile probe %d" % i)])
        kills.append(dt)
        if e:
            errs.append("kill: " + e)
        timed(path, T["arm"])  # not measured: the next kill finds the switch released
        if len(errs) >= 6:  # chaosd is not answering root: the rest would only wait 2 s each
            pings += [math.inf] * (n - 1 - i)
            kills += [math.inf] * (n - 1 - i)
            break
        time.sleep(0.02)
    print("ping_p50=%s ping_p99=%s ping_max=%s kill_p50=%s kill_p99=%s kill_max=%s n=%d "
          "errors=%d%s" % (ms(pct(pings, 50)), ms(pct(pings, 99)), ms(max(pings)),
                           ms(pct(kills, 50)), ms(pct(kills, 99)), ms(max(kills)), n,
                           len(errs), (" first_error=" + repr(errs[0])) if errs else ""))


def raise_nofile():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def closed_by_peer(s):
    """True once chaosd closed (or reset) the connection; never blocks (no select(): the
    descriptors go far above FD_SETSIZE)."""
    try:
        while True:
            if s.recv(65536, socket.MSG_DONTWAIT) == b"":
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def connect(path):
    s = socket.socket(socket.AF_UNIX)
    s.setblocking(False)
    try:
        s.connect(path)
    except BaseException:
        s.close()
        raise
    return s


def flood(path, seconds):
    """A peer chaosd must refuse: connect() itself should fail (EACCES); when it cannot
    (a socket made 0666 by mistake), chaosd must close every such peer at once."""
    raise_nofile()
    end = time.monotonic() + seconds
    held = []  # (socket, connected at)
    attempts = eacces = connected = closed = again = 0
    max_held = 0
    ready = False
    while time.monotonic() < end:
        for _ in range(200):
            attempts += 1
            try:
                held.append((connect(path), time.monotonic()))
                connected += 1
            except PermissionError:
                eacces += 1
            except BlockingIOError:
                again += 1  # backlog full: chaosd is not accepting fast enough
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE):
                    break
                raise
        now = time.monotonic()
        still = []
        for s, t0 in held:
            if closed_by_peer(s):
                closed += 1
                s.close()
            else:
                still.append((s, t0))
        held = still
        max_held = max(max_held, len(held))
        if not ready and attempts >= 1000:
            print("READY", flush=True)
            ready = True
        if len(held) > 4000:
            time.sleep(0.05)
    old = sum(1 for _, t0 in held if now - t0 > 1.0)
    print("attempts=%d eacces=%d connected=%d closed_by_chaosd=%d backlog_full=%d "
          "max_held=%d held_over_1s=%d" % (attempts, eacces, connected, closed, again,
                                            max_held, old), flush=True)


def slow(path, seconds, maxc):
    """Slowloris: as many connections as chaosd takes, one byte of a request every 2 s on
    each. A whole-request deadline must close them however steadily they trickle."""
    raise_nofile()
    req = frame(T["status"], [("pad", "x" * 200)])
    conns = []
    refused = 0
    t_start = time.monotonic()
    while len(conns) + refused < maxc:
        try:
            conns.append([connect(path), 0])
        except OSError:
            refused += 1
    print("READY", flush=True)
    end = t_start + seconds
    closed = 0
    while time.monotonic() < end:
        still = []
        for c in conns:
            if closed_by_peer(c[0]):
                closed += 1
                c[0].close()
                continue
            try:
                c[0].send(req[c[1]:c[1] + 1])
                c[1] = (c[1] + 1) % len(req)
                still.append(c)
            except OSError:
                closed += 1
                c[0].close()
        conns = still
        time.sleep(min(2.0, max(0.0, end - time.monotonic())))
    print("opened=%d refused=%d closed_by_chaosd=%d still_open_after_%ds=%d" %
          (len(conns) + closed, refused, closed, seconds, len(conns)), flush=True)


def pipeline(path, seconds, n):
    """Thousands of status requests pipelined on n connections, no reply ever read: chaosd
    must stop reading a peer whose replies pile up, not buffer them all."""
    raise_nofile()
    burst = frame(T["status"]) * 64
    conns = []
    for _ in range(n):
        try:
            conns.append(connect(path))
        except OSError:
            pass
    print("READY", flush=True)
    end = time.monotonic() + seconds
    sent = 0
    while time.monotonic() < end:
        blocked = 0
        for s in conns:
            try:
                sent += s.send(burst)
            except BlockingIOError:
                blocked += 1
            except OSError:
                pass
        if blocked == len(conns):
            time.sleep(0.01)
    print("connections=%d requests_sent=%d" % (len(conns), sent // 12), flush=True)


def cap(path, seconds, maxc):
    """One uid opening connections until chaosd refuses them: a per-uid cap must keep it
    from taking the slots root needs."""
    raise_nofile()
    conns = []
    attempts = closed = 0
    while attempts < maxc:
        attempts += 1
        try:
            conns.append(connect(path))
        except OSError:
            time.sleep(0.001)
    time.sleep(1)
    still = []
    for s in conns:
        if closed_by_peer(s):
            closed += 1
            s.close()
        else:
            still.append(s)
    print("READY", flush=True)
    # the ones chaosd kept must really be served: one ping on each
    served = 0
    for s in still:
        try:
            s.setblocking(True)
            s.settimeout(0.5)
            s.sendall(frame(T["ping"]))
            if read_reply(s)[0] == 0x8000:
                served += 1
        except OSError:
            pass
    time.sleep(max(0.0, seconds - 1))
    print("attempts=%d refused_by_chaosd=%d held=%d served=%d" %
          (attempts, closed, len(still), served), flush=True)


def main(argv):
    cmd, path = argv[1], argv[2]
    if cmd == "probe":
        probe(path, int(argv[3]))
    elif cmd == "request":
        fields = []
        for a in argv[4:]:
            k, v = a.split("=", 1)
            fields.append((k, v.encode("utf-8", "surrogateescape")))
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(path)
            s.sendall(frame(T.get(argv[3]) or int(argv[3]), fields))
            t, f = read_reply(s)
        print("%#x" % t, " ".join(repr(k + b"=" + v)[2:-1] for k, v in f))
    elif cmd == "inject":
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(path)
            bad = 0
            for e in argv[3:]:
                s.sendall(frame(T["inject"], [("kind", "partition"), ("edge", e),
                                              ("for", "30m")]))
                bad += read_reply(s)[0] != 0x8000
        print("injected=%d failed=%d" % (len(argv) - 3 - bad, bad))
    elif cmd == "flood":
        flood(path, float(argv[3]))
    elif cmd == "slow":
        slow(path, int(argv[3]), int(argv[4]))
    elif cmd == "pipeline":
        pipeline(path, float(argv[3]), int(argv[4]))
    elif cmd == "cap":
        cap(path, float(argv[3]), int(argv[4]))
    else:
        sys.exit("hostile.py: unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
