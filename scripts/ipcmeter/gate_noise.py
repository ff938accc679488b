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
flagged: a change significant after Benjamini-Hochberg is flagged from max(--threshold,
s_aa) (FLAG_K = 1), so a noisy row still flags what its own rounds resolve (its mde_pct)
beyond one round's scatter. That floor matters when a trial's rounds come out quieter than
the row is: with 8 rounds a sample spread of half the true one is not rare, and a 14%
change between identical builds then passes as significant. The price is in what
*unchanged* means for a noisy row: within +-band, which the report states for every such
row.

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

from .results import ResultsError, read_document

NOISE_SCHEMA = 1
DEFAULT_K = 2.5
# The environment the noise was learned in must be the one judged: gate.CRITICAL_ENV (with
# the CPU's signature), the kernel's CPU mitigations and how an idle CPU waits. Under KVM the
# model name is often only "AMD EPYC", so two hosts of other silicon share it: the
# development VM has run on two such hosts, one with page-table isolation on every syscall
# and one without, under the same kernel build. The idle driver and its polling decide how
# fast a blocked peer wakes, so they set the spread of every blocking round trip.
ENV_KEYS = ("cpu_model", "cpu_signature", "logical_cpus", "physical_cores", "kernel",
            "build_type", "mitigations", "cpuidle")
# A change smaller than one round's scatter between identical builds is never flagged:
# at n rounds that is sqrt(n) standard errors (4.5 at 20), a size an A/A comparison reaches
# only when its own rounds came out quieter than the row is.
FLAG_K = 1.0
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
    pools = {}
    for rep in reports:
        if rep.get("mode") != "paired":
            raise NoiseError("an A/A trial's comparison is not paired (mode %s): learn "
                             "from scripts/ab.py outputs" % rep.get("mode"))
        for row in rep["comparisons"]:
            pools.setdefault(key(row["benchmark"], row["metric"]), Pool()).add(
                row.get("log_sd"), row.get("n_new"))
    rows = {}
    for name, pool in sorted(pools.items()):
        s = pool.spread()
        if s is None or pool.rounds < MIN_LEARN_ROUNDS:
            continue
        rows[name] = {"log_sd": s, "rounds": pool.rounds, "trials": pool.trials,
                      "unchanged_within_pct": k * s * 100.0}
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
        raise NoiseError("%s: not an ipcmeter gate noise file (schema %d)" % (path, NOISE_SCHEMA))
    k_ = doc.get("k")
    if not isinstance(k_, (int, float)) or not k_ > 0:
        raise NoiseError("%s: k must be a positive number" % path)
    for name, row in doc["rows"].items():
        s = row.get("log_sd") if isinstance(row, dict) else None
        if not isinstance(s, (int, float)) or not (s >= 0 and math.isfinite(s)):
            raise NoiseError("%s: row %r has no valid log_sd" % (path, name))
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


def check_env(doc, new_env):
    """Raise NoiseError when the noise was learned on another machine than NEW's."""
    for k_ in ENV_KEYS:
        learned, here = doc["env"].get(k_), new_env.get(k_)
        if learned is not None and here is not None and learned != here:
            raise NoiseError(
                "%s was learned on another machine (%s; the second value is NEW's): its bands do "
                "not hold here; learn them on this runner (scripts/gate_trials.py aa, then "
                "noise) or leave out --noise" % (os.path.basename(doc["path"]),
                                                 difference(k_, learned, here)))


def row_limits(doc, benchmark, metric, base_threshold):
    """(the change from which one comparison is flagged, the band inside which it is called
    unchanged, where they came from), the first two as fractions."""
    if doc is None:
        return base_threshold, base_threshold, None
    row = doc["rows"].get(key(benchmark, metric))
    if row is None:
        return base_threshold, base_threshold, "no A/A spread learned for this row"
    s = row["log_sd"]
    flag_at, band = max(base_threshold, FLAG_K * s), max(base_threshold, doc["k"] * s)
    if band == base_threshold:
        return base_threshold, base_threshold, None
    return flag_at, band, ("flagged from %.1f%%, unchanged within +-%.0f%% = %g x its A/A "
                           "spread %.1f%% (%d rounds)" % (flag_at * 100, band * 100, doc["k"],
                                                          s * 100, row["rounds"]))
