"""History across commits (scripts/history.py): each primary metric's trend over revisions,
one line per machine, its noise band, and the revisions where it stepped.

Runs and revisions
  A run is one results file. Its revision is env.git_revision (a "-dirty" build is a revision
  of its own); a file without one is a revision of its own, named by its run date. Revisions
  are ordered by env.commit_date, else by the run's date (Google Benchmark's context.date);
  ties by run date, then name. Several files of one revision on one machine are pooled: their
  repetitions (and ab.py's rounds, which it writes as repetitions) are one revision's values.

Machines
  A line is one machine and one build type; lines are never mixed. `host` (the default) tells
  machines apart by hostname plus the hardware (cpu_model, logical_cpus, physical_cores,
  numa_nodes, virtualization), so a new machine under an old name still gets a line of its own;
  `hardware` drops the hostname, for CI runners whose hostname changes with every job (GitHub's
  hosted runners): the same CPU model, counts and hypervisor are then one line. The kernel,
  compiler and flags are not part of the key (a machine keeps its line across an upgrade);
  a revision where they change is marked, so a step there is seen to coincide with it.

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

import datetime
import math
import os
import re
import statistics
import subprocess
from dataclasses import dataclass, field

import numpy as np

from .results import Results, is_number

GROUP_BY = ("host", "hardware")
HARDWARE_KEYS = ("cpu_model", "logical_cpus", "physical_cores", "numa_nodes", "virtualization")
# Recorded facts that change a machine's numbers without making it another machine.
ENV_CHANGE_KEYS = ("kernel", "compiler", "cxx_flags", "mitigations", "governor", "turbo",
                   "thp", "clocksource")

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
# The noise band drawn around the fitted levels, in revision sigmas.
BAND_SIGMAS = 2.0

MAD_TO_SIGMA = 1.4826
MEDIAN_EFFICIENCY = 1.2533   # sd of a median of r normal values = 1.2533 * sigma / sqrt(r)


class HistoryError(Exception):
    """str(e) is the one line to print."""


# ------------------------------------------------------------------ runs and revisions

def parse_date(value) -> datetime.datetime | None:
    """An ISO 8601 date as an aware UTC datetime, or None when absent or unreadable. A date
    without an offset is read as UTC (the binary writes commit_date in UTC)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        d = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    try:
        return d.astimezone(datetime.timezone.utc)
    except (OverflowError, ValueError):
        return None


def iso(d: datetime.datetime | None) -> str | None:
    return d.strftime("%Y-%m-%dT%H:%M:%SZ") if d else None


@dataclass
class Run:
    results: Results
    revision: str
    commit_date: datetime.datetime | None
    run_date: datetime.datetime | None


def run_of(res: Results, commit_dates=None) -> Run:
    """The run of one file; commit_dates (a CommitDates) supplies the committer date of a
    revision whose file predates env.commit_date."""
    rev = res.env.get("git_revision")
    rev = " ".join(rev.split()) if isinstance(rev, str) else ""
    commit_date = parse_date(res.env.get("commit_date"))
    if commit_date is None and commit_dates is not None and rev:
        commit_date = commit_dates.of(rev)
    run_date = parse_date(res.context.get("date"))
    if commit_date is None and run_date is None:
        raise HistoryError(f"{res.path}: neither env.commit_date nor context.date holds a "
                           f"date to order the run by")
    return Run(res, rev or "run " + iso(run_date or commit_date), commit_date, run_date)


class CommitDates:
    """Committer dates of revisions looked up in a git repository (history.py --git), for files
    written before the binary recorded env.commit_date: without them such files are ordered by
    when they ran, which puts a revision benchmarked late after newer ones."""

    # A revision as the build records it; anything else is never handed to git.
    REVISION = re.compile(r"^([0-9a-f]{4,40})(-dirty)?$")

    def __init__(self, git_dir: str):
        self.git_dir = git_dir
        probe = self._git("rev-parse", "--git-dir")
        if probe is None:
            raise HistoryError(f"--git {git_dir}: not a git repository")
        self._cache: dict = {}

    def _git(self, *args):
        try:
            p = subprocess.run(["git", "-C", self.git_dir, *args], capture_output=True,
                               text=True, timeout=30, env=dict(os.environ, TZ="UTC"))
        except (OSError, subprocess.TimeoutExpired):
            return None
        return p.stdout.strip() if p.returncode == 0 else None

    def of(self, revision: str):
        m = self.REVISION.match(revision)
        if not m:
            return None
        if m.group(1) not in self._cache:
            out = self._git("show", "-s", "--date=iso-strict-local", "--format=%cd",
                            m.group(1) + "^{commit}")
            self._cache[m.group(1)] = parse_date(out)
        return self._cache[m.group(1)]


