"""Statistics for the regression gate (compare.py, ab.py): one verdict per comparison.

Used by gate.py (compare.py) and rules.py (the report). Every function is pure and
deterministic (the bootstrap uses a fixed seed), so the same two files always give the
same verdicts.

Why these tests:

* Paired (rounds from ab.py): the unit of replication is the round, because a run's
  repetitions share that run's machine state (frequency, neighbours, page placement)
  and so cannot tell a slower build from a slower minute. Each round gives one log
  ratio of medians; the test is Yuen's trimmed one-sample t-test on those log ratios
  (TRIM of the rounds cut from each end: none below 10 rounds, 2 of 20). A rank test
  (Wilcoxon signed-rank) cannot reach significance with few rounds once the p-values
  are corrected for many benchmarks (its smallest two-sided p with 6 rounds is 0.031).
  A plain t interval lets one round spread over the whole row: in the CI job's first
  A/A trial one round of pipe fork 64 B met a 3x round trip on one side, and that row's
  spread was 30.7% untrimmed, 1.05% trimmed. Trimming keeps such a round from deciding
  the interval while the test still errs towards "inconclusive" when many rounds
  scatter. When a row's runs sit in one of two modes for the whole run, about 1 round
  in 4 pairs different modes, more than TRIM cuts, so the test also runs at HEAVY_TRIM
  (a quarter from each end). From RANK_MIN_ROUNDS rounds on, a third test sets the
  pairs aside: the rounds' two sides taken as two samples, Mann-Whitney's p and the
  Hodges-Lehmann shift with its Moses interval. A run's mode is drawn afresh for every
  run of either build alike (it came with the memory a run is handed, where probed), so
  the two sides' runs are exchangeable between identical builds whatever the modes'
  odds, and the median of all pairwise differences lies among the same-mode pairs, which
  a round may pair only half the time (docs/ci-gate.md, "The rank-shift test"). The tests are
  Bonferroni-combined: p is k times the smallest p, each interval is at 1/k of the error
  rate, and the narrowest is shown.
* Unpaired (two ordinary results files with repetitions): Mann-Whitney U on the
  repetitions (exact p-values while there are no ties) and a bootstrap interval of the
  ratio of medians.
* Single values (or too few repetitions): no test is honest; only a difference
  beyond a wide noise band is called, and the verdict says so.

p-values of all comparisons in one report are adjusted with Benjamini-Hochberg.

More data never gives a weaker verdict. A rank test has a smallest possible p-value
(2 / C(n1+n2, n1): 0.1 with 3 against 3), so below some number of repetitions it can
never pass the corrected level, and an unpaired row with 3 repetitions could once miss a
doubling that 1 or 2 repetitions (judged by the noise band) caught. The band therefore
applies to the medians at every number of repetitions: a test can only add verdicts the
band would not reach. Paired rounds are not given the band (see classify()); with fewer
than MIN_ROUNDS they are always inconclusive, so adding rounds cannot weaken them either.

Power: resolution() gives each comparison the smallest change its own data could have
called significant if it were the only change in the report (level alpha / m, the first
step of Benjamini-Hochberg over m tests): paired, the narrowest of the tests, each at
level / k: a trim's from the t distribution with the observed spread of the per-round
log ratios, the rank-shift test's from its Moses interval at that level; unpaired, from
the bootstrap spread of the
log ratio of medians (normal approximation), or the band when the rank test cannot
reach that level at these repetitions; single values, the band. needed() says how many
rounds or repetitions per side would bring that resolution down to the threshold at
the observed spread.
"""

import math

import numpy as np
from scipy import stats

REGRESSED = "regressed"
IMPROVED = "improved"
UNCHANGED = "unchanged"
INCONCLUSIVE = "inconclusive"
VERDICTS = (REGRESSED, IMPROVED, INCONCLUSIVE, UNCHANGED)

# Test names, as Estimate.method.
PAIRED_T = "paired-t"
MANN_WHITNEY = "mann-whitney"
SINGLE = "single"
FEW_ROUNDS = "few-rounds"

