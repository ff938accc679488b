#!/usr/bin/python3
"""Compare two ipcmeter results files and give a verdict per benchmark and metric.

  compare.py BASE.json NEW.json [--threshold PCT] [--max-inconclusive PCT]
                                [--markdown FILE] [--json FILE] [--allow-missing]
                                [--metric NAME] [--normalize-floors] ...

Benchmarks are matched by name. Each family's primary metrics are compared, or the
--metric ones. Which metrics are primary, and which way is better, is what NEW's
ipcmeter.schema says (`ipcmeter --describe`; for files written before it, the
--describe of --ipcmeter-bin or build/ipcmeter); counters it calls neither better
nor worse (tasks, window_msgs) are never judged. A metric missing from NEW fails
the gate; one the schema marks as not required (a saturated load row has no
latency) does so only when BASE had it in every run.

Verdicts: regressed / improved (significant after Benjamini-Hochberg control across
all comparisons AND at least --threshold in size), unchanged (the confidence interval
lies inside +-threshold), inconclusive (too few repetitions, or too noisy to tell;
the reason and what would decide it are printed). Every row also carries mde_pct: the
smallest worsening its own data could have flagged were it the only change in the
report (significance alpha / number of tests).

The test depends on the input, and each needs a minimum of data:
  paired      both files written by one scripts/ab.py run: a t-test on the per-round
              log ratios (each round ran both builds back to back, so machine drift
              cancels), Yuen's trimmed form at two trims, Bonferroni-combined
              (p twice the smaller): 1 round in 10 cut from each end from 10 rounds
              on, so one wild round cannot decide a row, and a quarter from 4 rounds
              on, for rows whose runs sit in one of two modes for the whole run; from
              30 rounds on (the focus rows) also a rank-shift test of the rounds' two
              sides as samples (Hodges-Lehmann shift, Moses interval, Mann-Whitney p),
              which a mode drawn afresh for every run cannot blur (p three times the
              smallest). Needs >= 3 rounds; with fewer, every row is inconclusive. A round is left out
              when the floor probes that ab.py ran with the BASELINE binary before,
              between and after the round's two runs differ by more than
              --floor-shift-limit times (the host moved the vCPUs during the round).
              The witness is the baseline's, so the candidate's code cannot drop its
              own rounds;
  unpaired    repetitions (--benchmark_repetitions) on both sides: Mann-Whitney U
              (exact) and a bootstrap interval of the ratio of medians. Needs >= 3
              repetitions per side for a test; the rank test can flag a lone change
              among m comparisons only once 2 / C(2n, n) <= alpha / m: n = 4 per side
              for 1 comparison, 6 for 10, 8 for 100, 9 for the ~420 of the quick
              profile. Below that, and whenever the test does not decide, the medians
              are still judged by the --single-run-band rule, so more repetitions never
              give a weaker verdict than fewer. Repetitions of one run do not see
              run-to-run drift: prefer scripts/ab.py;
  single      one value per side (or fewer than 3 on one side): inconclusive unless
              the change exceeds --single-run-band (a smoke check, not a gate).

Bands per row (--noise FILE): a row may be called unchanged within max(--threshold, K x
its spread between identical builds), learned from A/A runs of the CI configuration on this
machine (scripts/gate_trials.py noise), and its test takes its own spread only down to the
5th percentile of what that learned spread would give; it is flagged from --threshold.
Without it every row is judged at --threshold, and rows noisier than the threshold allows
stay inconclusive however often the gate runs.

Environments that differ in CPU model, core count, kernel or build type are refused
(exit 2) unless --allow-env-mismatch, which compares anyway under a loud warning.

Exit status:
  0  no regression, with enough evidence: at most --max-inconclusive percent (default
     10) of the rows compared are undecided;
  1  regression: a row significantly worse beyond the threshold, a row that errors in
     NEW but not in BASE, or a BASE benchmark or primary metric missing from NEW
     (unless --allow-missing, for a deliberate rename or removal);
  2  unusable input (one line on stderr, nothing written);
  3  inconclusive: nothing regressed, but more than --max-inconclusive percent of the
     rows compared could not be decided.
Rows only in NEW are listed as new, never a failure.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ipcmeter import atomic, gate_noise, schema  # noqa: E402
from ipcmeter.cli import ArgumentParser, add_ipcmeter_bin, refuse  # noqa: E402
from ipcmeter.gate import (EXIT_UNUSABLE, FLOOR_SHIFT_LIMIT, MAX_INCONCLUSIVE,  # noqa: E402
                           UsageError, compare)
from ipcmeter.gate_render import render_json, render_markdown, render_text  # noqa: E402
from ipcmeter.results import ResultsError, load  # noqa: E402

PROG = "compare.py"


# ----------------------------------------------------------------------- main

def build_parser():
    p = ArgumentParser(prog=PROG, description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("base", metavar="BASE.json", help="reference results file")
    p.add_argument("new", metavar="NEW.json", help="results file to judge")
    p.add_argument("--threshold", type=float, default=5.0, metavar="PCT",
                   help="smallest change that counts, in percent (default 5); pick it "
                        "from A/A runs, see docs/ci-gate.md")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="false discovery rate for Benjamini-Hochberg, and 1 - the "
                        "interval's confidence (default 0.05)")
    p.add_argument("--metric", action="append", metavar="NAME",
                   help="compare this metric instead of the primary ones (repeatable; "
                        "e.g. rtt_p90_ns, cpu_ns_per_msg, real_time_ns)")
    p.add_argument("--normalize-floors", action="store_true",
                   help="divide latencies by each run's core-to-core round trip and "
                        "throughput by its memcpy bandwidth, so a host that is slower "
                        "across the board is not a regression of the code")
    p.add_argument("--allow-env-mismatch", action="store_true",
                   help="compare even when CPU model, core count, kernel or build type "
                        "differ (a loud warning is printed)")
    p.add_argument("--max-inconclusive", type=float, default=MAX_INCONCLUSIVE,
                   metavar="PCT",
                   help="exit 3 (inconclusive) when more than PCT percent of the rows "
                        "compared stay undecided and nothing regressed (default %g)"
                        % MAX_INCONCLUSIVE)
    p.add_argument("--allow-missing", action="store_true",
                   help="a BASE benchmark or primary metric missing from NEW is listed "
                        "but is not a failure (a deliberate rename or removal)")
    p.add_argument("--floor-shift-limit", type=float, default=FLOOR_SHIFT_LIMIT,
                   metavar="RATIO",
                   help="paired files: leave out a round whose floor probes (run by "
                        "ab.py with the baseline binary before, between and after the "
                        "round's runs) differ by more than RATIO times (default %g; 0 "
                        "keeps every round)" % FLOOR_SHIFT_LIMIT)
    p.add_argument("--noise", metavar="FILE",
                   help="per-row bands learned from A/A runs on this machine "
                        "(scripts/gate_trials.py noise; the CI gate uses "
                        "results/baselines/gate-noise.json): a row may be called unchanged "
                        "within max(--threshold, K x its A/A spread), and its test's spread "
                        "is floored from that spread (each trim its own) before it is "
                        "flagged from --threshold. Refused (exit 2) when it was learned on "
                        "another machine")
    p.add_argument("--unpaired", action="store_true",
                   help="ignore the round pairing of files written by ab.py")
    p.add_argument("--single-run-band", type=float, default=50.0, metavar="PCT",
                   help="without repetitions, only changes beyond this are called "
                        "(default 50)")
    p.add_argument("--markdown", metavar="FILE", help="also write a Markdown summary "
                   "(for a PR comment)")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    add_ipcmeter_bin(p)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    schema.use_binary(args.ipcmeter_bin)
    try:
        if not (0 < args.threshold < 1000):
            raise UsageError("--threshold %g: must be a percentage above 0" % args.threshold)
        if not (0 < args.alpha < 1):
            raise UsageError("--alpha %g: must be between 0 and 1" % args.alpha)
        if args.floor_shift_limit != 0 and not args.floor_shift_limit > 1:
            raise UsageError("--floor-shift-limit %g: must be above 1, or 0 to keep every "
                             "round" % args.floor_shift_limit)
        if not args.single_run_band > 0:
            raise UsageError("--single-run-band %g: must be above 0" % args.single_run_band)
        if not 0 <= args.max_inconclusive <= 100:
            raise UsageError("--max-inconclusive %g: must be a percentage from 0 to 100"
                             % args.max_inconclusive)
        for path, flag in ((args.markdown, "--markdown"), (args.json, "--json")):
            problem = path and atomic.output_path_problem(path, flag)
            if problem:
                raise UsageError(problem)
        args.noise_doc = gate_noise.load(args.noise) if args.noise else None
        report = compare(load(args.base), load(args.new), args)
    except (ResultsError, UsageError, gate_noise.NoiseError) as e:
        refuse(PROG, e)
        return EXIT_UNUSABLE
    text = render_text(report)
    outputs = {}
    if args.markdown:
        outputs[args.markdown] = render_markdown(report)
    if args.json:
        outputs[args.json] = render_json(report)
    try:
        atomic.write_files(outputs)
    except OSError as e:
        refuse(PROG, "cannot write %s: %s" % (e.filename or "output", e.strerror or e))
        return EXIT_UNUSABLE
    sys.stdout.write(text)
    return report["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
