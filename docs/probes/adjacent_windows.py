#!/usr/bin/python3
"""How much closer do two measurements of pipe fork 64 B agree 0.1 s apart than runs apart?

Diagnosis for docs/ci-gate.md ("What the pipe row's noise is on the second host"), not part
of the gate. The gate pairs one run of each build per round, a few seconds apart, and judges
the spread of the per-round ratio. If two windows of one process, back to back, agree much
better than two processes a few seconds apart, a gate that alternated the builds window by
window (both builds' processes alive, taking turns) would need fewer rounds for the same
resolution; if not, only more rounds help.

Each step runs ipcmeter's row alone with --benchmark_repetitions=3 (three 0.1 s windows,
each its own session, in one process) and docs/probes/pipe_rtt.c for three 0.1 s windows,
in alternating order, with --gap seconds after each process (about what separates the two
builds' runs of a focus round). Window 1 is left out (ipcmeter's first repetition follows
its start and floors, the probe's its warm-up). Then for each: the spread (standard
deviation) of log(window 2 of one process / window 2 of the next), and of log(window 3 /
window 2) within each process, plain and 10%-winsorized.

  /usr/bin/python3 docs/probes/adjacent_windows.py --bin build/ipcmeter [--steps 24] [--gap 2]

Needs gcc. Run it on an otherwise idle machine, never beside another benchmark.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
from ipcmeter import children  # noqa: E402
sys.path.insert(0, HERE)
from pipe_check import compile_probe, probe_windows  # noqa: E402

ROW = "^pingpong/transport:pipe/peer:fork/size:64(/|$)"


def ipcmeter_windows(binary, out):
    argv = [binary, "--profile", "quick", "--benchmark_filter=" + ROW,
            "--benchmark_repetitions=3", "--benchmark_out=" + out, "--benchmark_out_format=json"]
    proc = children.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    if proc.returncode != 0:
        raise SystemExit("adjacent_windows.py: %s exited %d" % (binary, proc.returncode))
    with open(out, encoding="utf-8") as f:
        rows = [b["rtt_p50_ns"] for b in json.load(f)["benchmarks"]
                if b.get("run_type") == "iteration" and "rtt_p50_ns" in b]
    if len(rows) != 3:
        raise SystemExit("adjacent_windows.py: expected 3 repetitions, got %d" % len(rows))
    return rows


def spreads(x):
    s = np.sort(np.asarray(x))
    g = int(0.1 * len(s))
    return 100 * float(np.std(s, ddof=1)), 100 * float(np.std(np.clip(s, s[g], s[-g - 1]), ddof=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--gap", type=float, default=2.0, help="seconds of pause after each process")
    args = ap.parse_args()
    if args.steps < 4 or args.gap < 0:
        ap.error("--steps must be at least 4 and --gap not negative")
    windows = {"ipcmeter": [], "probe": []}
    with tempfile.TemporaryDirectory(prefix="ipcmeter-adjacent-") as tmp:
        probe = compile_probe(tmp)
        for i in range(args.steps):
            for kind in ("ipcmeter", "probe") if i % 2 == 0 else ("probe", "ipcmeter"):
                w = (ipcmeter_windows(args.bin, os.path.join(tmp, "run.json")) if kind == "ipcmeter"
                     else probe_windows(probe, 3, os.path.join(tmp, "probe.txt")))
                windows[kind].append(w)
                print("step %2d %-8s " % (i + 1, kind) + " ".join("%6.0f" % v for v in w), flush=True)
                time.sleep(args.gap)
    for kind, runs in windows.items():
        logs = np.log(np.asarray(runs))
        across = spreads(np.diff(logs[:, 1]))
        within = spreads(logs[:, 2] - logs[:, 1])
        print("%-8s %d processes, median window 2 %.0f ns | log ratio of consecutive processes: "
              "spread %.1f%% (winsorized %.1f%%) | of adjacent windows of one process: %.1f%% (%.1f%%)"
              % (kind, len(runs), math.exp(float(np.median(logs[:, 1]))), *across, *within))


if __name__ == "__main__":
    main()
