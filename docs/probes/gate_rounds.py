#!/usr/bin/python3
"""How many rounds would one row need for the gate to flag a slowdown 9 times in 10?

Diagnosis for docs/ci-gate.md ("Where the proof stands"), not part of the gate. It reads
the kept files of finished gate_trials.py trials (no benchmark runs) and uses the gate's
own code for everything it decides: the rounds the baseline's floor probes leave out
(gate.shifted_rounds), the trimmed paired test (gate_stats.estimate_paired, with each
trim's spread pooled over the A/A trials as gate_noise learns it) and the flagging rule.

  /usr/bin/python3 docs/probes/gate_rounds.py --row ROW --aa DIR [DIR ...] \\
      --trials DIR [DIR ...] [--rounds 20 30 40 60] [--trim 0.1 0.2 gate] [--shift PCT]
      [--rule gate|spread|none]

--aa: the A/A trials the row's spread is learned from. --trials: the trials to look at,
sensitivity trials with ROW as their target (or A/A trials, for the row's false alarms).
For each trim share it prints each trial's change and spread as the gate saw them, then
draws the number of rounds the probes would keep at that many rounds (the share they kept in
these trials) from the trial's kept rounds (each a pair: both builds' log values), with
replacement, BOOTSTRAP times, and prints how often the row would be flagged worse were it
the only change among --comparisons (p <= alpha / comparisons, the first step of
Benjamini-Hochberg). Drawing rounds from one trial treats that trial's host state as the
state of the whole job; the pooled line mixes the trials' states.

--trim gate: the gate's own tests (gate_stats.TRIM and HEAVY_TRIM and, from
gate_stats.RANK_MIN_ROUNDS rounds, the rank-shift test, Bonferroni-combined), as compare.py
judges; trims: the two trims alone (the gate until 2026-12-06); a share: that trim alone.
--shift PCT adds a change of PCT to every round's log ratio of the trials looked at (to the
NEW side of each round): with A/A trials, what a row that really got PCT slower would meet
in those trials' host states, without the busy delay's own error (a delay asked for 10% of a
round trip does not always cost 10%, docs/ci-gate.md). The A/A spreads are pooled over --aa
as they ran, so list the same directories in both only knowingly: the floors are learned
from the rounds that are resampled.

--rule: gate (the gate since 2026-12-05): each trim's own spread believed down to the 5th
percentile of what its rounds would show at that trim's A/A spread, flagged from
--threshold. spread (the gate until then): the rounds' own spreads,
flagged from max(threshold, the light trim's A/A spread). none: the rounds' own spreads,
flagged from --threshold, no guard at all.
"""
import argparse
import math
import os
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "scripts"))
from ipcmeter import gate, gate_noise, gate_stats  # noqa: E402
from ipcmeter.results import load  # noqa: E402
from ipcmeter.trial_store import finished_trials, trial_files  # noqa: E402

METRIC = "rtt_p50_ns"
BOOTSTRAP = 2000
SEED = 20261203


def trial_logs(directory, n, row, limit):
    """(per-round [log BASE, log NEW] of the row over the rounds the probes keep, rounds):
    the pairs, not only their ratios, since the gate's rank-shift test compares the sides."""
    base_path, new_path = trial_files(directory, n)
    base, new = load(base_path), load(new_path)
    per, rounds = gate.pairing(base, new)
    skip = set(gate.shifted_rounds(gate.round_probes(base, rounds), limit))
    first_focus, focused = gate.focus_rounds(base, per)
    if row in focused:      # judged on the focus rounds alone, as the gate does
        skip |= set(range(first_focus))
        rounds -= first_focus
    values = []
    for results in (base, new):
        recs = results.benchmarks().get(row)
        if not recs:
            print("gate_rounds.py: %s trial %d holds no row %s" % (directory, n, row),
                  file=sys.stderr)
            sys.exit(2)
        values.append(gate.samples(results, recs, METRIC, per, False, skip)[0])
    xs, ys = values
    logs = [[math.log(statistics.median(xs[r])), math.log(statistics.median(ys[r]))]
            for r in sorted(set(xs) & set(ys))]
    return logs, rounds


def trim_choice(text):
    if text in ("gate", "trims"):
        return text
    try:
        share = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a share, 'gate' or 'trims': %r" % text) from None
    if not 0.0 <= share < 0.5:
        raise argparse.ArgumentTypeError("a trim share is at least 0 and below 0.5")
    return share


