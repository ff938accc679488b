"""Change points for the history page (scripts/ipcmeter/history.py).

Change points (written for ipcmeter; the idea follows asv's step detection, asv/step_detect.py,
which fits a piecewise-constant curve under an L1 penalty and then merges steps smaller than
the noise). Here, on each series of per-revision medians y[0..n):
  1. Binary segmentation: within a segment, the candidate is the single split k whose sides'
     means differ most, standardised (|S_k - k*mean| / sqrt(k(n-k)/n), so no split is favoured
     under no change); when that is not a step (see 2), the interval [i, j) whose mean differs
     most from the rest's, likewise standardised (circular binary segmentation, Olshen et al.
     2004): a step and its return, e.g. a regression later fixed, which no single split sees.
     At least MIN_SEGMENT revisions on each side of every boundary. Each p-value is a
     permutation test of the maximum: the revisions' values are shuffled PERMUTATIONS times
     and the maximum over every split (or interval) recomputed, so choosing the best one is
     paid for, and no distribution is assumed. Single splits are tried first because their
     maximum runs over fewer candidates, which lets a step near the newest revision reach a
     small p. Revisions, not repetitions, are the units shuffled: repetitions of one run share
     that run's machine state, and counting them as independent would overstate the evidence
     (as compare.py warns). The price: a step needs MIN_SEGMENT revisions on each side and
     enough revisions overall (with 12, a step two revisions from the end reaches p ~ 0.03;
     with 8, one 3 to 5 revisions from the start; with 7 or fewer, nothing reaches 0.05).
     A rank statistic (Pettitt's) was tried first: it cannot tell a large step near the end
     from chance, because ranks drop the size; outliers are instead handled by step 2, which
     judges medians. Two tests per segment (split, then interval) and one per sub-segment
     raise the chance of a false step above alpha; step 2 is what keeps noise out: 1 step in
     600 simulated series of pure 3% noise (12, 20 and 40 revisions).
  2. A split is a step when p <= alpha AND the change of level (median of the segment after
     over the one before) is at least --min-step percent AND at least --noise-multiple times
     the revision noise sigma: a step the eye could not tell from the scatter of the points is
     not reported, however many revisions make it significant.
  3. Pruning, like asv's merge of pieces: each step is re-tested between its neighbouring
     steps (its own split, against the permutation maximum over the single splits of that
     window); the weakest one that fails is merged away and the rest re-tested, until every
     step passes.
  Confidence = 1 - p of the final test. Sizes are percent changes of level (medians of the
  segments on either side). Revision noise sigma: the larger of (a) the scatter of successive
  revision medians, 1.4826 * median |y[i+1] - y[i]| / sqrt(2) (a step moves one difference,
  which the median ignores), and (b) the repetitions' own scatter, 1.4826 * MAD within a
  revision, median over revisions, as the error of a median of r values (x 1.2533 / sqrt(r)).
  Series whose values are all positive are judged in log space (a step is a ratio); others
  (pool's overhead can be 0) in linear space, with sizes relative to the level before.
"""

from __future__ import annotations

import math

import numpy as np

ALPHA = 0.05
# A step smaller than the gate's default threshold (compare.py --threshold 5) would not fail a
# pull request either.
MIN_STEP_PCT = 5.0
# Three revision sigmas: a step the plot shows above the scatter of its own points.
NOISE_MULTIPLE = 3.0
MIN_SEGMENT = 2
PERMUTATIONS = 2000
# Fixed, so that the same files always give the same page.
SEED = 20261201

MAD_TO_SIGMA = 1.4826
MEDIAN_EFFICIENCY = 1.2533   # sd of a median of r normal values = 1.2533 * sigma / sqrt(r)


def _pairs(n: int, m: int):
    """The intervals [i, j) circular binary segmentation weighs: at least m revisions inside and
    outside, and each boundary inside the series leaves at least m revisions beyond it."""
    i, j = np.triu_indices(n + 1, k=1)
    inside = j - i
    keep = (inside >= m) & (n - inside >= m) & ((i == 0) | (i >= m)) & ((j == n) | (n - j >= m))
    return i[keep], j[keep]


