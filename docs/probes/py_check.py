#!/usr/bin/python3
"""Independent check of ipcmeter's CPython rows (issue 14): plain multiprocessing, no ipcmeter code.

Times mp.Queue and mp.Pipe round trips of a 64-byte payload (fork and spawn children echo it
back) and Process start()+join() per start method (fork, spawn, forkserver) of a child that
sends one message first, the parent holding 1 MiB (the steps of ipcmeter's py_spawn rss_mib:1;
a spawned child imports this script where ipcmeter's imports its driver's stub and module); prints
each median with its p10-p90 spread, and with --json FILE saves them for py_check_compare.py:
    /usr/bin/python3 docs/probes/py_check.py --json /tmp/py_check.json
    /usr/bin/python3 docs/probes/py_check_compare.py RESULTS.json /tmp/py_check.json
"""
import argparse
import json
import multiprocessing as mp
import statistics
import time

PAYLOAD = b"x" * 64
WARMUP = 64


def echo_queue(inq, outq):
    for m in iter(inq.get, None):
        outq.put(m)


def echo_pipe(conn):
    for m in iter(conn.recv, None):
        conn.send(m)


def first_message(conn):
    """What ipcmeter's py_spawn child does: say it runs (its first message), then end."""
    conn.send_bytes(b"r")
    conn.close()


def spread(ns):
    q = statistics.quantiles(ns, n=10)
    return {"median_ns": statistics.median(ns), "p10_ns": q[0], "p90_ns": q[-1], "n": len(ns)}


def round_trips(ctx, channel, count):
    if channel == "Queue":
        a, b = ctx.Queue(), ctx.Queue()
        child = ctx.Process(target=echo_queue, args=(a, b))
        send, recv = a.put, b.get
    else:
        mine, theirs = ctx.Pipe()
        child = ctx.Process(target=echo_pipe, args=(theirs,))
        send, recv = mine.send, mine.recv
    child.start()
    if channel == "Pipe":
        theirs.close()  # a child that dies then ends recv() with EOFError instead of a hang
    samples = []
    for i in range(WARMUP + count):
        t0 = time.perf_counter_ns()
        send(PAYLOAD)
        if recv() != PAYLOAD:
            raise SystemExit(f"{channel}: the echo came back changed")
        if i >= WARMUP:
            samples.append(time.perf_counter_ns() - t0)
    send(None)
    child.join()
    return spread(samples)


def start_join(ctx, count):
    """start -> joined of a child that sends its first message over a Pipe, the parent
    holding 1 MiB of written memory: ipcmeter's py_spawn rss_mib:1 lifecycle, the same steps."""
    ballast = bytearray(1 << 20)
    ballast[::4096] = b"\x01" * len(range(0, len(ballast), 4096))
    mine, theirs = ctx.Pipe(duplex=False)
    first = ctx.Process(target=first_message, args=(theirs,))  # untimed: a forkserver starts here
    first.start()
    mine.recv_bytes()
    first.join()
    samples = []
    for _ in range(count):
        mine, theirs = ctx.Pipe(duplex=False)
        t0 = time.perf_counter_ns()
        p = ctx.Process(target=first_message, args=(theirs,), daemon=True)
        p.start()
        mine.recv_bytes()
        p.join()
        samples.append(time.perf_counter_ns() - t0)
        theirs.close()
        mine.close()
    return spread(samples)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=2000, help="timed round trips per row (default 2000)")
    ap.add_argument("--starts", type=int, default=20, help="timed starts per start method (default 20)")
    ap.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    args = ap.parse_args()
    out = {}
    for method in ("fork", "spawn"):
        for channel in ("Queue", "Pipe"):
            out[f"{channel} round trip, {method}, 64 B"] = round_trips(mp.get_context(method), channel, args.messages)
    for method in ("fork", "spawn", "forkserver"):
        out[f"start+join, {method}"] = start_join(mp.get_context(method), args.starts)
    for name, s in out.items():
        print(f"{name:32} median {s['median_ns'] / 1e3:9.1f} us   p10-p90 {s['p10_ns'] / 1e3:.1f}-"
              f"{s['p90_ns'] / 1e3:.1f} us   n={s['n']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
