#!/usr/bin/python3
"""Compare two ipcmeter results files and give a verdict per benchmark and metric.

  compare.py BASE.json NEW.json [--threshold PCT] [--max-inconclusive PCT]
                                [--markdown FILE] [--json FILE] [--allow-missing]
                                [--metric NAME] [--normalize-floors] ...

Benchmarks are matched by name. Each family's primary metrics are compared (pingpong:
rtt_p50_ns and rtt_p99_ns; stream, fanin: bytes_per_second and items_per_second;
spawn: ready_p50_ns; others: their time), or the --metric ones.

Verdicts: regressed / improved (significant after Benjamini-Hochberg control across
all comparisons AND at least --threshold in size), unchanged (the confidence interval
lies inside +-threshold), inconclusive (too few repetitions, or too noisy to tell;
the reason and what would decide it are printed). Every row also carries mde_pct: the
smallest worsening its own data could have flagged were it the only change in the
report (significance alpha / number of tests).

The test depends on the input, and each needs a minimum of data:
  paired      both files written by one scripts/ab.py run: a t-test on the per-round
              log ratios (each round ran both builds back to back, so machine drift
              cancels). Needs >= 3 rounds; with fewer, every row is inconclusive. A
              round is left out when the floor probes that ab.py ran with the BASELINE
              binary before, between and after the round's two runs differ by more
              than --floor-shift-limit times (the host moved the vCPUs during the
              round). The witness is the baseline's, so the candidate's code cannot
              drop its own rounds;
  unpaired    repetitions (--benchmark_repetitions) on both sides: Mann-Whitney U
              (exact) and a bootstrap interval of the ratio of medians. Needs >= 3
              repetitions per side for a test; the rank test can flag a lone change
              among m comparisons only once 2 / C(2n, n) <= alpha / m: n = 4 per side
              for 1 comparison, 6 for 10, 8 for 100, 9 for the ~330 of the quick
              profile. Below that, and whenever the test does not decide, the medians
              are still judged by the --single-run-band rule, so more repetitions never
              give a weaker verdict than fewer. Repetitions of one run do not see
              run-to-run drift: prefer scripts/ab.py;
  single      one value per side (or fewer than 3 on one side): inconclusive unless
              the change exceeds --single-run-band (a smoke check, not a gate).

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
import json
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gate_stats  # noqa: E402
from gate_stats import IMPROVED, INCONCLUSIVE, REGRESSED, UNCHANGED  # noqa: E402
import ipcmeter_results  # noqa: E402
from ipcmeter_results import (PRIMARY_METRICS, HIGHER_IS_BETTER, ResultsError,  # noqa: E402
                              load)

PROG = "compare.py"
# 2: exit status 3 (inconclusive), the "gate" object, mde_pct and decide per row.
REPORT_SCHEMA = 2

EXIT_OK, EXIT_REGRESSION, EXIT_UNUSABLE, EXIT_INCONCLUSIVE = 0, 1, 2, 3
STATUS = {EXIT_OK: "no regression", EXIT_REGRESSION: "regression",
          EXIT_INCONCLUSIVE: "inconclusive"}
MAX_INCONCLUSIVE = 10.0   # percent of the rows compared that may stay undecided

# Environment keys that make two runs measure different machines: refused.
CRITICAL_ENV = ("cpu_model", "logical_cpus", "physical_cores", "kernel", "build_type")
# Keys that change results but are often outside the user's control: warned.
SECONDARY_ENV = ("smt", "numa_nodes", "virtualization", "governor", "turbo",
                 "mitigations", "thp", "clocksource", "compiler", "cxx_flags")

VERDICT_ORDER = {REGRESSED: 0, IMPROVED: 1, INCONCLUSIVE: 2, UNCHANGED: 3}

# --normalize-floors: which floor a family's metric is divided by.
LATENCY_FLOOR_FAMILIES = ("pingpong", "sync")      # *_ns / floors.c2c_rtt_ns
THROUGHPUT_FLOOR_FAMILIES = ("stream", "fanin")    # *_per_second / memcpy bandwidth
NORMALIZATION_TEXT = ("pingpong and sync latencies divided by the core-to-core round "
                      "trip measured right before the benchmark (floor_c2c_rtt_ns), "
                      "else by the run's (floors.c2c_rtt_ns); stream and fanin throughput "
                      "divided by the run's one-core memcpy bandwidth "
                      "(floors.memcpy_gbps_by_size at the message size, else "
                      "memcpy_gbps_cache); other metrics compared raw")


# The per-repetition counter measured right before each pingpong repetition
# (bench/pingpong.cpp); --normalize-floors divides by it. It is measured by the code
# under test, so it never decides which rounds are left out (see round_probes()).
FLOOR_OF_THE_MOMENT = "floor_c2c_rtt_ns"
# On the development VM the core-to-core floor sits near 50, 130 or 500 ns depending on
# how the host places the vCPUs, and varies by about +-15% within one placement; when
# the probes around a round's two runs differ by more than this factor, the placement
# changed during the round.
FLOOR_SHIFT_LIMIT = 1.5


class UsageError(Exception):
    """Unusable input found after loading; str(e) is the one line to print."""


def higher_is_better(metric):
    return metric in HIGHER_IS_BETTER or metric.endswith("_per_second")


# ---------------------------------------------------------------- input checks

def check_environments(base, new, allow_mismatch):
    """Warnings about env differences; raise UsageError on a critical one."""
    critical, warnings = [], []
    for key in CRITICAL_ENV + SECONDARY_ENV:
        a, b = base.env.get(key), new.env.get(key)
        if a == b:
            continue
        if a is None or b is None:
            side = "BASE" if a is None else "NEW"
            if key in CRITICAL_ENV:
                warnings.append("env %s unknown in %s; cannot check it matches" % (key, side))
            continue
        text = "%s %s vs %s" % (key, json.dumps(a), json.dumps(b))
        (critical if key in CRITICAL_ENV else warnings).append(text)
    if critical and not allow_mismatch:
        raise UsageError(
            "environments differ in what matters (%s): this would measure the machine, "
            "not the code; pass --allow-env-mismatch to compare anyway" % "; ".join(critical))
    lines = []
    if critical:
        lines.append("ENVIRONMENTS DIFFER (compared anyway, --allow-env-mismatch): "
                     + "; ".join(critical))
    if base.profile != new.profile:
        warnings.append("profile %s vs %s: iteration counts and parameters differ"
                        % (base.profile, new.profile))
    lines.extend("environment: " + w for w in warnings)
    return lines


def pairing(base, new):
    """(repetitions_per_round, rounds) when both files come from one ab.py run."""
    a, b = base.meta.get("ab"), new.meta.get("ab")
    if not isinstance(a, dict) or not isinstance(b, dict):
        return None
    pid = a.get("pairing_id")
    per = a.get("repetitions_per_round")
    if (not pid or pid != b.get("pairing_id") or not isinstance(per, int) or per < 1
            or per != b.get("repetitions_per_round")):
        return None
    return per, a.get("rounds")


def round_floors(results, rnd):
    """The floors measured in round `rnd` of an ab.py file, else the file's floors."""
    ab = results.meta.get("ab")
    if rnd is not None and isinstance(ab, dict):
        per_round = ab.get("round_floors")
        if isinstance(per_round, list) and 0 <= rnd < len(per_round) \
                and isinstance(per_round[rnd], dict):
            return per_round[rnd]
    return results.floors


