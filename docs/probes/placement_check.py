#!/usr/bin/python3
"""External check of the placement family's same_cpu rows against tools users know, in one
session with the rounds interleaved (the host moves the vCPUs; a figure from another moment
compares nothing):

  perf bench sched pipe   two processes exchanging a token over two pipes, both on CPU 0
                          (taskset -c 0): its usecs/op is one round trip, as ipcmeter's
                          placement/transport:pipe/peer:fork/size:64/where:same_cpu p50;
  pmqtest -a 0            rt-tests: two threads on CPU 0 hand a message through a POSIX queue
                          one way; its average is compared with half of ipcmeter's
                          placement/transport:posix_mq/peer:fork/size:64/where:same_cpu round trip.

  placement_check.py BIN [--rounds N] [--loops N]

Prints each round and the medians with the ratios ipcmeter / tool. perf bench reports a mean
and pmqtest an average, so ipcmeter's rtt_mean_ns is shown beside its p50.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROWS = {"pipe": "placement/transport:pipe/peer:fork/size:64/where:same_cpu",
        "posix_mq": "placement/transport:posix_mq/peer:fork/size:64/where:same_cpu"}


def perf_pipe_us(loops):
    out = subprocess.run(["taskset", "-c", "0", "perf", "bench", "sched", "pipe", "-l", str(loops)],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"([0-9.]+) usecs/op", out).group(1))


def pmqtest_avg_us(loops, tmp):
    path = os.path.join(tmp, "pmq.json")
    subprocess.run(["pmqtest", "-a", "0", "-i", "200", "-d", "0", "-l", str(loops), "-q", "--json=" + path],
                   capture_output=True, text=True, check=True)
    with open(path) as f:
        d = json.load(f)
    return statistics.mean(float(t["receiver"]["avg"]) for t in d["thread"].values())


def ipcmeter_rows(binary, tmp):
    out = os.path.join(tmp, "r.json")
    flt = "^(" + "|".join(re.escape(n) for n in ROWS.values()) + ")(/|$)"
    subprocess.run([binary, "--benchmark_filter=" + flt, "--benchmark_min_time=0.5", "--benchmark_out=" + out],
                   capture_output=True, text=True, check=True)
    with open(out) as f:
        d = json.load(f)
    got = {}
    for b in d["benchmarks"]:
        for key, name in ROWS.items():
            if b["name"].startswith(name + "/") and not b.get("error_occurred"):
                got[key] = (b["rtt_p50_ns"] / 1e3, b["rtt_mean_ns"] / 1e3)
    return got


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bin")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--loops", type=int, default=20000)
    a = p.parse_args()
    tmp = tempfile.mkdtemp()
    rows = []
    for i in range(a.rounds):
        perf = perf_pipe_us(a.loops)
        pmq = pmqtest_avg_us(a.loops // 4, tmp)
        ipc = ipcmeter_rows(a.bin, tmp)
        rows.append((perf, pmq, ipc["pipe"], ipc["posix_mq"]))
        print("round %d: perf bench sched pipe %.2f us/rt | ipcmeter pipe same_cpu p50 %.2f mean %.2f us | "
              "pmqtest avg %.2f us one way | ipcmeter posix_mq same_cpu p50/2 %.2f mean/2 %.2f us"
              % (i + 1, perf, ipc["pipe"][0], ipc["pipe"][1], pmq, ipc["posix_mq"][0] / 2, ipc["posix_mq"][1] / 2),
              flush=True)
    med = statistics.median
    perf_m, pmq_m = med(r[0] for r in rows), med(r[1] for r in rows)
    pipe_p50, pipe_mean = med(r[2][0] for r in rows), med(r[2][1] for r in rows)
    mq_p50, mq_mean = med(r[3][0] / 2 for r in rows), med(r[3][1] / 2 for r in rows)
    print("medians over %d rounds:" % a.rounds)
    print("  pipe, both on CPU 0: perf bench %.2f us (range %.2f-%.2f); ipcmeter p50 %.2f us (x%.2f), mean %.2f us (x%.2f)"
          % (perf_m, min(r[0] for r in rows), max(r[0] for r in rows), pipe_p50, pipe_p50 / perf_m, pipe_mean, pipe_mean / perf_m))
    print("  posix_mq one way, on CPU 0: pmqtest avg %.2f us (range %.2f-%.2f); ipcmeter p50/2 %.2f us (x%.2f), mean/2 %.2f us (x%.2f)"
          % (pmq_m, min(r[1] for r in rows), max(r[1] for r in rows), mq_p50, mq_p50 / pmq_m, mq_mean, mq_mean / pmq_m))
    return 0


if __name__ == "__main__":
    sys.exit(main())