MIN_REPETITIONS = 3      # per side, for the unpaired test
MIN_ROUNDS = 3           # for the paired test (t with 2 degrees of freedom at least)
# Shares of the rounds the paired test cuts from each end of the sorted log ratios (Yuen's
# trimmed t), int(share * n) each side. TRIM: none below 10 rounds, 2 of the CI job's 20.
# One round in which one build's run met a hiccup (a 3x pipe round trip) spreads a plain t
# interval over the whole row; 0.1 rather than the textbook 0.2 keeps the power of rows
# whose rounds agree (at 20 rounds the corrected t quantile over sqrt(n) is 1.15, df 15).
# HEAVY_TRIM (the midmean: a quarter from each end, 5 of 20): some rows have run-wide
# modes; shm_ring fork spin 64 B sat at ~470 ns or ~640 ns for a whole run, and about
# 1 round in 4 paired a run of each mode, more than 2 of 20 cut from each end. The
# paired test runs both trims and Bonferroni-combines them (estimate_paired): each at
# half the error rate, so the pair keeps the nominal rate whichever one decides.
TRIM = 0.1
HEAVY_TRIM = 0.25
# The paired comparison's third test (Estimate.spreads key, Estimate.paired_test): the
# rounds' two sides as two samples, Hodges-Lehmann shift, Moses interval, Mann-Whitney p.
# From RANK_MIN_ROUNDS rounds, so in the CI job for the focus rows (120-150 rounds kept of
# 160), not the rows judged on the 20 main rounds. Few rounds can come out quieter than the
# row is, which is why the trims' spreads are floored from learned bands; the rank test has
# no spread to floor, and from 12 rounds on (where its interval first exists at the CI
# job's lone level, 0.05/429/3) it decided only 0-1 more rows per A/A trial than the trims
# in six trials of two runners, and the same sensitivity trials (docs/ci-gate.md, "The
# rank-shift test"): too little to give up that guard for.
RANK_SHIFT = "rank-shift"
TRIMMED_T = "trimmed-t"
RANK_MIN_ROUNDS = 30
# A spread of log ratios below this (one part in 10^9) is rounding error of equal ratios.
MIN_SPREAD = 1e-9
# With a spread learned from A/A trials, a test's own spread is believed down to this
# quantile of what its rounds would show at the learned one (sample variance ~ chi-square
# with the test's degrees of freedom): 0.70 of it at the CI job's 20 rounds, 0.56 at 8.
# Lower is implausible for the row, rounds quiet by luck, and is raised to it. A floor at
# the learned spread itself was tried first: it cost a trial whose hour really was quieter
# than the A/A trials' average a detected 10% slowdown (docs/ci-gate.md).
FLOOR_QUANTILE = 0.05
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 20240601
# scipy's exact Mann-Whitney distribution is cheap up to here; beyond it the normal
# approximation is close. (scipy 1.10's default switches to the approximation above 8
# values per side, whose smallest p with 10 against 10 is 17 times the exact one.)
EXACT_RANK_TEST_MAX = 30
# needed() stops counting here: a row that needs more is called out as such.
MAX_SUGGESTED = 1000