def _positive_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) \
        and math.isfinite(v) and v > 0


def floor_divisor(record, metric, floors):
    """(divisor, floor name) to normalise this metric, (None, name) if unknown,
    (None, None) when the metric has no floor."""
    family, params = record.family, record.params
    if family in LATENCY_FLOOR_FAMILIES and metric.endswith("_ns"):
        # The floor of the moment, when the benchmark measured one, beats the run's.
        v = record.metrics.get(FLOOR_OF_THE_MOMENT)
        if not _positive_number(v):
            v = floors.get("c2c_rtt_ns")
        return (float(v) if _positive_number(v) else None), "c2c_rtt_ns"
    if family in THROUGHPUT_FLOOR_FAMILIES and metric.endswith("_per_second"):
        by_size = floors.get("memcpy_gbps_by_size")
        size = params.get("size")
        if isinstance(by_size, dict) and _positive_number(by_size.get(str(size))):
            return float(by_size[str(size)]) * 1e9, "memcpy_gbps"
        v = floors.get("memcpy_gbps_cache")
        return (float(v) * 1e9 if _positive_number(v) else None), "memcpy_gbps"
    return None, None


# ------------------------------------------------------------------ comparison

def round_of(record, per_round):
    return (record.repetition_index or 0) // per_round if per_round else 0


def _median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2.0


