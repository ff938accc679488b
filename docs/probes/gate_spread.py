#!/usr/bin/python3
"""Rounds or repetitions: the run-to-run spread of every comparison the gate makes.

Run one binary's quick profile several times, alternating plain runs with 3 repetitions
(P1.json, P2.json, ...) and, optionally, runs with Google Benchmark's random interleaving
(I1.json, ...), one at a time on an otherwise idle machine:

  for i in 1 2 3 4 5 6; do
    build/ipcmeter --profile quick --benchmark_repetitions=3 \\
        --benchmark_out=DIR/P$i.json --benchmark_out_format=json
    build/ipcmeter --profile quick --benchmark_repetitions=3 \\
        --benchmark_enable_random_interleaving=true \\
        --benchmark_out=DIR/I$i.json --benchmark_out_format=json
  done
  /usr/bin/python3 docs/probes/gate_spread.py DIR [--run-seconds-1 51 --run-seconds-3 137]

For each benchmark x primary metric, a run gives the median of its repetitions (or its first
repetition only: what a 1-repetition run sees), and the spread is the standard deviation of
their logs over the runs. Printed: the spread's distribution per kind of run, the ratios
between kinds per comparison, and the paired gate's projected mde at R rounds x K
repetitions (per-round log ratio spread sqrt(2) x the run spread; t(1 - 0.05/2m, n - 1) x that
/ sqrt(n)), with the minutes of 2n runs and 2n + 1 floor probes (docs/ci-gate.md, "Rounds or
repetitions")."""
import argparse
import glob
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from ipcmeter.gate_stats import t_half_width  # noqa: E402
from ipcmeter.results import load  # noqa: E402
from ipcmeter.trials import _quantile as quantile  # noqa: E402


def per_run(path, first_only=False):
    res = load(path)
    out = {}
    for name, recs in res.benchmarks().items():
        ok = [r for r in recs if r.error is None
              and (not first_only or (r.repetition_index or 0) == 0)]
        if not ok:
            continue
        for metric in res.schema.primary_metrics(ok[0].family):
            vals = [r.metrics[metric] for r in ok if (r.metrics.get(metric) or 0) > 0]
            if vals:
                out[(name, metric)] = statistics.median(vals)
    return out


def spreads(runs):
    keys = set.intersection(*(set(r) for r in runs))
    return {k: statistics.stdev([math.log(r[k]) for r in runs]) for k in keys}


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir")
    p.add_argument("--run-seconds-1", type=float, default=51.0,
                   help="seconds of one quick run with 1 repetition (measure it)")
    p.add_argument("--run-seconds-3", type=float, default=137.0,
                   help="seconds of one quick run with 3 repetitions (measure it)")
    p.add_argument("--probe-seconds", type=float, default=4.0)
    args = p.parse_args()
    plain = sorted(glob.glob(os.path.join(args.dir, "P*.json")))
    inter = sorted(glob.glob(os.path.join(args.dir, "I*.json")))
    if len(plain) < 3:
        sys.exit("gate_spread.py: %s: at least 3 plain runs P*.json needed" % args.dir)
    kinds = {"3 repetitions": spreads([per_run(f) for f in plain]),
             "1 repetition (the first)": spreads([per_run(f, True) for f in plain])}
    if len(inter) >= 3:
        kinds["3 repetitions, interleaved"] = spreads([per_run(f) for f in inter])
    for label, s in kinds.items():
        v = list(s.values())
        print("%-28s %d comparisons: spread median %.1f%%, p75 %.1f%%, p90 %.1f%%"
              % (label, len(v), 100 * statistics.median(v), 100 * quantile(v, .75),
                 100 * quantile(v, .9)))
    base = kinds["3 repetitions"]
    for label, s in kinds.items():
        if s is base:
            continue
        r = [s[k] / base[k] for k in set(s) & set(base) if base[k] > 0]
        print("%s / 3 repetitions, per comparison: median %.2f, p25 %.2f, p75 %.2f, "
              "lower in %.0f%%" % (label, statistics.median(r), quantile(r, .25),
                                   quantile(r, .75), 100 * sum(x < 1 for x in r) / len(r)))
    keys = sorted(set(kinds["3 repetitions"]) & set(kinds["1 repetition (the first)"]))
    m = len(keys)
    print("rounds x reps  minutes  mde median  mde p75  mde <= 10%  mde <= 5%")
    for rounds, reps in ((8, 3), (12, 1), (16, 1), (20, 1), (24, 1)):
        s = kinds["3 repetitions" if reps == 3 else "1 repetition (the first)"]
        # The gate's own lone-change resolution: a two-sided t at alpha / m.
        mdes = [100 * math.expm1(t_half_width(math.sqrt(2) * s[k], rounds, 0.05 / m))
                for k in keys]
        secs = args.run_seconds_3 if reps == 3 else args.run_seconds_1
        minutes = (2 * rounds * secs + (2 * rounds + 1) * args.probe_seconds) / 60
        print("%6d x %d  %8.1f  %9.1f%%  %6.1f%%  %9.0f%%  %8.0f%%" % (
            rounds, reps, minutes, statistics.median(mdes), quantile(mdes, .75),
            100 * sum(x <= 10 for x in mdes) / m, 100 * sum(x <= 5 for x in mdes) / m))


if __name__ == "__main__":
    main()