class Estimate:
    """The effect of one comparison before the multiple-comparison step.

    ratio: new / base of the typical value (>1: the metric went up).
    ci: (low, high) of that ratio at the report's confidence level, or None.
    p: two-sided p-value of "no change", or None when no test was possible.
    method: PAIRED_T, MANN_WHITNEY, SINGLE (too few values per side for a test), or
            FEW_ROUNDS (paired, too few rounds for a test).
    n_base, n_new: repetitions (unpaired) or rounds (paired) used.
    note: why no test was possible, when so.
    log_sd: the spread, in natural-log units: paired, the per-round spread the TRIM
            test's standard error implies (SE x sqrt(n);
            below 10 rounds the plain standard deviation of the log ratios); unpaired,
            the standard deviation of the bootstrap log ratios of medians; None when
            unknown.
    trim: paired, the share cut from each end by the test whose interval is reported.
    spreads: paired, [(trim, log_sd)] of every trimmed test the Bonferroni family ran (by
            default, and for too few rounds, the TRIM test's alone), each raised to its
            floor when estimate_paired was given learned spreads: the spreads the tests
            used; then (RANK_SHIFT, RankShift) when the rank-shift test ran.
    own_spreads: paired, {trim: log_sd} of the rounds themselves, before any floor, for
            every trim whose spread is known (gate_trials.py noise learns from these).
            The rank-shift test has none: it estimates no spread.
    paired_test: paired, the test whose interval is reported: TRIMMED_T (at `trim`) or
            RANK_SHIFT (trim None). The rank-shift test's entry in spreads is its
            RankShift, whose half_width() resolution() and needed() ask.
    """

    def __init__(self, ratio, ci, p, method, n_base, n_new, note="", log_sd=None,
                 trim=None, spreads=None, own_spreads=None, paired_test=None):
        self.ratio = ratio
        self.ci = ci
        self.p = p
        self.method = method
        self.n_base = n_base
        self.n_new = n_new
        self.note = note
        self.log_sd = log_sd
        self.trim = trim
        self.spreads = spreads or ([(trim or TRIM, log_sd)]
                                   if method in (PAIRED_T, FEW_ROUNDS) else [])
        self.own_spreads = own_spreads or {}
        self.paired_test = paired_test or (TRIMMED_T if method in (PAIRED_T, FEW_ROUNDS)
                                           else None)


def _positive(values):
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    return arr[np.isfinite(arr)]


def estimate_unpaired(base, new, confidence):
    """Mann-Whitney U and a bootstrap interval of median(new)/median(base)."""
    x, y = _positive(base), _positive(new)
    if len(x) == 0 or len(y) == 0:
        return None
    if np.any(x <= 0) or np.any(y <= 0):
        return Estimate(None, None, None, SINGLE, len(x), len(y),
                        "values are not all positive; no ratio")
    ratio = float(np.median(y) / np.median(x))
    if len(x) < MIN_REPETITIONS or len(y) < MIN_REPETITIONS:
        return Estimate(ratio, None, None, SINGLE, len(x), len(y),
                        "%d vs %d values; a test needs %d repetitions per side"
                        % (len(x), len(y), MIN_REPETITIONS))
    if np.all(x == x[0]) and np.array_equal(np.sort(x), np.sort(y)):
        p = 1.0
    else:
        ties = len(np.unique(np.concatenate([x, y]))) < len(x) + len(y)
        exact = not ties and max(len(x), len(y)) <= EXACT_RANK_TEST_MAX
        p = float(stats.mannwhitneyu(x, y, alternative="two-sided",
                                     method="exact" if exact else "asymptotic").pvalue)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    bx = np.median(rng.choice(x, size=(BOOTSTRAP_SAMPLES, len(x))), axis=1)
    by = np.median(rng.choice(y, size=(BOOTSTRAP_SAMPLES, len(y))), axis=1)
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(by / bx, [tail, 1.0 - tail])
    return Estimate(ratio, (float(lo), float(hi)), p, MANN_WHITNEY, len(x), len(y),
                    log_sd=float(np.std(np.log(by / bx), ddof=1)))


def trimmed_count(n, trim=TRIM):
    """Rounds cut from each end of n sorted log ratios by the test trimming `trim`."""
    return int(trim * n)


def paired_df(n, trim=TRIM):
    """Degrees of freedom of the paired test trimming `trim` with n rounds (n - 1 untrimmed)."""
    return n - 2 * trimmed_count(n, trim) - 1


def paired_trims(n):
    """The trims the paired test runs with n rounds: TRIM and HEAVY_TRIM, or one of them
    when both cut the same number of rounds (no second test, so no Bonferroni factor)."""
    if trimmed_count(n, HEAVY_TRIM) == trimmed_count(n, TRIM):
        return (TRIM,)
    return (TRIM, HEAVY_TRIM)