def machine_key(res: Results, group_by: str) -> tuple:
    env = res.env
    key = tuple((k, _scalar(env.get(k))) for k in HARDWARE_KEYS)
    key += (("build_type", _scalar(env.get("build_type"))),)
    if group_by == "host":
        key = (("hostname", res.host),) + key
    return key


def _scalar(v):
    return v if isinstance(v, (str, int, float, bool)) or v is None else str(v)


def machine_label(key: tuple) -> str:
    k = dict(key)
    parts = [str(k["hostname"])] if "hostname" in k else []
    parts.append(str(k["cpu_model"]) if k.get("cpu_model") else "unknown CPU")
    if k.get("logical_cpus") is not None:
        parts.append(f"{k['logical_cpus']} CPUs")
    if k.get("virtualization"):
        parts.append(str(k["virtualization"]))
    if k.get("build_type"):
        parts.append(str(k["build_type"]))
    return " · ".join(parts)


@dataclass
class Revision:
    name: str
    runs: list
    index: int = 0          # position on the common axis of every machine

    @property
    def commit_date(self):
        return min((r.commit_date for r in self.runs if r.commit_date), default=None)

    @property
    def run_date(self):
        return min((r.run_date for r in self.runs if r.run_date), default=None)

    @property
    def ordered_by(self):
        return "commit_date" if self.commit_date else "run_date"

    def sort_key(self):
        far = datetime.datetime.max.replace(tzinfo=datetime.timezone.utc)
        return (self.commit_date or self.run_date or far, self.run_date or far, self.name)


@dataclass
class Machine:
    id: str
    key: tuple
    label: str
    revisions: list                       # Revision, in order
    env_changes: dict = field(default_factory=dict)   # revision name -> ["kernel a -> b"]


def machines_of(results: list, group_by: str, commit_dates=None) -> tuple[list, list]:
    """([Machine], [revision name in global order]) for the loaded files."""
    by_machine: dict = {}
    for res in results:
        run = run_of(res, commit_dates)
        revs = by_machine.setdefault(machine_key(res, group_by), {})
        revs.setdefault(run.revision, Revision(run.revision, [])).runs.append(run)
    every = {}
    for revs in by_machine.values():
        for rev in revs.values():
            mine = every.get(rev.name)
            if mine is None or rev.sort_key() < mine:
                every[rev.name] = rev.sort_key()
    order = sorted(every, key=lambda name: every[name])
    position = {name: i for i, name in enumerate(order)}
    machines = []
    keys = sorted(by_machine, key=lambda k: machine_label(k))
    for i, key in enumerate(keys):
        revs = sorted(by_machine[key].values(), key=lambda r: position[r.name])
        for rev in revs:
            rev.runs.sort(key=lambda r: (r.run_date or datetime.datetime.max.replace(
                tzinfo=datetime.timezone.utc), r.results.path))
            rev.index = position[rev.name]
        m = Machine(f"m{i + 1}", key, machine_label(key), revs)
        m.env_changes = _env_changes(revs)
        machines.append(m)
    # Keys that differ only in what the label leaves out (physical cores, NUMA nodes) are
    # still two machines: their labels say so.
    labels = [m.label for m in machines]
    for m in machines:
        if labels.count(m.label) > 1:
            m.label += f" ({m.id})"
    return machines, order


def _env_changes(revs) -> dict:
    out, before = {}, None
    for rev in revs:
        env = rev.runs[0].results.env
        now = {k: _scalar(env.get(k)) for k in ENV_CHANGE_KEYS}
        if before is not None:
            changed = [f"{k} {before[k]} -> {now[k]}" for k in ENV_CHANGE_KEYS
                       if before[k] != now[k]]
            if changed:
                out[rev.name] = changed
        before = now
    return out


# ------------------------------------------------------------------ series

@dataclass
class Point:
    revision: str
    index: int
    values: list

    @property
    def median(self):
        return float(statistics.median(self.values))


