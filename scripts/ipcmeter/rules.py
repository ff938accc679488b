"""When the report may recommend: the rules that turn repetitions into a verdict.

recommend.py picks what to compare (which options, which metric); this module decides
what the numbers support and words it.

The unit of evidence is the Google Benchmark repetition (--benchmark_repetitions): each
option is the list of its repetitions' values. Two options are compared by the ratio of
their medians with the bootstrap interval of gate_stats.estimate_unpaired (the gate's own
statistic, so the report and the gate agree on what a difference is):

* fewer than MIN_REPETITIONS values on either side: inconclusive, and the sentence says
  what would decide it (DECIDE_HINT) instead of giving a verdict;
* the interval includes 1, or lies within +-EQUIVALENCE: no measurable difference;
* otherwise the option whose side the whole interval is on is better, by that interval.

Every figure is quoted as the median with its range and n (figure()). A speedup above
min(workers, CPUs) cannot be real and is a measurement error (superlinear()), never advice.
The repetitions of one run share that run's machine state, so an interval here speaks for
this machine at this time, not for a build against another build (that is compare.py's job).
"""

from __future__ import annotations

import statistics

from . import gate_stats as gs

CONFIDENCE = 0.95
# A difference whose interval lies inside +-5% is too small to act on: "no measurable
# difference", even when the interval excludes 1.
EQUIVALENCE = 0.05
MIN_REPETITIONS = gs.MIN_REPETITIONS
DECIDE_HINT = (f"run the default profile (which repeats the compared rows 3 times) or "
               f"--benchmark_repetitions={MIN_REPETITIONS} or more to decide")

BETTER = "better"            # the first option is measurably better
WORSE = "worse"              # the second one is
SAME = "same"                # no measurable difference
INCONCLUSIVE = "inconclusive"
ONLY = "only"                # a ranking of one option: nothing to compare


class Option:
    """One choice the report may recommend: a label and its repetitions' values.

    rounds: (low, high) spread inside a single repetition, for rows that report one
    (compute's speedup_min / speedup_max); quoted only when there is one repetition.
    """

    def __init__(self, label: str, values, rounds=None):
        self.label = label
        self.values = sorted(float(v) for v in values)
        self.rounds = rounds

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def median(self) -> float:
        return float(statistics.median(self.values))


def figure(option: Option, fmt) -> str:
    """"150 ns (median of n=5, range 148 ns–155 ns)", "170 ns (median of n=10, all 170 ns)"
    at the precision shown; one repetition says so."""
    v = option.values
    if len(v) == 1:
        inside = f"; its rounds {fmt(option.rounds[0])}–{fmt(option.rounds[1])}" if option.rounds else ""
        return f"{fmt(v[0])} (n=1{inside})"
    lo, hi = fmt(v[0]), fmt(v[-1])
    spread = f"range {lo}–{hi}" if lo != hi else f"all {lo}"
    return f"{fmt(option.median)} (median of n={len(v)}, {spread})"


def factor(x: float) -> str:
    return f"{x:.2f}×" if x < 10 else f"{x:.1f}×" if x < 100 else f"{x:.0f}×"


def superlinear(speedup: float, workers: int, cpus: int | None) -> int | None:
    """The most a speedup with `workers` on `cpus` CPUs can be, when `speedup` is beyond it
    (by more than EQUIVALENCE, the report's own margin of no difference); else None."""
    limit = min(workers, cpus) if cpus else workers
    return limit if speedup > limit * (1.0 + EQUIVALENCE) else None