def paired_tests(n):
    """The tests the paired comparison runs with n rounds: the trims of paired_trims(n),
    then RANK_SHIFT from RANK_MIN_ROUNDS rounds on. Their number is the Bonferroni k."""
    return paired_trims(n) + ((RANK_SHIFT,) if n >= RANK_MIN_ROUNDS else ())


class RankShift:
    """The shift from sample x to sample y (log values of the rounds' base and new sides)
    with Mann-Whitney's ranks: the Hodges-Lehmann estimate (the median of all m x n
    differences y_j - x_i), the Moses interval and Mann-Whitney's two-sided p."""

    def __init__(self, x, y):
        self.m, self.n = len(x), len(y)
        self.diffs = np.sort(np.subtract.outer(y, x).ravel())
        self.centre = float(np.median(self.diffs))
        if np.ptp(np.concatenate([x, y])) == 0.0:
            self.p = 1.0                    # every value equal: no rank information at all
        else:
            self.p = float(stats.mannwhitneyu(y, x, alternative="two-sided",
                                              method="asymptotic").pvalue)

    def interval(self, level):
        """(low, high) at two-sided `level`: the (k+1)-th smallest and largest difference, k
        from the normal approximation of Mann-Whitney's U without the tie correction (which
        only widens it); None when k < 0, too few rounds for that level."""
        m, n = self.m, self.n
        z = float(stats.norm.ppf(1.0 - level / 2.0))
        k = int(math.floor(m * n / 2.0 - z * math.sqrt(m * n * (m + n + 1) / 12.0)))
        if k < 0:
            return None
        return float(self.diffs[k]), float(self.diffs[m * n - 1 - k])

    def half_width(self, rounds, level):
        """Half the interval at `level`, taken from these rounds' own differences (a mode
        mixture's tails are not normal) and scaled by sqrt(rounds now / rounds) for another
        number of rounds; None when the interval does not exist at that level."""
        got = self.interval(level)
        if got is None:
            return None
        return (got[1] - got[0]) / 2.0 * math.sqrt(self.n / rounds)


def _yuen(d, trim):
    """(centre, spread) of sorted log ratios d: the trimmed mean and the per-round spread
    its standard error implies (SE = spread / sqrt(n), from the winsorized variance)."""
    n = len(d)
    g = trimmed_count(n, trim)
    kept = n - 2 * g
    centre = float(np.mean(d[g:n - g]))
    if n < 2 or kept < 2:
        return centre, None
    winsorized = np.clip(d, d[g], d[n - g - 1])
    return centre, float(np.std(winsorized, ddof=1)) * math.sqrt(n * (n - 1) / (kept * (kept - 1)))


