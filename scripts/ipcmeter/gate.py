"""compare.py's judgement: two results files in, a report (a dict) out.

Benchmarks are matched by name; each family's primary metrics or the --metric ones are
compared with gate_stats, paired over ab.py's rounds when both files
come from one ab.py run; the gate object says which exit status the evidence supports.
Rendering the report is gate_render's job; the command line is compare.py's.

What is judged, and which way is better, is NEW's schema (the file's ipcmeter.schema, else the
binary's --describe): NEW is the build under judgement and says what its counters mean, so a
metric it newly calls primary is judged wherever BASE's rows hold it too ("new" where they do
not, never "missing"), one it no longer calls primary is not judged, and a direction it changed
is applied to both sides. A counter NEW calls neither better nor worse (higher_is_better null:
tasks, window_msgs) is never judged, even when named with --metric. Where the two schemas
disagree about primaries or directions the report's notes say so.
"""

import json
import math
import os
import statistics

from . import gate_noise, gate_stats
from .gate_stats import IMPROVED, INCONCLUSIVE, REGRESSED, UNCHANGED
from .results import is_positive_number
# Re-exported: compare.py's callers and the probes in docs/probes/ use them as gate.X.
from .gate_pairing import (focus_rounds, pairing, round_of, round_probes,  # noqa: F401
                           shift_text, shifted_rounds)
from .schema import PRE_SCHEMA

TOOL = "compare.py"
# 2: exit status 3 (inconclusive), the "gate" object, mde_pct and decide per row.
REPORT_SCHEMA = 2

EXIT_OK, EXIT_REGRESSION, EXIT_UNUSABLE, EXIT_INCONCLUSIVE = 0, 1, 2, 3
STATUS = {EXIT_OK: "no regression", EXIT_REGRESSION: "regression",
          EXIT_INCONCLUSIVE: "inconclusive"}
MAX_INCONCLUSIVE = 10.0   # percent of the rows compared that may stay undecided

# Keys that make two runs measure different machines, refused (the signature because under KVM
# the model name is often only "AMD EPYC"); keys often outside the user's control, warned.
CRITICAL_ENV = ("cpu_model", "cpu_signature", "logical_cpus", "physical_cores", "kernel", "build_type")
SECONDARY_ENV = ("microcode", "smt", "numa_nodes", "virtualization", "governor", "cpuidle",
                 "turbo", "mitigations", "thp", "clocksource", "compiler", "cxx_flags")

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
# (bench/pingpong/pingpong_bench.cpp); --normalize-floors divides by it. It is measured by the code
# under test, so it never decides which rounds are left out (see round_probes()).
FLOOR_OF_THE_MOMENT = "floor_c2c_rtt_ns"
# On the development VM the core-to-core floor sits near 50, 130 or 500 ns depending on
# how the host places the vCPUs, and varies by about +-15% within one placement; when
# the probes around a round's two runs differ by more than this factor, the placement
# changed during the round.
FLOOR_SHIFT_LIMIT = 1.5


class UsageError(Exception):
    """Unusable input found after loading; str(e) is the one line to print."""


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


def round_floors(results, rnd):
    """The floors measured in round `rnd` of an ab.py file, else the file's floors."""
    ab = results.meta.get("ab")
    if rnd is not None and isinstance(ab, dict):
        per_round = ab.get("round_floors")
        if isinstance(per_round, list) and 0 <= rnd < len(per_round) \
                and isinstance(per_round[rnd], dict):
            return per_round[rnd]
    return results.floors


def floor_divisor(record, metric, floors):
    """(divisor, floor name) to normalise this metric, (None, name) if unknown,
    (None, None) when the metric has no floor."""
    family, params = record.family, record.params
    if family in LATENCY_FLOOR_FAMILIES and metric.endswith("_ns"):
        # The floor of the moment, when the benchmark measured one, beats the run's.
        v = record.metrics.get(FLOOR_OF_THE_MOMENT)
        if not is_positive_number(v):
            v = floors.get("c2c_rtt_ns")
        return (float(v) if is_positive_number(v) else None), "c2c_rtt_ns"
    if family in THROUGHPUT_FLOOR_FAMILIES and metric.endswith("_per_second"):
        by_size = floors.get("memcpy_gbps_by_size")
        size = params.get("size")
        if isinstance(by_size, dict) and is_positive_number(by_size.get(str(size))):
            return float(by_size[str(size)]) * 1e9, "memcpy_gbps"
        v = floors.get("memcpy_gbps_cache")
        return (float(v) * 1e9 if is_positive_number(v) else None), "memcpy_gbps"
    return None, None


