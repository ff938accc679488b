"""Bands learned from A/A runs: how far each comparison scatters between identical builds.

A paired comparison is called *unchanged* only when its whole interval lies inside
+-threshold. A row whose rounds scatter by s (the standard deviation of the per-round log
ratios) has an interval about t * s / sqrt(rounds) wide on each side, so with a 5%
threshold every row noisier than about 6% stays *inconclusive* at 8 rounds, in every run,
and a whole quick profile then makes the gate exit 3 (inconclusive) even between two
identical builds. Raising the rounds for everyone to settle the noisiest rows would cost
hours of CI per pull request.

Instead each comparison may be called unchanged within its own band, max(--threshold,
K x s_aa), where s_aa is that comparison's per-round spread measured between identical
builds on this machine, the way CI runs the gate (scripts/gate_trials.py aa), and stored
beside the baseline (results/baselines/gate-noise.json). The band does not set what is
flagged. A trial's rounds can come out quieter than the row is (with 8 rounds a sample
spread of half the true one is not rare, and a 14% change between identical builds then
passed as significant), so each test of the row believes its own spread only down to the
5th percentile of what its rounds would show at the spread learned for its trim
(row_floors; gate_stats.estimate_paired, FLOOR_QUANTILE), and a change significant after
Benjamini-Hochberg at that spread is flagged from --threshold. Until 2026-12-05 the guard
was a floor on the change instead, max(--threshold, s_aa): it made a 10% slowdown of a row
scattering by more than 10% a round unflaggable at any number of rounds (docs/ci-gate.md,
"Why a 10% slowdown could not be flagged on this host"). The price is in what *unchanged*
means for a noisy row: within +-band, which the report states for every such row.

K = 2.5: in an A/A comparison the observed change scatters by s/sqrt(n) and the interval
reaches about t(0.975, n-1) * s/sqrt(n) beyond it; at n = 8 rounds that is 0.84 s, and
with the sample spread itself up to 1.4 s_aa (its 95th percentile at 7 degrees of
freedom) 1.2 s, which leaves 1.3 s = 3.7 standard errors of room for the change before
the interval reaches 2.5 s: a row that scatters as it did while learning is decided in
nearly every A/A run. At the CI job's 20 rounds the same reasoning gives about 1.4
(0.47 s, 0.59 s with the spread at its 95th percentile, plus 3.7 x 0.22 s), so 2.5 is
conservative there; it stays until A/A trials of that job show a smaller K still decides
nearly every row (docs/ci-gate.md).
"""

import datetime
import json
import math
import os

from . import gate_stats
from .results import ResultsError, read_document

# 2: rows carry floor_by_trim, each trim's own spread (2026-12-05); a schema 1 file knows
# only the light trim's and is learned again.
NOISE_SCHEMA = 2
DEFAULT_K = 2.5
# The environment the noise was learned in must be the one judged: gate.CRITICAL_ENV (with
# the CPU's signature), the kernel's CPU mitigations and how an idle CPU waits. Under KVM the
# model name is often only "AMD EPYC", so two hosts of other silicon share it: the
# development VM has run on two such hosts, one with page-table isolation on every syscall
# and one without, under the same kernel build. The idle driver and its polling decide how
# fast a blocked peer wakes, so they set the spread of every blocking round trip.
ENV_KEYS = ("cpu_model", "cpu_signature", "logical_cpus", "physical_cores", "kernel",
            "build_type", "mitigations", "cpuidle")
# Fewer rounds than this in all the trials together give no usable spread for a row.
MIN_LEARN_ROUNDS = 6


class NoiseError(Exception):
    """The noise file cannot be used; str(e) is the one line to print."""


def key(benchmark, metric):
    # Benchmark names hold no spaces (the contract's name rules).
    return "%s %s" % (benchmark, metric)


class Pool:
    """Pooled variance of per-round log ratios: sum of (n - 1) s^2 over sum of (n - 1)."""

    def __init__(self):
        self.ss = 0.0
        self.df = 0
        self.rounds = 0
        self.trials = 0

    def add(self, log_sd, n):
        if log_sd is None or n is None or n < 2 or not math.isfinite(log_sd):
            return
        self.ss += (n - 1) * log_sd * log_sd
        self.df += n - 1
        self.rounds += n
        self.trials += 1

    def spread(self):
        return math.sqrt(self.ss / self.df) if self.df else None