def estimate_paired(base_rounds, new_rounds, confidence, floors=None):
    """Yuen's trimmed t-test on per-round log(median(new)/median(base)), at two trims.

    base_rounds, new_rounds: {round: [values]}; only rounds present on both sides
    with positive values count. Each test takes the trimmed mean of the log ratios and its
    standard error from their winsorized variance. With k = len(paired_trims(n)) tests,
    p is k x the smaller p (Bonferroni) and each interval is taken at 1/k of the
    confidence's error rate; both then cover at once at the confidence asked, so the
    narrower one is reported (ratio, ci, trim). A test's spread is the one its standard
    error implies (SE = spread / sqrt(n); with nothing trimmed, the plain standard
    deviation), so t_half_width(spread, n, level, trim) is its half-width; est.spreads
    keeps every test's (trim, spread) for resolution() and needed(). est.log_sd is the
    TRIM test's, whichever is reported: gate_trials.py noise pools it into the bands
    inside which a row is unchanged, and two A/A sets judged leave-one-out left fewer
    rows undecided with it than with the narrower one's (docs/ci-gate.md).

    floors: {trim: spread} learned from A/A trials of the row (gate_noise.row_floors), or
    None. Each test then uses no less than the FLOOR_QUANTILE quantile of the spread its
    rounds would show at its trim's learned spread (a trim without one: the largest), so
    rounds that came out implausibly quiet for the row cannot make a change significant;
    the gate then flags from the threshold alone (gate_noise.row_limits). The spreads of
    the rounds themselves stay in est.log_sd and est.own_spreads.
    """
    logs, sides = [], []
    for r in sorted(set(base_rounds) & set(new_rounds)):
        x, y = _positive(base_rounds[r]), _positive(new_rounds[r])
        if len(x) == 0 or len(y) == 0 or np.any(x <= 0) or np.any(y <= 0):
            continue
        mx, my = float(np.median(x)), float(np.median(y))
        logs.append(math.log(my / mx))
        sides.append((math.log(mx), math.log(my)))
    n = len(logs)
    if n == 0:
        return None
    d = np.sort(np.asarray(logs))
    if n < MIN_ROUNDS:
        centre, spread = _yuen(d, TRIM)
        return Estimate(math.exp(centre), None, None, FEW_ROUNDS, n, n,
                        "%d paired round%s; a test needs %d"
                        % (n, "" if n == 1 else "s", MIN_ROUNDS), log_sd=spread)
    trims = paired_trims(n)
    tests = [(trim,) + _yuen(d, trim) for trim in trims]
    own = {trim: sd for trim, _, sd in tests if sd is not None}

    def floor_of(trim):
        if not floors:
            return 0.0
        df = paired_df(n, trim)
        return floors.get(trim, max(floors.values())) * math.sqrt(
            float(stats.chi2.ppf(FLOOR_QUANTILE, df)) / df)

    if tests[0][2] <= MIN_SPREAD and floor_of(TRIM) <= MIN_SPREAD:
        # Every round the light trim keeps gave the same ratio (identical inputs, typically).
        ratio = math.exp(tests[0][1])
        return Estimate(ratio, (ratio, ratio), 1.0 if abs(tests[0][1]) <= MIN_SPREAD else 0.0,
                        PAIRED_T, n, n, log_sd=0.0, trim=TRIM, spreads=[(TRIM, 0.0)],
                        own_spreads=own)
    run = paired_tests(n)
    k = len(run)
    level = (1.0 - confidence) / k
    # The heavy trim's middle half can be all one ratio while the rest differ (round trips
    # quantised to the timer's 10 ns): a zero-width interval there is no evidence, so that
    # test is dropped (below MIN_SPREAD, which only rounding error reaches; the light trim's
    # only when no floor stands in for it); k stays len(paired_tests(n)), which only makes
    # the others more cautious. The rank-shift test is never floored: its interval comes
    # from the ranks alone, not from a spread the rounds could understate.
    usable = [(trim, centre, max(spread, floor_of(trim))) for trim, centre, spread in tests
              if spread is not None and (spread > MIN_SPREAD
                                         or (trim == TRIM and floor_of(trim) > MIN_SPREAD))]
    ps = [float(2.0 * stats.t.sf(abs(centre) / (spread / math.sqrt(n)), paired_df(n, trim)))
          for trim, centre, spread in usable]
    # (half-width, test, trim, centre, low, high) of every test with an interval
    shown = []
    for trim, centre, spread in usable:
        half = t_half_width(spread, n, level, trim)
        shown.append((half, TRIMMED_T, trim, centre, centre - half, centre + half))
    spreads = [(t, sd) for t, _, sd in usable]
    if RANK_SHIFT in run:
        rank = RankShift(*np.asarray(sides).T)
        got = rank.interval(level)
        if got is not None:
            ps.append(rank.p)
            shown.append(((got[1] - got[0]) / 2.0, RANK_SHIFT, None, rank.centre) + got)
            spreads.append((RANK_SHIFT, rank))
    p = min(1.0, k * min(ps))
    _, test, trim, centre, low, high = min(shown, key=lambda t: t[0])
    return Estimate(math.exp(centre), (math.exp(low), math.exp(high)), p,
                    PAIRED_T, n, n, log_sd=tests[0][2], trim=trim,
                    spreads=spreads, own_spreads=own, paired_test=test)


def t_half_width(log_sd, n, level, trim=TRIM):
    """Half-width, in log units, of the interval of the paired test trimming `trim`, at
    two-sided significance `level`, with n rounds whose log ratios have its spread log_sd."""
    return float(stats.t.ppf(1.0 - level / 2.0, paired_df(n, trim))) * log_sd / math.sqrt(n)