def estimate(logs, floors=None):
    """The gate's paired estimate from [log BASE, log NEW] rounds."""
    return gate_stats.estimate_paired({i: [math.exp(b)] for i, (b, _) in enumerate(logs)},
                                      {i: [math.exp(y)] for i, (_, y) in enumerate(logs)},
                                      0.95, floors)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--row", required=True, help="benchmark name as compare.py shows it")
    ap.add_argument("--aa", nargs="+", required=True, help="A/A trial directories")
    ap.add_argument("--trials", nargs="+", required=True,
                    help="trial directories to look at (sensitivity: target --row)")
    ap.add_argument("--rounds", nargs="+", type=int, default=[20, 30, 40, 60])
    ap.add_argument("--trim", nargs="+", type=trim_choice, default=[0.1, 0.2],
                    help="trim shares, 'gate' for the gate's own tests or 'trims' for its "
                         "two trims without the rank-shift test")
    ap.add_argument("--shift", type=float, default=0.0,
                    help="percent added to each looked-at round's ratio")
    ap.add_argument("--rule", choices=("gate", "spread", "none"), default="gate",
                    help="gate: each trim's own spread floored from its A/A spread "
                         "(gate_stats.FLOOR_QUANTILE), flagged from the threshold; spread: "
                         "flagged from max(threshold, A/A spread) (the gate until "
                         "2026-12-05); none: no guard")
    ap.add_argument("--threshold", type=float, default=5.0, help="percent")
    ap.add_argument("--comparisons", type=int, default=427)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--floor-shift-limit", type=float, default=1.5)
    args = ap.parse_args()
    if not args.shift > -100.0:
        ap.error("--shift must be above -100 (percent)")
    aa = [trial_logs(d, n, args.row, args.floor_shift_limit)
          for d in args.aa for n, _ in finished_trials(d)[1]]
    shift = math.log1p(args.shift / 100.0)
    looked = []
    for d in args.trials:
        for n, _ in finished_trials(d)[1]:
            logs, rounds = trial_logs(d, n, args.row, args.floor_shift_limit)
            looked.append(("%s/trial-%02d" % (os.path.basename(d.rstrip("/")), n),
                           ([[b, y + shift] for b, y in logs], rounds)))
    kept = sum(len(lg) for _, (lg, _) in looked) / float(sum(r for _, (_, r) in looked))
    pooled = [x for _, (lg, _) in looked for x in lg]
    rng = np.random.default_rng(SEED)
    level = args.alpha / args.comparisons
    print("%s, %s; spread from %d A/A trials; %d trials looked at%s, whose probes kept %.0f%% "
          "of the rounds"
          % (args.row, METRIC, len(aa), len(looked),
             " with %+g%% added to each round" % args.shift if args.shift else "", 100 * kept))
    gate_trims = gate_stats.TRIM, gate_stats.HEAVY_TRIM
    rank_from = gate_stats.RANK_MIN_ROUNDS
    for trim in args.trim:
        # One trim at a time (no Bonferroni family) asks what each share alone does; "gate"
        # judges as compare.py does; "trims" as it did before the rank-shift test.
        named = trim in ("gate", "trims")
        gate_stats.TRIM, gate_stats.HEAVY_TRIM = gate_trims if named else (trim, trim)
        gate_stats.RANK_MIN_ROUNDS = rank_from if trim == "gate" else 10 ** 9
        pool, trim_pools = gate_noise.Pool(), {}
        for logs, _ in aa:
            est = estimate(logs)
            pool.add(est.log_sd, est.n_new)
            for t, sd in est.own_spreads.items():
                trim_pools.setdefault(t, gate_noise.Pool()).add(sd, est.n_new)
        floors = {t: tp.spread() for t, tp in trim_pools.items()} if args.rule == "gate" else None
        flag_at = args.threshold / 100.0
        if args.rule == "spread":
            flag_at = max(flag_at, pool.spread())
        print("trim %s: A/A spread %.2f%% (%d rounds)%s, flagged from %+.1f%%"
              % (trim if named else "%g" % trim, 100 * pool.spread(), pool.rounds,
                 "; floors " + ", ".join("%g: %.2f%%" % (t, 100 * f)
                                         for t, f in sorted(floors.items())) if floors else "",
                 100 * flag_at))
        for name, (logs, _) in looked + [("pooled", (pooled, None))]:
            est = estimate(logs)
            logs = np.asarray(logs)
            cells = []
            for rounds in args.rounds:
                n = max(gate_stats.MIN_ROUNDS, int(round(kept * rounds)))
                hits = 0
                for _ in range(BOOTSTRAP):
                    e = estimate(logs[rng.integers(0, len(logs), n)], floors)
                    hits += e.p is not None and e.p <= level and e.ratio - 1.0 >= flag_at
                cells.append("%d rounds %3.0f%%" % (rounds, 100.0 * hits / BOOTSTRAP))
            print("  %-22s %2d kept rounds, change %+5.1f%%, spread %5.1f%% | %s"
                  % (name, len(logs), 100 * (est.ratio - 1), 100 * est.log_sd,
                     " | ".join(cells)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