@dataclass
class Series:
    machine: Machine
    benchmark: str
    family: str
    metric: str
    higher_is_better: object
    points: list = field(default_factory=list)
    errors: list = field(default_factory=list)     # (revision, message)
    scale: str = "log"
    sigma: float | None = None                     # revision noise, in the scale's units
    steps: list = field(default_factory=list)
    levels: list = field(default_factory=list)     # (first point, last point, level)


def _values(res: Results, recs, base: str, metric: str) -> list:
    values = [r.metrics[metric] for r in recs if r.error is None and metric in r.metrics]
    values = [float(v) for v in values if is_number(v)]
    if not values:   # a file of aggregates only: its median stands for the run
        one = res.summary(metric).get(base)
        values = [float(one)] if is_number(one) else []
    return values


def series_of(machines: list) -> list:
    """Every (machine, benchmark, primary metric) with its points in revision order. Which
    metrics are primary, and which way is better, is each file's own schema (the newest
    file's, for the direction)."""
    out = []
    for m in machines:
        found: dict = {}
        for rev in m.revisions:
            pooled: dict = {}
            for run in rev.runs:
                res = run.results
                for base, recs in res.benchmarks().items():
                    family = recs[0].family
                    for metric in res.schema.primary_metrics(family):
                        s = found.get((base, metric))
                        if s is None:
                            s = found[(base, metric)] = Series(m, base, family, metric, None)
                        s.higher_is_better = res.schema.higher_is_better(family, metric)
                        values = _values(res, recs, base, metric)
                        if values:
                            pooled.setdefault((base, metric), []).extend(values)
                        elif recs and all(r.error for r in recs):
                            s.errors.append((rev.name, recs[0].error))
            for key, values in pooled.items():
                found[key].points.append(Point(rev.name, rev.index, values))
        # A revision that measured a row in one file and errored in another keeps the values.
        for s in found.values():
            measured = {p.revision for p in s.points}
            s.errors = [e for e in dict.fromkeys(s.errors) if e[0] not in measured]
        out += sorted(found.values(), key=lambda s: (s.benchmark, s.metric))
    return out


# ------------------------------------------------------------------ change points

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
            v = _transform(np.asarray(p.values, dtype=float), scale)
            mad = float(np.median(np.abs(v - np.median(v))))
            within.append(MAD_TO_SIGMA * mad * MEDIAN_EFFICIENCY / math.sqrt(len(v)))
    if within:
        sigma = max(sigma, float(np.median(within)))
    return sigma


def _transform(v, scale):
    return np.log(v) if scale == "log" else v


def _change(before, after, scale):
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
        diff, pct = _change(float(np.median(outer)), float(np.median(inner)), scale)
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


def analyse(series: Series, detector: Detector) -> None:
    """Fill series.scale, sigma, steps and levels."""
    pts = series.points
    if not pts:
        return
    medians = np.array([p.median for p in pts], dtype=float)
    series.scale = "log" if all(v > 0 for p in pts for v in p.values) else "linear"
    y = _transform(medians, series.scale)
    series.sigma = revision_sigma(y, pts, series.scale)
    cps = detector.detect(y, series.sigma, series.scale) if len(y) >= 2 * MIN_SEGMENT else []
    bounds = [0] + [k for k, _ in cps] + [len(y)]
    levels = [float(np.median(y[a:b])) for a, b in zip(bounds, bounds[1:])]
    series.levels = [(a, b - 1, _untransform(lv, series.scale))
                     for a, b, lv in zip(bounds, bounds[1:], levels)]
    hib = series.higher_is_better
    for i, (k, p) in enumerate(cps):
        diff, pct = _change(levels[i], levels[i + 1], series.scale)
        kind = None
        if hib is not None and diff:
            kind = "improvement" if (diff > 0) == bool(hib) else "regression"
        series.steps.append({
            "revision": pts[k].revision, "previous_revision": pts[k - 1].revision,
            "point": k, "axis_index": pts[k].index,
            "before": _untransform(levels[i], series.scale),
            "after": _untransform(levels[i + 1], series.scale),
            "size_pct": pct, "confidence": 1.0 - p, "p_value": p, "kind": kind,
            "env_change": series.machine.env_changes.get(pts[k].revision, []),
        })


def _untransform(v, scale):
    return math.exp(v) if scale == "log" else v


def noise_pct(series: Series):
    """The revision noise as a percentage of the level (None in linear space at level 0)."""
    if series.sigma is None:
        return None
    if series.scale == "log":
        return math.expm1(series.sigma) * 100.0
    level = abs(statistics.median(p.median for p in series.points))
    return series.sigma / level * 100.0 if level else None