def paired_half_width(spreads, n, level):
    """The narrowest half-width the paired tests (paired_tests(n), Bonferroni-combined)
    reach at `level` with n rounds; spreads: [(trim, log_sd) or (RANK_SHIFT, RankShift)]
    as in Estimate.spreads."""
    tests = paired_tests(n)
    each = level / len(tests)
    widths = [sd.half_width(n, each) if t == RANK_SHIFT else t_half_width(sd, n, each, t)
              for t, sd in spreads if sd is not None and t in tests]
    widths = [w for w in widths if w is not None]
    return min(widths) if widths else None


def min_rank_p(n1, n2):
    """The smallest two-sided p-value Mann-Whitney U can give with n1 and n2 values:
    every value of one side below every value of the other, with no ties."""
    return min(1.0, 2.0 / math.comb(n1 + n2, n1))


def rank_test_min_repetitions(level):
    """Repetitions per side at which Mann-Whitney can reach `level` at all."""
    n = MIN_REPETITIONS
    while min_rank_p(n, n) > level:
        n += 1
    return n


def _worse_fraction(log_change, higher_is_better):
    """A change of `log_change` (log units, > 0) in the direction that is worse, as a
    fraction of the metric: +x for a time that grows, -x (reported as x) for a rate."""
    if log_change is None:
        return None
    return -math.expm1(-log_change) if higher_is_better else math.expm1(log_change)


def resolution(est, level, band, higher_is_better):
    """The smallest worsening (fraction, 0.05 = 5%) this comparison's own data could
    have called, were it the only change in the report; `level` is that lone change's
    significance level (alpha / m). None: no change at all could be called."""
    if est.method == FEW_ROUNDS:
        return None
    if est.method == SINGLE:
        return band
    if est.method == PAIRED_T:
        return _worse_fraction(paired_half_width(est.spreads, est.n_base, level),
                               higher_is_better)
    # Unpaired: the band is always there; the rank test adds to it only when it can
    # reach the level at these repetitions at all.
    if min_rank_p(est.n_base, est.n_new) > level or est.log_sd is None:
        return band
    z = float(stats.norm.ppf(1.0 - level / 2.0))
    return min(band, _worse_fraction(z * est.log_sd, higher_is_better))


def needed(est, level, threshold):
    """What would resolve a change of `threshold` (a fraction) at `level` with the
    observed spread: (unit, count, at_least). unit is "rounds" (paired) or "repetitions"
    (per side, unpaired and single); at_least is True when the spread is unknown and the
    count is only the least that could do it; count is None beyond MAX_SUGGESTED."""
    target = math.log1p(threshold)
    if est.method in (PAIRED_T, FEW_ROUNDS):
        if all(sd is None for _, sd in est.spreads):
            return "rounds", MIN_ROUNDS, True
        for n in range(MIN_ROUNDS, MAX_SUGGESTED + 1):
            half = paired_half_width(est.spreads, n, level)
            if half is not None and half <= target:
                return "rounds", n, False
        return "rounds", None, False
    least = rank_test_min_repetitions(level)
    if est.method == SINGLE or est.log_sd is None:
        return "repetitions", least, True
    # The bootstrap spread of a log ratio of medians scales as sqrt(1/n1 + 1/n2).
    z = float(stats.norm.ppf(1.0 - level / 2.0))
    per_unit = est.log_sd ** 2 / (1.0 / est.n_base + 1.0 / est.n_new)
    n = max(least, math.ceil(2.0 * per_unit * (z / target) ** 2))
    return "repetitions", (n if n <= MAX_SUGGESTED else None), False


def decide_text(decide, threshold_pct):
    """What would decide an inconclusive row, in words, from needed()'s (unit, count,
    at_least) as a dict."""
    unit, count, at_least = decide["unit"], decide["count"], decide["at_least"]
    per = " per side" if unit == "repetitions" else ""
    if count is None:
        return ("more than %d %s%s would be needed to resolve +-%g%% at this spread: "
                "too noisy here" % (MAX_SUGGESTED, unit, per, threshold_pct))
    if at_least:
        return "at least %d %s%s would be needed (the spread is unknown)" % (count, unit, per)
    return "about %d %s%s would resolve +-%g%% at this spread" % (count, unit, per, threshold_pct)


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