def learn(reports, envs, k=DEFAULT_K, sources=()):
    """The noise document from the compare reports (gate.compare dicts) of A/A trials.

    reports: paired comparisons of one build against itself; envs: the `ipcmeter.env` of
    each trial's NEW file, all of which must agree on ENV_KEYS."""
    if not reports:
        raise NoiseError("no A/A trial to learn from")
    env = {k_: envs[0].get(k_) for k_ in ENV_KEYS}
    for other in envs[1:]:
        for k_ in ENV_KEYS:
            if other.get(k_) != env[k_]:
                raise NoiseError("the A/A trials ran in different environments (%s)"
                                 % difference(k_, env[k_], other.get(k_)))
    pools, trim_pools = {}, {}
    for rep in reports:
        if rep.get("mode") != "paired":
            raise NoiseError("an A/A trial's comparison is not paired (mode %s): learn "
                             "from scripts/ab.py outputs" % rep.get("mode"))
        for row in rep["comparisons"]:
            name = key(row["benchmark"], row["metric"])
            pools.setdefault(name, Pool()).add(row.get("log_sd"), row.get("n_new"))
            for trim_pct, sd in (row.get("log_sd_by_trim") or {}).items():
                trim_pools.setdefault(name, {}).setdefault(trim_pct, Pool()).add(
                    sd, row.get("n_new"))
    rows = {}
    for name, pool in sorted(pools.items()):
        s = pool.spread()
        if s is None or pool.rounds < MIN_LEARN_ROUNDS:
            continue
        # A trim learned from fewer rounds than the row (a trial too short for it) is left
        # out; estimate_paired then floors it at the largest learned one.
        by_trim = {t: tp.spread() for t, tp in sorted(trim_pools.get(name, {}).items())
                   if tp.spread() is not None and tp.rounds == pool.rounds}
        rows[name] = {"log_sd": s, "floor_by_trim": by_trim, "rounds": pool.rounds,
                      "trials": pool.trials, "unchanged_within_pct": k * s * 100.0}
    return {"ipcmeter_gate_noise": NOISE_SCHEMA, "k": k, "env": env,
            "learned": datetime.datetime.now(datetime.timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ"),
            "trials": len(reports), "sources": list(sources), "rows": rows}


def load(path):
    try:
        doc = read_document(path)
    except ResultsError as e:
        raise NoiseError(str(e)) from None
    if not isinstance(doc, dict) or doc.get("ipcmeter_gate_noise") != NOISE_SCHEMA \
            or not isinstance(doc.get("rows"), dict) or not isinstance(doc.get("env"), dict):
        old = isinstance(doc, dict) and doc.get("ipcmeter_gate_noise") == 1
        raise NoiseError("%s: %s" % (path, (
            "a noise file of schema 1, learned before the gate floored each trim's spread "
            "from its own A/A spread; learn it again (scripts/gate_trials.py noise)" if old else
            "not an ipcmeter gate noise file (schema %d)" % NOISE_SCHEMA)))
    k_ = doc.get("k")
    if not isinstance(k_, (int, float)) or not k_ > 0:
        raise NoiseError("%s: k must be a positive number" % path)
    for name, row in doc["rows"].items():
        s = row.get("log_sd") if isinstance(row, dict) else None
        if not isinstance(s, (int, float)) or not (s >= 0 and math.isfinite(s)):
            raise NoiseError("%s: row %r has no valid log_sd" % (path, name))
        floors = row.get("floor_by_trim")
        if not isinstance(floors, dict) or not all(
                _trim_key(t) is not None and isinstance(v, (int, float))
                and v >= 0 and math.isfinite(v) for t, v in floors.items()):
            raise NoiseError("%s: row %r has no valid floor_by_trim" % (path, name))
    doc["path"] = path
    return doc


def checked(path):
    """The absolute path of a usable noise file, checked before anything long runs; else
    NoiseError with the one line to print."""
    try:
        load(path)
    except NoiseError as e:
        raise NoiseError("--noise %s" % e) from None
    return os.path.abspath(path)


def difference(key, a, b):
    """'key A vs B' for one environment key; of a dict (the mitigations), only the entries
    that differ, so the one-line error stays readable."""
    if isinstance(a, dict) and isinstance(b, dict):
        parts = ["%s.%s %s vs %s" % (key, k, json.dumps(a.get(k)), json.dumps(b.get(k)))
                 for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        return "; ".join(parts)
    return "%s %s vs %s" % (key, json.dumps(a), json.dumps(b))


def env_difference(a, b):
    """The first ENV_KEYS entry in which two results files' envs differ, worded by
    difference(), or None when they ran on one machine. A key either env lacks is not
    compared: files of older binaries lack the CPU signature and the idle wait."""
    for k_ in ENV_KEYS:
        first, second = a.get(k_), b.get(k_)
        if first is not None and second is not None and first != second:
            return difference(k_, first, second)
    return None


def check_env(doc, new_env):
    """Raise NoiseError when the noise was learned on another machine than NEW's."""
    differs = env_difference(doc["env"], new_env)
    if differs is not None:
        raise NoiseError(
            "%s was learned on another machine (%s; the second value is NEW's): its bands do "
            "not hold here; learn them on this runner (scripts/gate_trials.py aa, then "
            "noise) or leave out --noise" % (os.path.basename(doc["path"]), differs))


def _trim_key(text):
    """The trim (a fraction) a floor_by_trim key names ("10" = 0.1), or None."""
    try:
        value = float(text) / 100.0
    except (TypeError, ValueError):
        return None
    return value if 0.0 <= value < 0.5 else None


def by_trim_key(spreads):
    """{trim: spread} keyed as floor_by_trim is: by the trim's percentage, "10" for 0.1."""
    return {"%g" % (trim * 100.0): sd for trim, sd in spreads.items()}


def row_floors(doc, benchmark, metric):
    """{trim: learned spread} for gate_stats.estimate_paired, or None without a noise file
    or a spread learned for this comparison."""
    row = doc["rows"].get(key(benchmark, metric)) if doc else None
    if row is None:
        return None
    floors = {_trim_key(t): v for t, v in row["floor_by_trim"].items()}
    return floors or {gate_stats.TRIM: row["log_sd"]}


def row_limits(doc, benchmark, metric, base_threshold):
    """(the change from which one comparison is flagged, the band inside which it is called
    unchanged, where they came from), the first two as fractions."""
    if doc is None:
        return base_threshold, base_threshold, None
    row = doc["rows"].get(key(benchmark, metric))
    if row is None:
        return base_threshold, base_threshold, "no A/A spread learned for this row"
    s = row["log_sd"]
    band = max(base_threshold, doc["k"] * s)
    if band == base_threshold:
        return base_threshold, base_threshold, None
    return base_threshold, band, ("its test's spread floored from its A/A spread, unchanged "
                                  "within +-%.0f%% = %g x that spread %.1f%% (%d rounds)"
                                  % (band * 100, doc["k"], s * 100, row["rounds"]))