def round_probes(base, rounds):
    """{round: [ns, ...]}: the floor probes that ab.py ran with the BASELINE binary just
    before, between and after the round's two runs (ipcmeter.ab.floor_probes of the
    BASE file; the NEW file's copy is never read, nor any number the candidate measured
    itself). None when BASE holds no probes (files from an older ab.py)."""
    ab = base.meta.get("ab")
    probes = ab.get("floor_probes") if isinstance(ab, dict) else None
    per_round = probes.get("round_probes_ns") if isinstance(probes, dict) else None
    if not isinstance(per_round, list):
        return None
    out = {}
    for rnd, values in enumerate(per_round[:rounds] if rounds else per_round):
        if isinstance(values, list):
            out[rnd] = [float(v) for v in values if _positive_number(v)]
    return out


def shifted_rounds(probes, limit):
    """{round: (lowest, highest probe)} for the rounds whose probes differ by more than
    `limit` times: the host moved the vCPUs at some point between the first and the last
    probe, so the two builds may have run on different placements. The decision uses only
    the baseline binary's probes, never the metric judged nor anything the candidate
    measured, so it cannot favour either build. Empty when limit is 0 or without probes."""
    if not limit or not probes:
        return {}
    return {rnd: (min(vs), max(vs)) for rnd, vs in sorted(probes.items())
            if len(vs) >= 2 and max(vs) > limit * min(vs)}


def shift_text(shifted):
    one = len(shifted) == 1
    return "%d round%s left out because the baseline build's core-to-core floor probes " \
           "around the runs differed (%s): the host moved the vCPUs during the round" % (
               len(shifted), "" if one else "s",
               ", ".join("round %d %.0f-%.0f ns" % (rnd + 1, lo, hi)
                         for rnd, (lo, hi) in sorted(shifted.items())))


def samples(results, recs, metric, per_round, normalize, skip_rounds=()):
    """{round or 0: [values]} and the floor used (None, name, or 'missing:name')."""
    out, used = {}, None
    for r in recs:
        if r.error is not None or metric not in r.metrics:
            continue
        rnd = round_of(r, per_round)
        if rnd in skip_rounds:
            continue
        value = r.metrics[metric]
        if normalize:
            div, name = floor_divisor(r, metric, round_floors(results, rnd if per_round else None))
            if name is not None and div is None:
                return None, "missing:" + name
            if div is not None:
                value, used = value / div, name
        out.setdefault(rnd, []).append(value)
    return out, used


def check_inputs(base, new):
    """Raise UsageError when the two files cannot be compared at all."""
    vb, vn = base.meta.get("schema_version"), new.meta.get("schema_version")
    if vb != vn:
        raise UsageError("%s has schema_version %s but %s has %s; compare files of one "
                         "schema" % (base.path, vb, new.path, vn))
    for res in (base, new):
        if not res.benchmarks():
            raise UsageError("%s: no benchmarks in the file" % res.path)
        if res.all_errored():
            raise UsageError("%s: every benchmark errored (%s); nothing to compare"
                             % (res.path, next(iter(res.errors().values()), "?")))


def _has_metric(records, metric):
    return any(metric in r.metrics for r in records)


class Collected:
    """What the walk over the common benchmarks found, before any statistics."""

    def __init__(self):
        self.rows = []            # comparisons with an estimate
        self.not_compared = []    # {"benchmark", ["metric"], "reason", "kind"}
        self.missing_metrics = []  # {"benchmark", "metric"}: in BASE, absent from NEW
        self.new_metrics = []     # {"benchmark", "metric"}: absent from BASE, in NEW
        self.new_errors = []      # {"benchmark", "error"}: runs in BASE, errors in NEW

    def skip(self, name, reason, kind, metric=None):
        entry = {"benchmark": name, "reason": reason, "kind": kind}
        if metric is not None:
            entry["metric"] = metric
        self.not_compared.append(entry)


# not_compared kinds that count as undecided rows: the data could not settle them.
UNDECIDED_KINDS = ("no_round_left", "floor_unknown")


