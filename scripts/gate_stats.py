"""Statistics for the regression gate (compare.py, ab.py): one verdict per comparison.

Not a command; imported by compare.py. Every function is pure and deterministic (the
bootstrap uses a fixed seed), so the same two files always give the same verdicts.

Why these tests:

* Paired (rounds from ab.py): the unit of replication is the round, because a run's
  repetitions share that run's machine state (frequency, neighbours, page placement)
  and so cannot tell a slower build from a slower minute. Each round gives one log
  ratio of medians; the test is a one-sample t-test on those log ratios. A rank test
  (Wilcoxon signed-rank) cannot reach significance with few rounds once the p-values
  are corrected for many benchmarks (its smallest two-sided p with 6 rounds is 0.031);
  an outlier round widens the t interval, which errs towards "inconclusive".
* Unpaired (two ordinary results files with repetitions): Mann-Whitney U on the
  repetitions and a bootstrap interval of the ratio of medians.
* Single values (or too few repetitions): no test is honest; only a difference
  beyond a wide noise band is called, and the verdict says so.

p-values of all comparisons in one report are adjusted with Benjamini-Hochberg.
"""

import math

import numpy as np
from scipy import stats

REGRESSED = "regressed"
IMPROVED = "improved"
UNCHANGED = "unchanged"
INCONCLUSIVE = "inconclusive"
VERDICTS = (REGRESSED, IMPROVED, INCONCLUSIVE, UNCHANGED)

MIN_REPETITIONS = 3      # per side, for the unpaired test
MIN_ROUNDS = 3           # for the paired test (t with 2 degrees of freedom at least)
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 20240601


class Estimate:
    """The effect of one comparison before the multiple-comparison step.

    ratio: new / base of the typical value (>1: the metric went up).
    ci: (low, high) of that ratio at the report's confidence level, or None.
    p: two-sided p-value of "no change", or None when no test was possible.
    method: "paired-t", "mann-whitney", "single" (too few values per side for a test),
            or "few-rounds" (paired, too few rounds for a test).
    n_base, n_new: repetitions (unpaired) or rounds (paired) used.
    note: why no test was possible, when so.
    """

    def __init__(self, ratio, ci, p, method, n_base, n_new, note=""):
        self.ratio = ratio
        self.ci = ci
        self.p = p
        self.method = method
        self.n_base = n_base
        self.n_new = n_new
        self.note = note


def _positive(values):
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    return arr[np.isfinite(arr)]


def estimate_unpaired(base, new, confidence):
    """Mann-Whitney U and a bootstrap interval of median(new)/median(base)."""
    x, y = _positive(base), _positive(new)
    if len(x) == 0 or len(y) == 0:
        return None
    if np.any(x <= 0) or np.any(y <= 0):
        return Estimate(None, None, None, "single", len(x), len(y),
                        "values are not all positive; no ratio")
    ratio = float(np.median(y) / np.median(x))
    if len(x) < MIN_REPETITIONS or len(y) < MIN_REPETITIONS:
        return Estimate(ratio, None, None, "single", len(x), len(y),
                        "%d vs %d values; a test needs %d repetitions per side"
                        % (len(x), len(y), MIN_REPETITIONS))
    if np.all(x == x[0]) and np.array_equal(np.sort(x), np.sort(y)):
        p = 1.0
    else:
        p = float(stats.mannwhitneyu(x, y, alternative="two-sided").pvalue)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    bx = np.median(rng.choice(x, size=(BOOTSTRAP_SAMPLES, len(x))), axis=1)
    by = np.median(rng.choice(y, size=(BOOTSTRAP_SAMPLES, len(y))), axis=1)
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(by / bx, [tail, 1.0 - tail])
    return Estimate(ratio, (float(lo), float(hi)), p, "mann-whitney", len(x), len(y))