def classify(est, q, threshold, alpha, higher_is_better, single_band, unchanged_within=None):
    """(verdict, reason) for one comparison.

    threshold, single_band, unchanged_within: fractions (0.05 = 5%) of change of the metric.
    A regression must be both significant after correction (q < alpha) and at least
    `threshold` in size; "unchanged" needs the whole interval inside +-unchanged_within
    (default: threshold; wider for a row whose A/A spread was learned, see gate_noise), or
    a significant change smaller than the threshold whose interval stays inside it.
    Unpaired rows the test leaves undecided still get the band that decides single
    values, so that more repetitions never give a weaker verdict than one or two.
    """
    change = est.ratio - 1.0
    if est.method == FEW_ROUNDS:
        # Never the single-value band here: on a busy VM one round's ratio of p99s or
        # pool overheads passes 1.5 between identical builds (7 of 334 did in a 2-round
        # A/A dry run), and leaving rounds out must never make a verdict easier to reach.
        return INCONCLUSIVE, "too few rounds: %s; run scripts/ab.py with more --rounds" % est.note
    if est.method == SINGLE:
        band = _band_verdict(change, higher_is_better, single_band)
        if band:
            return band[0], "no test (%s); %s" % (est.note, band[1])
        return INCONCLUSIVE, ("too few repetitions: %s; within the +-%.0f%% noise band "
                              "for single values" % (est.note, single_band * 100))
    verdict, reason = _classify_tested(est, change, q, threshold, alpha, higher_is_better,
                                       max(threshold, unchanged_within or 0.0))
    if verdict == INCONCLUSIVE and est.method == MANN_WHITNEY:
        band = _band_verdict(change, higher_is_better, single_band)
        if band:
            return band[0], "%s; but %s, which decides with fewer repetitions too" % (
                reason, band[1])
    return verdict, reason


def _band_verdict(change, higher_is_better, band):
    """(verdict, why) when a change of the typical value lies beyond the noise band."""
    if abs(change) < band:
        return None
    worse = -change if higher_is_better else change   # > 0: the code got worse
    return (REGRESSED if worse > 0 else IMPROVED,
            "the change of the medians is beyond the +-%.0f%% noise band for single "
            "values" % (band * 100))


def _classify_tested(est, change, q, threshold, alpha, higher_is_better, within):
    worse = -change if higher_is_better else change
    lo, hi = est.ci[0] - 1.0, est.ci[1] - 1.0
    significant = q is not None and q < alpha
    # Flagging comes first and at the row's threshold: a learned band only widens what may
    # be called unchanged, so a noisy row still flags every change its own rounds resolve.
    if significant and abs(change) >= threshold:
        return (REGRESSED if worse > 0 else IMPROVED), "significant (%s) and beyond the threshold" % q_text(q)
    inside = "+-threshold" if within == threshold else "+-%.0f%%" % (within * 100)
    if -within < lo and hi < within:
        if significant:
            return UNCHANGED, "a real but small change, interval inside " + inside
        return UNCHANGED, "interval inside " + inside
    if significant:
        return INCONCLUSIVE, ("significant (%s) but smaller than the threshold, and the "
                              "interval reaches beyond %s" % (q_text(q), inside))
    if abs(change) >= threshold:
        return INCONCLUSIVE, ("too noisy: %+.1f%% but not significant after "
                              "multiple-comparison control (%s)" % (change * 100, q_text(q)))
    return INCONCLUSIVE, "too noisy: the interval reaches beyond " + inside


def fmt_p(p):
    if p is None:
        return "-"
    if p < 0.001:
        return "<0.001"
    return "%.3f" % p


def q_text(q):
    text = fmt_p(q)
    return "q" + text if text.startswith("<") else "q=" + text