def collect(base, new, args, per_round, shifted, confidence):
    """Walk the benchmarks both files hold: an estimate per benchmark and metric, and
    every row that cannot be compared sorted by why (errors, missing or new metrics,
    floors unknown, every round left out)."""
    bb, nb = base.benchmarks(), new.benchmarks()
    found = Collected()
    for name in (n for n in bb if n in nb):
        b_ok = [r for r in bb[name] if r.error is None]
        n_ok = [r for r in nb[name] if r.error is None]
        if not b_ok or not n_ok:
            if b_ok:
                found.new_errors.append({"benchmark": name, "error": nb[name][0].error})
                found.skip(name, "errored in NEW only: %s" % nb[name][0].error, "errored_in_new")
            elif n_ok:
                found.skip(name, "errored in BASE only (runs in NEW): %s" % bb[name][0].error,
                           "errored_in_base")
            else:
                found.skip(name, "errored on both sides: %s" % nb[name][0].error,
                           "errored_on_both")
            continue
        family = b_ok[0].family
        for metric in args.metric or PRIMARY_METRICS.get(family, ["real_time_ns"]):
            in_base, in_new = _has_metric(b_ok, metric), _has_metric(n_ok, metric)
            if not in_new:
                if in_base:
                    found.missing_metrics.append({"benchmark": name, "metric": metric})
                continue
            if not in_base:
                found.new_metrics.append({"benchmark": name, "metric": metric})
                continue
            xs, fb = samples(base, b_ok, metric, per_round, args.normalize_floors, shifted)
            ys, fn = samples(new, n_ok, metric, per_round, args.normalize_floors, shifted)
            if xs is None or ys is None:
                side = "BASE" if xs is None else "NEW"
                floor = (fb if xs is None else fn).split(":", 1)[1]
                found.skip(name, "cannot normalise: floor %s unknown in %s" % (floor, side),
                           "floor_unknown", metric)
                continue
            if not xs or not ys:
                # Data there, every round of it left out: undecided, not silently gone.
                if shifted and samples(base, b_ok, metric, per_round, False)[0] \
                        and samples(new, n_ok, metric, per_round, False)[0]:
                    found.skip(name, "no round left: " + shift_text(shifted),
                               "no_round_left", metric)
                continue
            if per_round:
                est = gate_stats.estimate_paired(xs, ys, confidence)
            else:
                est = gate_stats.estimate_unpaired(xs.get(0, []), ys.get(0, []), confidence)
            if est is None:
                continue
            found.rows.append({"benchmark": name, "family": family, "metric": metric,
                               "higher_is_better": higher_is_better(metric),
                               "normalized_by": fb or fn,
                               "base": _median_of(xs), "new": _median_of(ys), "est": est,
                               "rounds_left_out": sorted(rnd + 1 for rnd in shifted)})
    return found


def decide_text(decide, threshold_pct):
    unit, count, at_least = decide["unit"], decide["count"], decide["at_least"]
    per = " per side" if unit == "repetitions" else ""
    if count is None:
        return ("more than %d %s%s would be needed to resolve +-%g%% at this spread: "
                "too noisy here" % (gate_stats.MAX_SUGGESTED, unit, per, threshold_pct))
    if at_least:
        return "at least %d %s%s would be needed (the spread is unknown)" % (count, unit, per)
    return "about %d %s%s would resolve +-%g%% at this spread" % (count, unit, per,
                                                                  threshold_pct)


def judge(rows, args, shifted):
    """Benjamini-Hochberg over the rows' tests, then a verdict, mde_pct and (when
    inconclusive) what would decide it for every row. Returns the number of tests."""
    qs = gate_stats.benjamini_hochberg([r["est"].p for r in rows])
    tested = sum(1 for r in rows if r["est"].p is not None)
    # A lone change must pass the first step of Benjamini-Hochberg: p <= alpha / m.
    lone_level = args.alpha / max(tested, 1)
    threshold = args.threshold / 100.0
    band = args.single_run_band / 100.0
    for row, q in zip(rows, qs):
        est = row.pop("est")
        if est.ratio is None:
            verdict, reason = INCONCLUSIVE, est.note
        else:
            verdict, reason = gate_stats.classify(est, q, threshold, args.alpha,
                                                  row["higher_is_better"], band)
        mde = gate_stats.resolution(est, lone_level, band, row["higher_is_better"]) \
            if est.ratio is not None else None
        decide = None
        if verdict == INCONCLUSIVE and est.ratio is not None:
            unit, count, at_least = gate_stats.needed(est, lone_level, threshold)
            decide = {"unit": unit, "count": count, "at_least": at_least}
            reason = "%s; %s" % (reason, decide_text(decide, args.threshold))
        if row["rounds_left_out"]:
            reason = "%s; %s" % (reason, shift_text(shifted))
        row.update({
            "verdict": verdict, "reason": reason, "test": est.method,
            "n_base": est.n_base, "n_new": est.n_new,
            "ratio": est.ratio,
            "change_pct": None if est.ratio is None else (est.ratio - 1.0) * 100.0,
            "ci_low_pct": None if est.ci is None else (est.ci[0] - 1.0) * 100.0,
            "ci_high_pct": None if est.ci is None else (est.ci[1] - 1.0) * 100.0,
            "p_value": est.p, "q_value": q,
            "mde_pct": None if mde is None else mde * 100.0,
            "decide": decide})
    return tested, lone_level