def estimate_paired(base_rounds, new_rounds, confidence):
    """t-test on per-round log(median(new)/median(base)).

    base_rounds, new_rounds: {round: [values]}; only rounds present on both sides
    with positive values count.
    """
    logs = []
    for r in sorted(set(base_rounds) & set(new_rounds)):
        x, y = _positive(base_rounds[r]), _positive(new_rounds[r])
        if len(x) == 0 or len(y) == 0 or np.any(x <= 0) or np.any(y <= 0):
            continue
        logs.append(math.log(float(np.median(y)) / float(np.median(x))))
    n = len(logs)
    if n == 0:
        return None
    d = np.asarray(logs)
    centre = float(np.mean(d))
    ratio = math.exp(centre)
    if n < MIN_ROUNDS:
        return Estimate(ratio, None, None, "few-rounds", n, n,
                        "%d paired round%s; a test needs %d"
                        % (n, "" if n == 1 else "s", MIN_ROUNDS))
    spread = float(np.std(d, ddof=1))
    if spread == 0.0:
        # Every round gave the same ratio (identical inputs, typically).
        p = 1.0 if centre == 0.0 else 0.0
        return Estimate(ratio, (ratio, ratio), p, "paired-t", n, n)
    half = float(stats.t.ppf(0.5 + confidence / 2.0, n - 1)) * spread / math.sqrt(n)
    tstat = centre / (spread / math.sqrt(n))
    p = float(2.0 * stats.t.sf(abs(tstat), n - 1))
    return Estimate(ratio, (math.exp(centre - half), math.exp(centre + half)), p,
                    "paired-t", n, n)


def benjamini_hochberg(pvalues):
    """q-values for a list of p-values (None stays None)."""
    idx = [i for i, p in enumerate(pvalues) if p is not None]
    q = [None] * len(pvalues)
    m = len(idx)
    if m == 0:
        return q
    order = sorted(idx, key=lambda i: pvalues[i])
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, pvalues[i] * m / rank)
        q[i] = running
    return q


def classify(est, q, threshold, alpha, higher_is_better, single_band):
    """(verdict, reason) for one comparison.

    threshold, single_band: fractions (0.05 = 5%) of change of the metric.
    A regression must be both significant after correction (q < alpha) and at least
    `threshold` in size; "unchanged" needs the whole interval inside +-threshold, or a
    significant change smaller than the threshold whose interval stays below it.
    """
    change = est.ratio - 1.0
    worse = -change if higher_is_better else change   # > 0: the code got worse
    if est.method == "few-rounds":
        # Never the single-value band here: on a busy VM one round's ratio of p99s or
        # pool overheads passes 1.5 between identical builds (7 of 334 did in a 2-round
        # A/A dry run), and leaving rounds out must never make a verdict easier to reach.
        return INCONCLUSIVE, "too few rounds: %s; run scripts/ab.py with more --rounds" % est.note
    if est.method == "single":
        if abs(change) >= single_band:
            verdict = REGRESSED if worse > 0 else IMPROVED
            return verdict, ("no test (%s); the change is beyond the +-%.0f%% noise band "
                             "for single values" % (est.note, single_band * 100))
        return INCONCLUSIVE, ("too few repetitions: %s; within the +-%.0f%% noise band "
                              "for single values" % (est.note, single_band * 100))
    lo, hi = est.ci[0] - 1.0, est.ci[1] - 1.0
    significant = q is not None and q < alpha
    if significant and abs(change) >= threshold:
        return (REGRESSED if worse > 0 else IMPROVED), "significant (%s) and beyond the threshold" % q_text(q)
    if -threshold < lo and hi < threshold:
        if significant:
            return UNCHANGED, "a real but small change, interval inside +-threshold"
        return UNCHANGED, "interval inside +-threshold"
    if significant:
        return INCONCLUSIVE, ("significant (%s) but smaller than the threshold, and the "
                              "interval reaches beyond it" % q_text(q))
    if abs(change) >= threshold:
        return INCONCLUSIVE, ("too noisy: %+.1f%% but not significant after "
                              "multiple-comparison control (%s)" % (change * 100, q_text(q)))
    return INCONCLUSIVE, "too noisy: the interval reaches beyond +-threshold"


def fmt_p(p):
    if p is None:
        return "-"
    if p < 0.001:
        return "<0.001"
    return "%.3f" % p


def q_text(q):
    text = fmt_p(q)
    return "q" + text if text.startswith("<") else "q=" + text
