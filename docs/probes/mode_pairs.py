#!/usr/bin/python3
"""How often did a trial's rounds pair runs of different modes?

Diagnosis for docs/ci-gate.md ("The rank-shift test"), not part of the gate. It reads the
kept files of finished gate_trials.py trials (no benchmark runs) and takes the rounds the
gate judges the row on, as gate_rounds.py does (its trial_logs: the focus rounds for a
focused row, less those the baseline's floor probes leave out). Each run of the row
is put in a mode by its p50: "fast" below --fast-below ns (the fast vCPU placement), then
"low" or "high" either side of --split ns. Printed per trial: how many rounds paired which
modes (base mode first), and the mean and spread of the per-round log ratios of each kind.

  /usr/bin/python3 docs/probes/mode_pairs.py --row ROW --split NS [--fast-below NS] DIR ...
"""
import argparse
import math
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gate_rounds import trial_logs  # noqa: E402
from ipcmeter.trial_store import finished_trials  # noqa: E402


def kind(ns, split, fast_below):
    if ns < fast_below:
        return "fast"
    return "low" if ns < split else "high"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--row", required=True, help="benchmark name as compare.py shows it")
    ap.add_argument("--split", type=float, required=True, help="ns between the two modes")
    ap.add_argument("--fast-below", type=float, default=300.0, help="ns (default 300)")
    ap.add_argument("--floor-shift-limit", type=float, default=1.5)
    ap.add_argument("dirs", nargs="+", help="gate_trials.py trial directories")
    args = ap.parse_args()
    for directory in args.dirs:
        for n, _ in finished_trials(directory)[1]:
            by_kind = {}
            for log_x, log_y in trial_logs(directory, n, args.row, args.floor_shift_limit)[0]:
                x, y = math.exp(log_x), math.exp(log_y)
                pair = "%s-%s" % (kind(x, args.split, args.fast_below),
                                  kind(y, args.split, args.fast_below))
                by_kind.setdefault(pair, []).append(log_y - log_x)
            total = sum(len(v) for v in by_kind.values())
            print("%s trial %d: %d rounds kept" % (os.path.basename(directory.rstrip("/")), n,
                                                  total))
            for pair, logs in sorted(by_kind.items()):
                sd = statistics.stdev(logs) if len(logs) > 1 else float("nan")
                print("  %-10s %3d rounds, log ratio mean %+.3f, sd %.3f"
                      % (pair, len(logs), statistics.mean(logs), sd))
    return 0


if __name__ == "__main__":
    sys.exit(main())