def gate_outcome(found, counts, only_in_base, args):
    """The exit status and the facts behind it (the report's "gate" object)."""
    undecided_other = sum(1 for nc in found.not_compared if nc["kind"] in UNDECIDED_KINDS)
    judged = len(found.rows) + undecided_other
    undecided = counts[INCONCLUSIVE] + undecided_other
    missing = len(only_in_base) + len(found.missing_metrics)
    failures = []
    if counts[REGRESSED]:
        failures.append("%d row%s regressed" % _n(counts[REGRESSED]))
    if found.new_errors:
        failures.append("%d benchmark%s newly erroring in NEW" % _n(len(found.new_errors)))
    if missing and not args.allow_missing:
        failures.append("%s missing from NEW (--allow-missing for a deliberate rename)"
                        % missing_text(only_in_base, found.missing_metrics))
    pct = 100.0 * undecided / judged if judged else 0.0
    if failures:
        code = EXIT_REGRESSION
    elif judged == 0:
        raise UsageError("no common benchmark has a %s to compare"
                         % (("metric " + ", ".join(args.metric)) if args.metric
                            else "primary metric"))
    elif pct > args.max_inconclusive:
        code = EXIT_INCONCLUSIVE
    else:
        code = EXIT_OK
    evidence = ("%d of %d rows compared undecided (%.1f%%; at most %g%% allowed by "
                "--max-inconclusive)" % (undecided, judged, pct, args.max_inconclusive))
    return {
        "exit_code": code, "status": STATUS[code],
        "why": "; ".join(failures) if failures else evidence,
        "evidence": evidence,
        "rows_compared": judged, "rows_undecided": undecided,
        "undecided_pct": pct, "max_inconclusive_pct": args.max_inconclusive,
        "regressed": counts[REGRESSED], "new_errors": len(found.new_errors),
        "missing_benchmarks": len(only_in_base), "missing_metrics": len(found.missing_metrics),
        "missing_allowed": bool(args.allow_missing),
    }


def _n(count):
    return count, "" if count == 1 else "s"


def missing_text(only_in_base, missing_metrics):
    parts = []
    if only_in_base:
        parts.append("%d benchmark%s" % _n(len(only_in_base)))
    if missing_metrics:
        parts.append("%d metric%s" % _n(len(missing_metrics)))
    return " and ".join(parts)