class Comparison:
    """Option a against option b on one metric.

    status: BETTER (a is measurably better), WORSE, SAME or INCONCLUSIVE.
    ratio, ci: median(a) / median(b) and its interval (None when not computed).
    gap, gap_ci: how many times better the better side is (>= 1), when decided; the same
    factor reads "the winner N× faster" or "the loser N× slower".
    """

    def __init__(self, a: Option, b: Option, higher_is_better: bool):
        self.a, self.b = a, b
        self.est = gs.estimate_unpaired(b.values, a.values, CONFIDENCE)
        self.ratio = self.est.ratio if self.est else None
        self.ci = self.est.ci if self.est else None
        self.gap = self.gap_ci = None
        if self.ci is None:
            self.status = INCONCLUSIVE
            return
        lo, hi = self.ci
        if lo <= 1.0 <= hi or self.within_margin:
            self.status = SAME
            return
        a_higher = lo > 1.0
        if a_higher != (self.ratio > 1.0):
            self.status = INCONCLUSIVE   # the interval lies on the other side of the medians
            return
        self.status = BETTER if a_higher == higher_is_better else WORSE
        self.gap, self.gap_ci = ((self.ratio, (lo, hi)) if a_higher
                                 else (1.0 / self.ratio, (1.0 / hi, 1.0 / lo)))

    @property
    def within_margin(self) -> bool:
        lo, hi = self.ci
        return lo >= 1.0 - EQUIVALENCE and hi <= 1.0 + EQUIVALENCE

    @property
    def decided(self) -> bool:
        return self.status in (BETTER, WORSE)

    def gap_text(self, worse: str) -> str:
        """"30.6× slower (95% interval 25.1×–36.0×)", for a decided comparison."""
        return (f"{factor(self.gap)} {worse} ({CONFIDENCE:.0%} interval "
                f"{factor(self.gap_ci[0])}–{factor(self.gap_ci[1])})")

    def interval_text(self) -> str:
        """"ratio 1.01, 95% interval 0.97–1.05" and, when the interval is wide, how many
        repetitions would narrow it to the margin."""
        lo, hi = self.ci
        text = f"ratio {self.ratio:.2f}, {CONFIDENCE:.0%} interval {lo:.2f}–{hi:.2f}"
        if self.within_margin:
            return text + f", within ±{EQUIVALENCE:.0%}"
        _, count, _ = gs.needed(self.est, 1.0 - CONFIDENCE, EQUIVALENCE)
        if count is None:
            return text + f"; even {gs.MAX_SUGGESTED} repetitions would not resolve ±{EQUIVALENCE:.0%}"
        return text + f"; about {count} repetitions of each would resolve ±{EQUIVALENCE:.0%}"

    @property
    def too_few(self) -> bool:
        """Undecided for want of repetitions (DECIDE_HINT would settle it)."""
        return self.status == INCONCLUSIVE and self.ratio is not None and self.ci is None

    def why_undecided(self) -> str:
        if self.too_few:
            return (f"n={self.a.n} vs n={self.b.n}; a comparison needs {MIN_REPETITIONS} "
                    "repetitions of each")
        if self.ci is not None:
            return "the interval and the medians disagree: " + self.interval_text()
        return self.est.note if self.est else "no values to compare"

    def inconclusive_text(self) -> str:
        hint = f"; {DECIDE_HINT}" if self.too_few else ""
        return f"inconclusive ({self.why_undecided()}){hint}"


class Ranking:
    """The best of several options (by median) against every other one.

    status: ONLY (one option), BETTER (the best is measurably better than all others),
    SAME (no measurable difference from some: they are `ties`), or INCONCLUSIVE (some
    comparison could not be decided; the first such is `undecided`).
    """

    def __init__(self, options, higher_is_better: bool):
        self.higher = higher_is_better
        opts = sorted((o for o in options if o.values), key=lambda o: o.median,
                      reverse=higher_is_better)
        self.best = opts[0] if opts else None
        self.comparisons = [Comparison(self.best, o, higher_is_better) for o in opts[1:]]
        # Sorted by median, the best cannot be measurably worse (Comparison refuses an
        # interval that contradicts the medians).
        self.undecided = next((c for c in self.comparisons if c.status == INCONCLUSIVE), None)
        self.ties = [c for c in self.comparisons if c.status == SAME]
        if not self.comparisons:
            self.status = ONLY
        elif self.undecided:
            self.status = INCONCLUSIVE
        elif self.ties:
            self.status = SAME
        else:
            self.status = BETTER

    @property
    def decided(self) -> bool:
        return self.status in (ONLY, BETTER)

    def sentence(self, fmt, worse: str) -> str:
        """The verdict in words: "X, figure; runner-up Y, figure, N× `worse` (interval)", or
        the ties, or why it is undecided."""
        best = f"{self.best.label}, {figure(self.best, fmt)}"
        if self.status == ONLY:
            return f"{best} (the only option measured)"
        if self.status == BETTER:
            c = self.comparisons[0]
            return f"{best}; runner-up {c.b.label}, {figure(c.b, fmt)}, {c.gap_text(worse)}"
        if self.status == SAME:
            shown = self.ties[:3]
            more = f" and {len(self.ties) - len(shown)} more" if len(self.ties) > len(shown) else ""
            return (f"no measurable difference between {best}, and "
                    + "; ".join(f"{c.b.label}, {figure(c.b, fmt)}" for c in shown)
                    + f"{more} ({shown[0].interval_text()})")
        c = self.undecided
        return (f"{self.best.label} measured {'highest' if self.higher else 'lowest'}, "
                f"{figure(self.best, fmt)}, against {c.b.label}, {figure(c.b, fmt)}: "
                f"{c.inconclusive_text()}")