def _interval_stat(y: np.ndarray, pairs):
    """For each row of y (B x n): |standardised difference of means| between y[i:j] and the
    rest, for every pair; a single split k is the interval [0, k) (or [k, n)). Returns the
    largest value per row and the index of its pair."""
    i, j = pairs
    n = y.shape[1]
    sums = np.zeros((y.shape[0], n + 1))
    np.cumsum(y - y.mean(axis=1, keepdims=True), axis=1, out=sums[:, 1:])
    inside = j - i
    z = np.abs(sums[:, j] - sums[:, i]) / np.sqrt(inside * (n - inside) / n)
    best = z.argmax(axis=1)
    return z[np.arange(len(z)), best], best


# Shuffles are scored in chunks, so that long series stay within a few MB and a settled
# outcome (below) stops early.
CHUNK_CELLS = 2_000_000
CHUNK_ROWS = 250
# Shuffling stops as soon as the outcome is settled: once alpha * (PERMUTATIONS + 1) shuffles
# have beaten the observed statistic, p > alpha whatever the rest would give. A series without
# a step (most of them) is settled after a few hundred shuffles instead of PERMUTATIONS, which
# is what makes circular binary segmentation affordable on hundreds of revisions; a p <= alpha
# is always the exact count over every shuffle, so the verdicts and confidences are those of
# the full test. (Stopping after a fixed number of exceedances, Besag and Clifford's rule, was
# tried: its p scatters around alpha by a fifth and flipped verdicts near it.)