def compare(base, new, args):
    """The whole report as a dict; raise UsageError on unusable input."""
    check_inputs(base, new)
    env_lines = check_environments(base, new, args.allow_env_mismatch)
    if args.normalize_floors and base.c2c_definition() != new.c2c_definition():
        raise UsageError(
            "--normalize-floors: the core-to-core floors are different statistics (BASE %s, "
            "NEW %s), so ratios to them cannot be compared; compare without "
            "--normalize-floors" % (base.c2c_definition(), new.c2c_definition()))
    bb, nb = base.benchmarks(), new.benchmarks()
    if not any(name in nb for name in bb):
        raise UsageError("%s and %s have no benchmark in common" % (base.path, new.path))

    pair = None if args.unpaired else pairing(base, new)
    per_round = pair[0] if pair else None
    probes = round_probes(base, pair[1]) if pair else None
    shifted = shifted_rounds(probes, args.floor_shift_limit)
    found = collect(base, new, args, per_round, shifted, 1.0 - args.alpha)
    rows = found.rows
    tested, lone_level = judge(rows, args, shifted)
    order = {name: i for i, name in enumerate(bb)}
    rows.sort(key=lambda r: (VERDICT_ORDER[r["verdict"]], order[r["benchmark"]]))
    counts = {v: sum(1 for r in rows if r["verdict"] == v) for v in gate_stats.VERDICTS}
    only_in_base = [n for n in bb if n not in nb]
    gate = gate_outcome(found, counts, only_in_base, args)

    if pair:
        mode_key = "paired"
        mode = ("paired: %s rounds from one ab.py run (ABBA order), t-test on per-round "
                "log ratios" % (pair[1] if pair[1] is not None else "?"))
        if probes is None:
            mode += ("; BASE holds no floor probes from ab.py, so every round is kept "
                     "(a round on two vCPU placements widens the interval)")
        elif args.floor_shift_limit:
            mode += ("; a round is left out when the baseline build's floor probes around "
                     "its runs differ more than %gx (%d left out)"
                     % (args.floor_shift_limit, len(shifted)))
        else:
            mode += "; every round kept (--floor-shift-limit 0)"
    elif any(r["test"] == gate_stats.MANN_WHITNEY for r in rows):
        mode_key = "unpaired"
        mode = ("unpaired: repetitions of one run per side, Mann-Whitney U (the +-%g%% "
                "band still judges the medians); run-to-run drift is not captured, prefer "
                "scripts/ab.py" % args.single_run_band)
    else:
        mode_key = "single"
        mode = ("single values: no repetitions, so only changes beyond +-%g%% are called; "
                "use --benchmark_repetitions or scripts/ab.py" % args.single_run_band)
    notes = list(env_lines)
    for res, side in ((base, "BASE"), (new, "NEW")):
        notes.extend("%s run: %s" % (side, w) for w in res.noisy())
    floors = floor_changes(base, new)
    if not args.normalize_floors:
        drifted = [f for f in floors if f["change_pct"] is not None
                   and abs(f["change_pct"]) >= args.threshold]
        if drifted:
            notes.append("floors differ between the runs (%s): the host itself changed "
                         "speed; consider --normalize-floors"
                         % ", ".join("%s %+.0f%%" % (f["floor"], f["change_pct"]) for f in drifted))
    if shifted:
        notes.append(shift_text(shifted) + "; every comparison lost %s"
                     % ("that round" if len(shifted) == 1 else "those rounds"))
    for e in found.new_errors:
        notes.append("%s ran in BASE but errored in NEW: %s" % (e["benchmark"], e["error"]))
    return {
        "schema_version": REPORT_SCHEMA, "tool": PROG,
        "base": describe(base), "new": describe(new),
        "mode": mode_key,
        "mode_text": mode,
        "threshold_pct": args.threshold, "alpha": args.alpha,
        "multiple_comparisons": ("Benjamini-Hochberg over %d tests" % tested if tested
                                 else "no statistical tests"),
        "mde_level": lone_level,
        "mde_text": ("mde: the smallest worsening each row could have flagged were it the "
                     "only change (significance %.2g = alpha / %d tests)"
                     % (lone_level, max(tested, 1))),
        "single_run_band_pct": args.single_run_band,
        "normalized": bool(args.normalize_floors),
        "normalization": NORMALIZATION_TEXT if args.normalize_floors else None,
        "rounds_left_out": sorted(rnd + 1 for rnd in shifted),
        "floors": floors, "notes": notes,
        "only_in_base": only_in_base,
        "only_in_new": [n for n in nb if n not in bb],
        "missing_metrics": found.missing_metrics,
        "new_metrics": found.new_metrics,
        "new_errors": found.new_errors,
        "not_compared": found.not_compared,
        "counts": counts, "gate": gate,
        "regression": gate["exit_code"] == EXIT_REGRESSION,
        "exit_code": gate["exit_code"],
        "comparisons": rows,
    }


def _median_of(by_round):
    return _median([v for vs in by_round.values() for v in vs])


def describe(res):
    return {"path": res.path, "host": res.host, "date": res.date,
            "git_revision": res.env.get("git_revision"), "profile": res.profile}


def floor_changes(base, new):
    out = []
    for key in ("c2c_rtt_ns", "memcpy_gbps_cache", "memcpy_gbps_dram", "syscall_ns"):
        a, b = base.floors.get(key), new.floors.get(key)
        change = (b / a - 1.0) * 100.0 if _positive_number(a) and _positive_number(b) else None
        out.append({"floor": key, "base": a, "new": b, "change_pct": change})
    return out


# --------------------------------------------------------------------- output

def fmt_value(value, metric, normalized_by):
    if value is None:
        return "-"
    if normalized_by:
        return "%.3gx %s" % (value, "c2c" if normalized_by == "c2c_rtt_ns" else "memcpy")
    if metric.endswith("_ns"):
        for scale, unit in ((1e9, "s"), (1e6, "ms"), (1e3, "us")):
            if abs(value) >= scale:
                return "%.3g %s" % (value / scale, unit)
        return "%.3g ns" % value
    if metric.endswith("_per_second"):
        unit = "B/s" if metric.startswith("bytes") else "/s"
        for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= scale:
                return "%.3g %s%s" % (value / scale, prefix, unit)
        return "%.3g %s" % (value, unit)
    return "%.4g" % value


def fmt_pct(v):
    return "-" if v is None else "%+.1f%%" % v


def fmt_ci(row):
    if row["ci_low_pct"] is None:
        return "-"
    return "%+.1f%% .. %+.1f%%" % (row["ci_low_pct"], row["ci_high_pct"])


def fmt_mde(row):
    if row["mde_pct"] is None:
        return "no test"
    return "%.1f%%" % row["mde_pct"]