# ------------------------------------------------------------------ comparison

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


def collect(base, new, args, per_round, shifted, confidence, focus=(None, frozenset())):
    """Walk the benchmarks both files hold: an estimate per benchmark and metric, and
    every row that cannot be compared sorted by why (errors, missing or new metrics,
    floors unknown, every round left out)."""
    bb, nb = base.benchmarks(), new.benchmarks()
    found = Collected()
    first_focus, focused = focus
    first_focus = math.inf if first_focus is None else first_focus
    # A focused row is judged on the focus rounds alone, every other row on the rest.
    focus_skip = set(shifted) | set(range(first_focus)) if focused else None
    for name in (n for n in bb if n in nb):
        skip = focus_skip if name in focused else shifted
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
        for metric in args.metric or new.schema.primary_metrics(family):
            higher = new.schema.higher_is_better(family, metric)
            if higher is None:
                found.skip(name, "%s is a fact of the row, neither better nor worse" % metric,
                           "not_a_measure", metric)
                continue
            in_base, in_new = _has_metric(b_ok, metric), _has_metric(n_ok, metric)
            if not in_new:
                if not in_base:
                    continue
                runs = sum(1 for r in b_ok if metric in r.metrics)
                if new.schema.required(family, metric) or runs == len(b_ok):
                    found.missing_metrics.append({"benchmark": name, "metric": metric})
                else:
                    # An optional counter BASE itself had only now and then: its absence
                    # from NEW is that state (a load row saturated in every run), not a
                    # metric the candidate dropped.
                    found.skip(name, "%s is left out of a run by design (not required) and "
                               "BASE had it in %d of %d runs only, NEW in none"
                               % (metric, runs, len(b_ok)), "optional_absent", metric)
                continue
            if not in_base:
                found.new_metrics.append({"benchmark": name, "metric": metric})
                continue
            xs, fb = samples(base, b_ok, metric, per_round, args.normalize_floors, skip)
            ys, fn = samples(new, n_ok, metric, per_round, args.normalize_floors, skip)
            if xs is None or ys is None:
                side = "BASE" if xs is None else "NEW"
                floor = (fb if xs is None else fn).split(":", 1)[1]
                found.skip(name, "cannot normalise: floor %s unknown in %s" % (floor, side),
                           "floor_unknown", metric)
                continue
            if not xs or not ys:
                # Data there, every round of it left out: undecided, not silently gone.
                if name in focused:
                    found.skip(name, "no focus round left to judge it by%s" % (
                        ": " + shift_text(shifted) if shifted else " (errored or missing "
                        "in the focus rounds of one side)"), "no_round_left", metric)
                elif shifted and samples(base, b_ok, metric, per_round, False)[0] \
                        and samples(new, n_ok, metric, per_round, False)[0]:
                    found.skip(name, "no round left: " + shift_text(shifted),
                               "no_round_left", metric)
                continue
            if per_round:
                est = gate_stats.estimate_paired(xs, ys, confidence, gate_noise.row_floors(
                    getattr(args, "noise_doc", None), name, metric))
            else:
                est = gate_stats.estimate_unpaired(xs.get(0, []), ys.get(0, []), confidence)
            if est is None:
                continue
            found.rows.append({"benchmark": name, "family": family, "metric": metric,
                               "higher_is_better": higher,
                               "normalized_by": fb or fn,
                               "base": _median_of(xs), "new": _median_of(ys), "est": est,
                               "rounds_left_out": sorted(rnd + 1 for rnd in shifted
                                                         if (rnd >= first_focus)
                                                         == (name in focused)),
                               "focus": name in focused})
    return found


