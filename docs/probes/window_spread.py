#!/usr/bin/python3
"""Does a longer measuring window narrow a row's run-to-run spread?

Diagnosis for docs/ci-gate.md ("The second host"), not part of the gate. On the second
host of the development VM the pipe fork 64 B round trip (p50 about 56-60 us) scatters by
about 20% between the two builds' runs of a round, even in focus rounds whose runs are a
few seconds apart. If that noise comes and goes faster than the row's window (the quick
profile's --benchmark_min_time, 0.1 s), a longer window averages it and the spread of a
run's p50 shrinks about as 1/sqrt(window); then the gate could buy resolution with longer
windows for its focus rows, without the process start and floors of more rounds. If the
host's state holds for seconds, a longer window does not help.

  /usr/bin/python3 docs/probes/window_spread.py --bin build/ipcmeter [--runs 12]
      [--row REGEX] [--windows 0.1 1.0]

Runs the row alone, the windows alternating in ABBA order, and prints each run's p50 and
floor, then per window: the median, the standard deviation of log(p50) over the runs, and
the same from consecutive runs' differences (divided by sqrt 2), which slow drift does not
inflate. Run it on an otherwise idle machine, never beside another benchmark.
"""
import argparse
import math
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mode_churn import one_run  # noqa: E402

ROW = "^pingpong/transport:pipe/peer:fork/size:64(/|$)"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--row", default=ROW)
    ap.add_argument("--runs", type=int, default=12, help="runs per window")
    ap.add_argument("--windows", type=float, nargs="+", default=[0.1, 1.0],
                    help="seconds, as --benchmark_min_time")
    args = ap.parse_args()
    if args.runs < 3 or any(not w > 0 for w in args.windows):
        ap.error("--runs must be at least 3 and every window positive")
    p50s = {w: [] for w in args.windows}
    with tempfile.TemporaryDirectory(prefix="ipcmeter-window-spread-") as tmp:
        out = os.path.join(tmp, "run.json")
        for i in range(args.runs):
            for w in args.windows if i % 2 == 0 else args.windows[::-1]:
                p50, floor = one_run(args.bin, args.row, out,
                                     ["--benchmark_min_time=%g" % w])
                p50s[w].append(p50)
                print("run %2d  window %5.2f s  p50 %9.0f ns  floor %s ns"
                      % (i + 1, w, p50, "%.0f" % floor if floor is not None else "-"),
                      flush=True)
    for w in args.windows:
        logs = [math.log(v) for v in p50s[w]]
        steps = [b - a for a, b in zip(logs, logs[1:])]
        print("window %5.2f s: %d runs, median %.0f ns, spread %.1f%% (consecutive runs "
              "%.1f%%), min %.0f, max %.0f"
              % (w, len(logs), statistics.median(p50s[w]), 100 * statistics.stdev(logs),
                 100 * statistics.stdev(steps) / math.sqrt(2), min(p50s[w]), max(p50s[w])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