def _perm_p(y, rng, score, observed, alpha):
    """Permutation p-value of `observed` against score() of shuffles of y; above alpha, an
    estimate from the shuffles made before the outcome was settled."""
    rows = max(1, min(CHUNK_ROWS, CHUNK_CELLS // max(1, score.cells)))
    settled = alpha * (PERMUTATIONS + 1)
    done = beaten = 0
    while done < PERMUTATIONS:
        take = min(rows, PERMUTATIONS - done)
        null = score(rng.permuted(np.tile(y, (take, 1)), axis=1))
        beaten += int(np.count_nonzero(null >= observed * (1 - 1e-12)))
        done += take
        if beaten >= settled and done < PERMUTATIONS:
            return beaten / done
    # The observed arrangement is one of the permutations: p is never 0.
    return (1 + beaten) / (PERMUTATIONS + 1)


def best_interval(y, rng, alpha=ALPHA):
    """(i, j, p): the interval [i, j) of y whose mean differs most from the rest's (circular
    binary segmentation; i = 0 or j = n is a single step), and the permutation p-value of
    that maximum (the share of shuffles whose best interval is at least as extreme)."""
    y = np.asarray(y, dtype=float)
    pairs = _pairs(len(y), MIN_SEGMENT)

    def score(rows):
        return _interval_stat(rows, pairs)[0]
    score.cells = len(pairs[0])
    observed, best = _interval_stat(y[None, :], pairs)
    i, j = int(pairs[0][best[0]]), int(pairs[1][best[0]])
    return i, j, _perm_p(y, rng, score, observed[0], alpha)


def _splits(n):
    """The single splits k = MIN_SEGMENT..n-MIN_SEGMENT, as intervals [0, k)."""
    ends = np.arange(MIN_SEGMENT, n - MIN_SEGMENT + 1)
    return np.zeros(len(ends), dtype=int), ends


def _split_score(n):
    splits = _splits(n)

    def score(rows):
        return _interval_stat(rows, splits)[0]
    score.cells = len(splits[0])
    return score


def best_split(y, rng, alpha=ALPHA):
    """(k, p): the single split of y whose sides' means differ most (standardised), and the
    permutation p-value of that maximum over every split."""
    y = np.asarray(y, dtype=float)
    splits = _splits(len(y))
    observed, best = _interval_stat(y[None, :], splits)
    return int(splits[1][best[0]]), _perm_p(y, rng, _split_score(len(y)), observed[0], alpha)


def split_p(y, k, rng, alpha=ALPHA):
    """p-value of the split k of y against the permutation maximum over every split."""
    y = np.asarray(y, dtype=float)
    n = len(y)
    if k < MIN_SEGMENT or n - k < MIN_SEGMENT:
        return 1.0
    observed, _ = _interval_stat(y[None, :], (np.array([0]), np.array([k])))
    return _perm_p(y, rng, _split_score(n), observed[0], alpha)


def revision_sigma(y, points, scale) -> float:
    """The noise of one revision's median (see the module's docstring)."""
    sigma = 0.0
    if len(y) >= 3:
        sigma = MAD_TO_SIGMA * float(np.median(np.abs(np.diff(y)))) / math.sqrt(2.0)
    within = []
    for p in points:
        if len(p.values) >= 2:
            v = to_scale(np.asarray(p.values, dtype=float), scale)
            mad = float(np.median(np.abs(v - np.median(v))))
            within.append(MAD_TO_SIGMA * mad * MEDIAN_EFFICIENCY / math.sqrt(len(v)))
    if within:
        sigma = max(sigma, float(np.median(within)))
    return sigma


def to_scale(v, scale):
    return np.log(v) if scale == "log" else v


def level_change(before, after, scale):
    """(change in the scale's units, percent change or None)."""
    if scale == "log":
        diff = after - before
        return diff, math.expm1(diff) * 100.0
    diff = after - before
    return diff, (diff / abs(before) * 100.0 if before else None)


class Detector:
    def __init__(self, alpha=ALPHA, min_step_pct=MIN_STEP_PCT, noise_multiple=NOISE_MULTIPLE):
        self.alpha, self.min_step_pct, self.noise_multiple = alpha, min_step_pct, noise_multiple

    def big_enough(self, inner, outer, sigma, scale):
        """Whether the level of `inner` differs from that of `outer` by a reportable step."""
        diff, pct = level_change(float(np.median(outer)), float(np.median(inner)), scale)
        if abs(diff) < self.noise_multiple * sigma:
            return False
        return pct is None or abs(pct) >= self.min_step_pct

    def detect(self, y, sigma, scale):
        """[(split index, p)], the final change points of y."""
        rng = np.random.default_rng(SEED)
        n = len(y)
        found, todo = set(), [(0, n)]
        while todo:
            a, b = todo.pop()
            if b - a < 2 * MIN_SEGMENT:
                continue
            cuts = self._search(y[a:b], sigma, scale, rng)
            if not cuts:
                continue
            cuts = [a + x for x in cuts]
            found.update(cuts)
            edges = [a] + cuts + [b]
            todo += list(zip(edges, edges[1:]))
        return self._prune(y, sorted(found), sigma, scale, rng)

    def _search(self, y, sigma, scale, rng):
        """The boundaries of the segment's best reportable change: a single step first (its
        test, over fewer candidates, can confirm a step near an end), else an interval."""
        k, p = best_split(y, rng, self.alpha)
        if p <= self.alpha and self.big_enough(y[k:], y[:k], sigma, scale):
            return [k]
        i, j, p = best_interval(y, rng, self.alpha)
        inner, outer = y[i:j], np.concatenate([y[:i], y[j:]])
        if p <= self.alpha and self.big_enough(inner, outer, sigma, scale):
            return [x for x in (i, j) if 0 < x < len(y)]
        return []

    def _prune(self, y, cps, sigma, scale, rng):
        while True:
            tested = []
            for i, k in enumerate(cps):
                a = cps[i - 1] if i else 0
                b = cps[i + 1] if i + 1 < len(cps) else len(y)
                p = split_p(y[a:b], k - a, rng, self.alpha)
                ok = p <= self.alpha and self.big_enough(y[k:b], y[a:k], sigma, scale)
                tested.append((ok, p, k))
            failing = [t for t in tested if not t[0]]
            if not failing:
                return [(k, p) for _, p, k in tested]
            cps.remove(max(failing, key=lambda t: t[1])[2])


def from_scale(v, scale):
    return math.exp(v) if scale == "log" else v