def judge(rows, args, shifted):
    """Benjamini-Hochberg over the rows' tests, then a verdict, mde_pct and (when
    inconclusive) what would decide it for every row. Returns the number of tests."""
    qs = gate_stats.benjamini_hochberg([r["est"].p for r in rows])
    tested = sum(1 for r in rows if r["est"].p is not None)
    # A lone change must pass the first step of Benjamini-Hochberg: p <= alpha / m.
    lone_level = args.alpha / max(tested, 1)
    band = args.single_run_band / 100.0
    noise = getattr(args, "noise_doc", None)
    for row, q in zip(rows, qs):
        est = row.pop("est")
        threshold, within, within_why = gate_noise.row_limits(
            noise, row["benchmark"], row["metric"], args.threshold / 100.0)
        if est.ratio is None:
            verdict, reason = INCONCLUSIVE, est.note
        else:
            verdict, reason = gate_stats.classify(est, q, threshold, args.alpha,
                                                  row["higher_is_better"], band, within)
        mde = gate_stats.resolution(est, lone_level, band, row["higher_is_better"]) \
            if est.ratio is not None else None
        decide = None
        if verdict == INCONCLUSIVE and est.ratio is not None:
            unit, count, at_least = gate_stats.needed(est, lone_level, within)
            decide = {"unit": unit, "count": count, "at_least": at_least}
            reason = "%s; %s" % (reason, gate_stats.decide_text(decide, within * 100.0))
        if within_why:
            reason = "%s; %s" % (reason, within_why)
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
            "threshold_pct": threshold * 100.0, "unchanged_within_pct": within * 100.0,
            # Paired: the rounds' own spreads (light trim; each trim), pooled by gate_trials.py noise.
            "log_sd": est.log_sd if est.method == gate_stats.PAIRED_T else None,
            "log_sd_by_trim": gate_noise.by_trim_key(est.own_spreads) or None,
            # Paired: the test whose interval is shown, "trimmed-t" (cutting trim_pct from
            # each end) or "rank-shift".
            "trim_pct": None if est.trim is None else est.trim * 100.0,
            "paired_test": est.paired_test if est.method == gate_stats.PAIRED_T else None,
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
        facts = sorted({nc["metric"] for nc in found.not_compared if nc["kind"] == "not_a_measure"})
        if facts:
            raise UsageError("nothing to judge: %s %s of the row in NEW's schema "
                             "(higher_is_better null), neither better nor worse"
                             % (", ".join(facts), "is a fact" if len(facts) == 1 else "are facts"))
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


def describe_mode(pair, probes, shifted, rows, args):
    """(mode key, the sentence saying which test judged the rows and with what data)."""
    if pair:
        mode_key = "paired"
        mode = ("paired: %s rounds from one ab.py run (ABBA order), t-tests on per-round "
                "log ratios with %.0f%% and %.0f%% of them (rounded down) cut from each end "
                "and, for a row with %d rounds or more, a rank-shift test of the rounds' two "
                "sides (Hodges-Lehmann, Mann-Whitney), Bonferroni-combined"
                % (pair[1] if pair[1] is not None else "?", 100 * gate_stats.TRIM,
                   100 * gate_stats.HEAVY_TRIM, gate_stats.RANK_MIN_ROUNDS))
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
    return mode_key, mode


def report_notes(base, new, env_lines, floors, shifted, found, args):
    """Warnings the reader must see before the table: environment differences, noisy
    runs, floors that moved, rounds left out, benchmarks newly erroring."""
    notes = list(env_lines)
    notes.extend("schemas differ: %s; judged by NEW's" % d for d in base.schema.differences(new.schema))
    for res, side in ((base, "BASE"), (new, "NEW")):
        if res.schema is PRE_SCHEMA:
            notes.append("%s has no ipcmeter.schema and no ipcmeter binary could describe it: "
                         "read with the scripts' pre-schema table (--ipcmeter-bin)" % side)
    for res, side in ((base, "BASE"), (new, "NEW")):
        notes.extend("%s run: %s" % (side, w) for w in res.noisy())
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
    return notes


def focus_setting(focus, filter_key, rounds_key):
    """(filter, rounds) of focus rounds described by the dict `focus`, (None, 0) for none."""
    rounds = focus.get(rounds_key) if isinstance(focus, dict) else None
    return (focus.get(filter_key), rounds) if rounds else (None, 0)


def noise_focus_problem(noise, here):
    """The one line to print when the noise was learned from A/A trials whose focus rounds
    ran other rows than `here`'s ((filter, rounds), focus_setting's form) or none, else None:
    a focused row's spread over focus rounds is not its spread over the whole profile's, but
    a round's spread does not depend on how many a job has. Asked by ab.py and compare.py."""
    learned = focus_setting(noise.get("configuration"), "focus", "focus_rounds")
    if (learned[0], bool(learned[1])) == (here[0], bool(here[1])):
        return None
    return ("%s was learned from A/A trials with %s, but this comparison has %s: learn the "
            "bands from trials of this configuration (scripts/gate_trials.py aa, then noise) "
            "or leave out --noise" % (
                os.path.basename(noise["path"]),
                *("focus rounds %d of %r" % (r, f) if r else "no focus rounds"
                  for f, r in (learned, here))))