def table_cells(row):
    return [row["verdict"], row["benchmark"], row["metric"],
            fmt_value(row["base"], row["metric"], row["normalized_by"]),
            fmt_value(row["new"], row["metric"], row["normalized_by"]),
            fmt_pct(row["change_pct"]), fmt_ci(row), fmt_mde(row),
            gate_stats.fmt_p(row["q_value"])]


HEADER = ["verdict", "benchmark", "metric", "base", "new", "change",
          "%d%% interval", "mde", "q"]


def header(report):
    h = list(HEADER)
    h[6] = h[6] % round((1.0 - report["alpha"]) * 100)
    return h


def summary_line(report):
    c = report["counts"]
    return "%d regressed, %d improved, %d inconclusive, %d unchanged" % (
        c[REGRESSED], c[IMPROVED], c[INCONCLUSIVE], c[UNCHANGED])


def side_text(side):
    rev = side["git_revision"] or "revision unknown"
    return "%s (%s, %s%s)" % (side["path"], rev, side["host"],
                              ", " + side["date"] if side["date"] else "")


def settings_lines(report):
    lines = ["mode: " + report["mode_text"],
             "threshold +-%g%%, alpha %g, %s" % (report["threshold_pct"], report["alpha"],
                                                report["multiple_comparisons"]),
             report["mde_text"]]
    if report["normalized"]:
        lines.append("NORMALIZED by floors: " + report["normalization"])
    else:
        lines.append("raw values (not normalized by floors)")
    known = [f for f in report["floors"] if f["base"] is not None or f["new"] is not None]
    if known:
        lines.append("floors: " + "; ".join(
            "%s %s -> %s%s" % (f["floor"], _g(f["base"]), _g(f["new"]),
                               "" if f["change_pct"] is None else " (%+.1f%%)" % f["change_pct"])
            for f in known))
    return lines


def _g(v):
    return "?" if v is None else "%g" % v if isinstance(v, (int, float)) else str(v)


def listing_lines(report):
    """(label, item) pairs for everything outside the verdict table, failures first."""
    missing_tag = "missing from NEW%s" % (" (allowed)" if report["gate"]["missing_allowed"]
                                          else "")
    out = [("newly erroring in NEW", "%s: %s" % (e["benchmark"], e["error"]))
           for e in report["new_errors"]]
    out += [(missing_tag, n) for n in report["only_in_base"]]
    out += [(missing_tag, "%s metric %s" % (m["benchmark"], m["metric"]))
            for m in report["missing_metrics"]]
    out += [("not compared", "%s%s: %s" % (nc["benchmark"],
                                           " " + nc["metric"] if "metric" in nc else "",
                                           nc["reason"]))
            for nc in report["not_compared"] if nc["kind"] != "errored_in_new"]
    out += [("new (only in NEW)", n) for n in report["only_in_new"]]
    out += [("new metric (only in NEW)", "%s metric %s" % (m["benchmark"], m["metric"]))
            for m in report["new_metrics"]]
    return out