# ------------------------------------------------------------------ the whole history

@dataclass
class History:
    machines: list
    revision_order: list
    series: list
    detector: Detector
    group_by: str

    def steps(self):
        return [(s, st) for s in self.series for st in s.steps]

    def ordering_note(self) -> str | None:
        """Why the order of revisions may be wrong, or None: revisions without a commit date
        are placed by when they ran, which a mix with dated ones can get wrong."""
        undated = {r.name for m in self.machines for r in m.revisions
                   if r.ordered_by == "run_date"}
        if not undated or len(undated) == len(self.revision_order):
            return None
        return (f"{len(undated)} of {len(self.revision_order)} revisions have no commit date "
                f"(files written before env.commit_date) and are placed by their run date, "
                f"which may put them out of commit order; --git REPO looks their dates up")


def build(results: list, group_by="host", detector: Detector | None = None,
          git_dir: str | None = None) -> History:
    if group_by not in GROUP_BY:
        raise HistoryError(f"--group-by {group_by}: use one of {', '.join(GROUP_BY)}")
    detector = detector or Detector()
    paths = [os.path.realpath(r.path) for r in results]
    for i, p in enumerate(paths):
        if p in paths[:i]:
            raise HistoryError(f"{results[i].path}: given twice (its repetitions would count "
                               f"twice)")
    commit_dates = CommitDates(git_dir) if git_dir else None
    machines, order = machines_of(results, group_by, commit_dates)
    series = series_of(machines)
    if not any(s.points for s in series):
        raise HistoryError("no file measured any primary metric: every benchmark errored "
                           "or the files hold no benchmarks")
    for s in series:
        analyse(s, detector)
    return History(machines, order, series, detector, group_by)


def _finite(v):
    return v if v is None or (isinstance(v, float) and math.isfinite(v)) or \
        (isinstance(v, int) and not isinstance(v, bool)) else None


def to_json(h: History) -> dict:
    """history.json: every number finite or null, so strict JSON readers accept it."""
    d = h.detector
    doc = {
        "tool": "history.py", "format_version": 1,
        "method": {"group_by": h.group_by, "alpha": d.alpha, "min_step_pct": d.min_step_pct,
                   "noise_multiple": d.noise_multiple, "min_segment": MIN_SEGMENT,
                   "permutations": PERMUTATIONS, "seed": SEED, "band_sigmas": BAND_SIGMAS,
                   "test": "circular binary segmentation of the revision medians, "
                           "permutation p-value of the maximum standardised mean difference; "
                           "steps re-tested between their neighbours; a step also exceeds "
                           "min_step_pct and noise_multiple sigmas"},
        "revisions": h.revision_order, "ordering_note": h.ordering_note(),
        "machines": [], "series": [], "steps": [],
    }
    for m in h.machines:
        doc["machines"].append({
            "id": m.id, "label": m.label, "key": {k: v for k, v in m.key},
            "revisions": [{"revision": r.name, "axis_index": r.index,
                           "commit_date": iso(r.commit_date), "run_date": iso(r.run_date),
                           "ordered_by": r.ordered_by,
                           "files": [run.results.path for run in r.runs],
                           "env_change": m.env_changes.get(r.name, [])}
                          for r in m.revisions]})
    for s in h.series:
        doc["series"].append({
            "machine": s.machine.id, "benchmark": s.benchmark, "family": s.family,
            "metric": s.metric, "higher_is_better": s.higher_is_better, "scale": s.scale,
            "noise_pct": _finite(noise_pct(s)),
            "points": [{"revision": p.revision, "axis_index": p.index,
                        "median": _finite(p.median), "min": _finite(min(p.values)),
                        "max": _finite(max(p.values)), "n": len(p.values)}
                       for p in s.points],
            "errors": [{"revision": r, "error": e} for r, e in s.errors],
            "levels": [{"from": s.points[a].revision, "to": s.points[b].revision,
                        "level": _finite(lv)} for a, b, lv in s.levels],
            "steps": [_step_json(st) for st in s.steps]})
    for s, st in h.steps():
        doc["steps"].append(dict(_step_json(st), machine=s.machine.id, benchmark=s.benchmark,
                                 metric=s.metric))
    return doc


def _step_json(st):
    return {k: (_finite(v) if isinstance(v, float) else v) for k, v in st.items()}