def compare(base, new, args):
    """The whole report as a dict; raise UsageError on unusable input."""
    check_inputs(base, new)
    env_lines = check_environments(base, new, args.allow_env_mismatch)
    noise = getattr(args, "noise_doc", None)
    if noise is not None:
        try:
            gate_noise.check_env(noise, new.env)
        except gate_noise.NoiseError as e:
            raise UsageError(str(e)) from None
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
    focus = focus_rounds(base, per_round)
    if noise is not None and pair:
        ab = base.meta.get("ab")
        problem = noise_focus_problem(noise, focus_setting(
            ab.get("focus") if isinstance(ab, dict) else None, "filter", "rounds"))
        if problem:
            raise UsageError(problem)
    probes = round_probes(base, pair[1]) if pair else None
    shifted = shifted_rounds(probes, args.floor_shift_limit)
    found = collect(base, new, args, per_round, shifted, 1.0 - args.alpha, focus)
    rows = found.rows
    tested, lone_level = judge(rows, args, shifted)
    order = {name: i for i, name in enumerate(bb)}
    rows.sort(key=lambda r: (VERDICT_ORDER[r["verdict"]], order[r["benchmark"]]))
    counts = {v: sum(1 for r in rows if r["verdict"] == v) for v in gate_stats.VERDICTS}
    only_in_base = [n for n in bb if n not in nb]
    gate = gate_outcome(found, counts, only_in_base, args)

    mode_key, mode = describe_mode(pair, probes, shifted, rows, args)
    first_focus, focused = focus
    if focused:
        mode += ("; rounds %d-%s are focus rounds (short runs of only the %d rows ab.py "
                 "--focus %r matched), and those rows are judged on them alone"
                 % (first_focus + 1, pair[1], len(focused),
                    base.meta["ab"]["focus"].get("filter")))
    floors = floor_changes(base, new)
    notes = report_notes(base, new, env_lines, floors, shifted, found, args)
    return {
        "schema_version": REPORT_SCHEMA, "tool": TOOL,
        "base": describe(base), "new": describe(new),
        "mode": mode_key,
        "mode_text": mode,
        "threshold_pct": args.threshold, "alpha": args.alpha,
        "noise": None if noise is None else {
            "file": noise["path"], "k": noise["k"], "learned": noise.get("learned"),
            "trials": noise.get("trials"), "rows": len(noise["rows"]),
            "rows_with_learned_band": sum(1 for r in rows if r["unchanged_within_pct"] > args.threshold)},
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


# What compare() reads of an entry besides its family's primary metrics (judged_part).
JUDGED_ENTRY_FIELDS = frozenset((
    "name", "run_name", "run_type", "aggregate_name", "aggregate_unit", "repetition_index",
    "repetitions", "time_unit", "iterations", "real_time", "cpu_time", "error_occurred",
    "error_message", "skipped", "skip_message", FLOOR_OF_THE_MOMENT))


def judged_part(res, schema=None):
    """The document of a loaded results file cut down to what compare() reads when it
    judges the primary metrics (no --metric): each benchmark entry keeps
    JUDGED_ENTRY_FIELDS and the primary metrics of its family in `schema` (pass NEW's:
    collect() asks NEW's schema which metrics to judge on both sides; default res's own);
    the "ipcmeter" and "context" objects stay whole. compare() gives the same report for
    these as for the whole files. scripts/gate_trials.py keeps this much of every trial, so
    trials can be judged again after their 35 MB of runs are gone."""
    schema = schema or res.schema
    keep = {}
    entries = []
    for entry, rec in zip(res.raw["benchmarks"], res.records):
        if rec.family not in keep:
            keep[rec.family] = JUDGED_ENTRY_FIELDS | set(schema.primary_metrics(rec.family))
        entries.append({k: v for k, v in entry.items() if k in keep[rec.family]})
    return dict(res.raw, benchmarks=entries)


def _median_of(by_round):
    return statistics.median([v for vs in by_round.values() for v in vs])


def describe(res):
    return {"path": res.path, "host": res.host, "date": res.date,
            "git_revision": res.env.get("git_revision"), "profile": res.profile,
            "schema": res.schema.source}


def floor_changes(base, new):
    out = []
    for key in ("c2c_rtt_ns", "memcpy_gbps_cache", "memcpy_gbps_dram", "syscall_ns"):
        a, b = base.floors.get(key), new.floors.get(key)
        change = (b / a - 1.0) * 100.0 if is_positive_number(a) and is_positive_number(b) else None
        out.append({"floor": key, "base": a, "new": b, "change_pct": change})
    return out