def render_text(report):
    out = ["ipcmeter compare: %s -> %s" % (side_text(report["base"]), side_text(report["new"]))]
    out += settings_lines(report)
    out += ["WARNING: " + n for n in report["notes"]]
    out.append("")
    rows = [header(report)] + [table_cells(r) for r in report["comparisons"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, r in enumerate(rows):
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    out.append("")
    for r in report["comparisons"]:
        if r["verdict"] != UNCHANGED:
            out.append("%s %s %s: %s" % (r["verdict"], r["benchmark"], r["metric"], r["reason"]))
    out += ["%s: %s" % pair for pair in listing_lines(report)]
    gate = report["gate"]
    out.append("result: %s -> %s (%s)" % (summary_line(report), gate["status"].upper()
                                          if gate["exit_code"] else gate["status"],
                                          gate["why"]))
    return "\n".join(out) + "\n"


def md_escape(text):
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def md_table(report, rows):
    cells = [table_cells(r) for r in rows]
    lines = ["| " + " | ".join(header(report)) + " |",
             "|" + "|".join("---" for _ in HEADER) + "|"]
    for c in cells:
        c[0] = "**%s**" % c[0] if c[0] in (REGRESSED, IMPROVED) else c[0]
        c[1] = "`%s`" % c[1].replace("`", "'")
        lines.append("| " + " | ".join(md_escape(x) for x in c) + " |")
    return lines


# The Markdown headline per exit status. "✅ no regression" only ever means exit 0.
HEADLINE = {
    EXIT_OK: ("✅ no regression", "No regression, with enough evidence"),
    EXIT_REGRESSION: ("❌ regression", "Regression"),
    EXIT_INCONCLUSIVE: ("⚠️ inconclusive", "Inconclusive: not enough evidence to say "
                                           "there is no regression"),
}


def render_markdown(report):
    gate = report["gate"]
    badge, words = HEADLINE[gate["exit_code"]]
    tail = "" if gate["why"] == gate["evidence"] else " " + gate["evidence"] + "."
    out = ["## ipcmeter gate: %s" % badge, "",
           "**%s** — %s." % (words, md_escape(gate["why"])), "",
           md_escape("%s.%s" % (summary_line(report), tail)), "",
           "- base: `%s`" % side_text(report["base"]).replace("`", "'"),
           "- new: `%s`" % side_text(report["new"]).replace("`", "'")]
    out += ["- " + md_escape(line) for line in settings_lines(report)]
    out.append("")
    for n in report["notes"]:
        out += ["> **Warning:** " + md_escape(n), ""]
    shown = [r for r in report["comparisons"] if r["verdict"] != UNCHANGED]
    hidden = [r for r in report["comparisons"] if r["verdict"] == UNCHANGED]
    if shown:
        out += md_table(report, shown) + [""]
        out += ["<details><summary>Why not unchanged</summary>", ""]
        out += ["- `%s` %s: %s — %s" % (r["benchmark"], r["metric"], r["verdict"],
                                         md_escape(r["reason"])) for r in shown]
        out += ["", "</details>", ""]
    if hidden:
        out += ["<details><summary>%d unchanged</summary>" % len(hidden), ""]
        out += md_table(report, hidden) + ["", "</details>", ""]
    extra = ["- %s: %s" % (label, md_escape(item)) for label, item in listing_lines(report)]
    if extra:
        out += extra + [""]
    out.append("Verdicts: *regressed*/*improved* = significant after Benjamini-Hochberg "
               "control and beyond the threshold; *unchanged* = interval inside the "
               "threshold; *inconclusive* = too few repetitions or too noisy to tell. "
               "*mde* = the smallest worsening the row could have flagged were it the only "
               "change. Exit 0 = no regression with enough evidence, 1 = regression (or a "
               "benchmark newly erroring or missing), 3 = inconclusive.")
    return "\n".join(out) + "\n"


def render_json(report):
    return json.dumps(report, indent=2, sort_keys=False) + "\n"


def write_atomic(outputs):
    """Write {path: text} so that either every file appears whole or none changes: each
    text goes to a temporary file beside its target first, and only when all are written
    are they renamed into place."""
    done = []
    try:
        for path, text in outputs.items():
            fd, tmp = tempfile.mkstemp(prefix=".compare-",
                                       dir=os.path.dirname(os.path.abspath(path)))
            done.append(tmp)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
        for tmp, path in zip(done, outputs):
            os.replace(tmp, path)
    except BaseException:
        for tmp in done:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise


def check_output_path(path, flag):
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError("%s %s: is a directory" % (flag, path))
    if not os.path.isdir(directory):
        raise UsageError("%s %s: directory %s does not exist" % (flag, path, directory))
    if not os.access(directory, os.W_OK):
        raise UsageError("%s %s: directory %s is not writable" % (flag, path, directory))


# ----------------------------------------------------------------------- main

def build_parser():
    p = ipcmeter_results.ArgumentParser(prog=PROG, description=__doc__,
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
    p.add_argument("--unpaired", action="store_true",
                   help="ignore the round pairing of files written by ab.py")
    p.add_argument("--single-run-band", type=float, default=50.0, metavar="PCT",
                   help="without repetitions, only changes beyond this are called "
                        "(default 50)")
    p.add_argument("--markdown", metavar="FILE", help="also write a Markdown summary "
                   "(for a PR comment)")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
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
            if path:
                check_output_path(path, flag)
        report = compare(load(args.base), load(args.new), args)
    except (ResultsError, UsageError) as e:
        print("%s: %s" % (PROG, e), file=sys.stderr)
        return EXIT_UNUSABLE
    text = render_text(report)
    outputs = {}
    if args.markdown:
        outputs[args.markdown] = render_markdown(report)
    if args.json:
        outputs[args.json] = render_json(report)
    try:
        write_atomic(outputs)
    except OSError as e:
        print("%s: cannot write %s: %s" % (PROG, e.filename or "output", e.strerror or e),
              file=sys.stderr)
        return EXIT_UNUSABLE
    sys.stdout.write(text)
    return report["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
