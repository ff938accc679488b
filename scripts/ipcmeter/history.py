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

Change points: scripts/ipcmeter/steps.py says how they are found.
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
from .writers.tables import _scalar as env_text   # the report's form of an env value
from .steps import (ALPHA, MIN_SEGMENT, MIN_STEP_PCT, NOISE_MULTIPLE, PERMUTATIONS, SEED,  # noqa: F401 (the CLI reads them here)
                    Detector, level_change, to_scale, from_scale, revision_sigma)

GROUP_BY = ("host", "hardware")
HARDWARE_KEYS = ("cpu_model", "logical_cpus", "physical_cores", "numa_nodes", "virtualization")
# Recorded facts that change a machine's numbers, marked where they change. The CPU signature
# is one of them rather than a HARDWARE_KEY so that results recorded before it existed stay in
# their machine's series; a change of silicon under one model name is then marked, not hidden.
ENV_CHANGE_KEYS = ("cpu_signature", "microcode", "kernel", "compiler", "cxx_flags",
                   "mitigations", "governor", "cpuidle", "turbo", "thp", "clocksource")

# The noise band drawn around the fitted levels, in revision sigmas.
BAND_SIGMAS = 2.0



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
        now = {k: env.get(k) for k in ENV_CHANGE_KEYS}
        if before is not None:
            # A key unknown on one side (a file older than the key) is no change.
            changed = [f"{k} {env_text(before[k])} -> {env_text(now[k])}"
                       for k in ENV_CHANGE_KEYS
                       if before[k] is not None and now[k] is not None and before[k] != now[k]]
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


def analyse(series: Series, detector: Detector) -> None:
    """Fill series.scale, sigma, steps and levels."""
    pts = series.points
    if not pts:
        return
    medians = np.array([p.median for p in pts], dtype=float)
    series.scale = "log" if all(v > 0 for p in pts for v in p.values) else "linear"
    y = to_scale(medians, series.scale)
    series.sigma = revision_sigma(y, pts, series.scale)
    cps = detector.detect(y, series.sigma, series.scale) if len(y) >= 2 * MIN_SEGMENT else []
    bounds = [0] + [k for k, _ in cps] + [len(y)]
    levels = [float(np.median(y[a:b])) for a, b in zip(bounds, bounds[1:])]
    series.levels = [(a, b - 1, from_scale(lv, series.scale))
                     for a, b, lv in zip(bounds, bounds[1:], levels)]
    hib = series.higher_is_better
    for i, (k, p) in enumerate(cps):
        diff, pct = level_change(levels[i], levels[i + 1], series.scale)
        kind = None
        if hib is not None and diff:
            kind = "improvement" if (diff > 0) == bool(hib) else "regression"
        series.steps.append({
            "revision": pts[k].revision, "previous_revision": pts[k - 1].revision,
            "point": k, "axis_index": pts[k].index,
            "before": from_scale(levels[i], series.scale),
            "after": from_scale(levels[i + 1], series.scale),
            "size_pct": pct, "confidence": 1.0 - p, "p_value": p, "kind": kind,
            "env_change": series.machine.env_changes.get(pts[k].revision, []),
        })


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
