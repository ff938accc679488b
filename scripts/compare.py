#!/usr/bin/python3
"""Compare two ipcmeter results files and give a verdict per benchmark and metric.

  compare.py BASE.json NEW.json [--threshold PCT] [--metric NAME] [--normalize-floors]
                                [--markdown FILE] [--json FILE]

Benchmarks are matched by name. Each family's primary metrics are compared (pingpong:
rtt_p50_ns and rtt_p99_ns; stream, fanin: bytes_per_second and items_per_second;
spawn: ready_p50_ns; others: their time), or the --metric ones.

Verdicts: regressed / improved (significant after Benjamini-Hochberg control across
all comparisons AND at least --threshold in size), unchanged (the confidence interval
lies inside +-threshold), inconclusive (too few repetitions, or too noisy to tell;
the reason is printed). The test depends on the input:
  paired      both files written by one scripts/ab.py run: a t-test on the per-round
              log ratios (each round ran both builds back to back, so machine drift
              cancels). A round in which the core-to-core floor measured right before
              each repetition (floor_c2c_rtt_ns; median per build) differs between the
              builds by more than --floor-shift-limit times is left out of that
              benchmark's test, and the verdict says so: the host moved the vCPUs
              between the two builds' runs, so that round's ratio compares two
              placements, not two builds;
  unpaired    repetitions (--benchmark_repetitions) on both sides: Mann-Whitney U and
              a bootstrap interval of the ratio of medians; repetitions of one run do
              not see run-to-run drift, so prefer scripts/ab.py;
  single      one value per side: inconclusive unless the change exceeds
              --single-run-band.

Environments that differ in CPU model, core count, kernel or build type are refused
(exit 2) unless --allow-env-mismatch, which compares anyway under a loud warning.

Exit status: 0 no regression, 1 regression, 2 unusable input (one line on stderr,
nothing written).
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
REPORT_SCHEMA = 1

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


# The per-repetition counter that witnesses where the host placed the two CPUs: the
# core-to-core round trip measured right before the repetition (bench/pingpong.cpp).
FLOOR_WITNESS = "floor_c2c_rtt_ns"
# On the development VM that floor sits near 50, 130 or 500 ns depending on how the host
# places the vCPUs, and varies by about +-15% within one placement; when the two builds'
# median floors in a round differ by more than this factor, they ran on two placements.
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
        v = record.metrics.get(FLOOR_WITNESS)
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


def witness_by_round(records, per_round):
    """{round: median FLOOR_WITNESS of these repetitions}, for the rounds that have one."""
    seen = {}
    for r in records:
        v = r.metrics.get(FLOOR_WITNESS)
        if _positive_number(v):
            seen.setdefault(round_of(r, per_round), []).append(float(v))
    return {rnd: _median(vs) for rnd, vs in seen.items()}


def shifted_rounds(base_records, new_records, per_round, limit):
    """{round: (base floor, new floor)} for the rounds whose median FLOOR_WITNESS differs
    between the two builds by more than `limit` times: the host moved the vCPUs between
    the builds' runs. Medians, like the per-round statistic itself, so one repetition on
    another placement moves neither. Empty when limit is 0 or there is no witness."""
    if not limit:
        return {}
    wb = witness_by_round(base_records, per_round)
    wn = witness_by_round(new_records, per_round)
    return {rnd: (wb[rnd], wn[rnd]) for rnd in sorted(set(wb) & set(wn))
            if max(wb[rnd], wn[rnd]) > limit * min(wb[rnd], wn[rnd])}


def shift_text(shifted):
    one = len(shifted) == 1
    return "%d round%s left out because the core-to-core floor differed between the " \
           "builds' runs (%s): the host moved the vCPUs in between" % (
               len(shifted), "" if one else "s",
               ", ".join("round %d %.0f vs %.0f ns" % (rnd + 1, fb, fn)
                         for rnd, (fb, fn) in sorted(shifted.items())))


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


def compare(base, new, args):
    """The whole report as a dict; raise UsageError on unusable input."""
    vb, vn = base.meta.get("schema_version"), new.meta.get("schema_version")
    if vb != vn:
        raise UsageError("%s has schema_version %s but %s has %s; compare files of one "
                         "schema" % (base.path, vb, new.path, vn))
    for res in (base, new):
        benches = res.benchmarks()
        if not benches:
            raise UsageError("%s: no benchmarks in the file" % res.path)
        if res.all_errored():
            raise UsageError("%s: every benchmark errored (%s); nothing to compare"
                             % (res.path, next(iter(res.errors().values()), "?")))
    env_lines = check_environments(base, new, args.allow_env_mismatch)

    bb, nb = base.benchmarks(), new.benchmarks()
    common = [name for name in bb if name in nb]
    if not common:
        raise UsageError("%s and %s have no benchmark in common" % (base.path, new.path))

    pair = None if args.unpaired else pairing(base, new)
    per_round = pair[0] if pair else None
    threshold = args.threshold / 100.0
    confidence = 1.0 - args.alpha

    rows, not_compared = [], []
    for name in common:
        b_ok = [r for r in bb[name] if r.error is None]
        n_ok = [r for r in nb[name] if r.error is None]
        if not b_ok or not n_ok:
            if b_ok or n_ok:
                side, recs = ("NEW", nb[name]) if b_ok else ("BASE", bb[name])
                reason = "errored in %s only: %s" % (side, recs[0].error)
            else:
                reason = "errored on both sides: %s" % nb[name][0].error
            not_compared.append({"benchmark": name, "reason": reason})
            continue
        family = b_ok[0].family
        metrics = args.metric or PRIMARY_METRICS.get(family, ["real_time_ns"])
        shifted = shifted_rounds(b_ok, n_ok, per_round, args.floor_shift_limit) \
            if per_round else {}
        for metric in metrics:
            xs, fb = samples(base, b_ok, metric, per_round, args.normalize_floors, shifted)
            ys, fn = samples(new, n_ok, metric, per_round, args.normalize_floors, shifted)
            if xs is None or ys is None:
                side = "BASE" if xs is None else "NEW"
                floor = (fb if xs is None else fn).split(":", 1)[1]
                not_compared.append({"benchmark": name, "metric": metric,
                                     "reason": "cannot normalise: floor %s unknown in %s"
                                     % (floor, side)})
                continue
            if not xs or not ys:
                if shifted and samples(base, b_ok, metric, per_round, False)[0] \
                        and samples(new, n_ok, metric, per_round, False)[0]:
                    not_compared.append({"benchmark": name, "metric": metric,
                                         "reason": "no round left: " + shift_text(shifted)})
                continue
            if per_round:
                est = gate_stats.estimate_paired(xs, ys, confidence)
            else:
                est = gate_stats.estimate_unpaired(xs.get(0, []), ys.get(0, []), confidence)
            if est is None:
                continue
            rows.append({"benchmark": name, "family": family, "metric": metric,
                         "higher_is_better": higher_is_better(metric),
                         "normalized_by": fb or fn,
                         "base": _median_of(xs), "new": _median_of(ys), "est": est,
                         "rounds_left_out": sorted(rnd + 1 for rnd in shifted),
                         "shift": shift_text(shifted) if shifted else None})
    if not rows:
        what = ("metric " + ", ".join(args.metric)) if args.metric else "primary metric"
        raise UsageError("%s and %s: no common benchmark has a %s to compare"
                         % (base.path, new.path, what))

    qs = gate_stats.benjamini_hochberg([r["est"].p for r in rows])
    single = args.single_run_band / 100.0
    for row, q in zip(rows, qs):
        est = row.pop("est")
        if est.ratio is None:
            verdict, reason = INCONCLUSIVE, est.note
        else:
            verdict, reason = gate_stats.classify(est, q, threshold, args.alpha,
                                                  row["higher_is_better"], single)
        shift = row.pop("shift")
        if shift:
            reason = "%s; %s" % (reason, shift)
        row.update({
            "verdict": verdict, "reason": reason, "test": est.method,
            "n_base": est.n_base, "n_new": est.n_new,
            "ratio": est.ratio,
            "change_pct": None if est.ratio is None else (est.ratio - 1.0) * 100.0,
            "ci_low_pct": None if est.ci is None else (est.ci[0] - 1.0) * 100.0,
            "ci_high_pct": None if est.ci is None else (est.ci[1] - 1.0) * 100.0,
            "p_value": est.p, "q_value": q})
    order = {name: i for i, name in enumerate(common)}
    rows.sort(key=lambda r: (VERDICT_ORDER[r["verdict"]], order[r["benchmark"]]))

    tested = sum(1 for r in rows if r["p_value"] is not None)
    counts = {v: sum(1 for r in rows if r["verdict"] == v) for v in gate_stats.VERDICTS}
    if pair:
        mode_key = "paired"
        mode = ("paired: %s rounds from one ab.py run (ABBA order), t-test on per-round "
                "log ratios" % (pair[1] if pair[1] is not None else "?"))
        mode += ("; a round whose core-to-core floor differs more than %gx between the "
                 "builds is left out" % args.floor_shift_limit if args.floor_shift_limit
                 else "; every round kept (--floor-shift-limit 0)")
    elif any(r["test"] == "mann-whitney" for r in rows):
        mode_key = "unpaired"
        mode = ("unpaired: repetitions of one run per side, Mann-Whitney U; run-to-run "
                "drift is not captured, prefer scripts/ab.py")
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
    moved = sum(1 for r in rows if r["rounds_left_out"])
    if moved:
        notes.append("%d of %d comparisons had rounds left out because the host moved the "
                     "vCPUs between the builds' runs (see each verdict's reason)"
                     % (moved, len(rows)))
    for nc in not_compared:
        if nc["reason"].startswith("errored in NEW"):
            notes.append("%s ran in BASE but errored in NEW" % nc["benchmark"])
    return {
        "schema_version": REPORT_SCHEMA, "tool": PROG,
        "base": describe(base), "new": describe(new),
        "mode": mode_key,
        "mode_text": mode,
        "threshold_pct": args.threshold, "alpha": args.alpha,
        "multiple_comparisons": ("Benjamini-Hochberg over %d tests" % tested if tested
                                 else "no statistical tests"),
        "single_run_band_pct": args.single_run_band,
        "normalized": bool(args.normalize_floors),
        "normalization": NORMALIZATION_TEXT if args.normalize_floors else None,
        "floors": floors, "notes": notes,
        "only_in_base": [n for n in bb if n not in nb],
        "only_in_new": [n for n in nb if n not in bb],
        "not_compared": not_compared,
        "counts": counts, "regression": counts[REGRESSED] > 0,
        "exit_code": 1 if counts[REGRESSED] else 0,
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


def table_cells(row):
    return [row["verdict"], row["benchmark"], row["metric"],
            fmt_value(row["base"], row["metric"], row["normalized_by"]),
            fmt_value(row["new"], row["metric"], row["normalized_by"]),
            fmt_pct(row["change_pct"]), fmt_ci(row), gate_stats.fmt_p(row["q_value"])]


HEADER = ["verdict", "benchmark", "metric", "base", "new", "change",
          "%d%% interval", "q"]


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
                                                report["multiple_comparisons"])]
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
    for nc in report["not_compared"]:
        out.append("not compared: %s%s: %s" % (nc["benchmark"],
                                               " " + nc["metric"] if "metric" in nc else "",
                                               nc["reason"]))
    for key, side in (("only_in_base", "BASE"), ("only_in_new", "NEW")):
        if report[key]:
            out.append("only in %s: %s" % (side, ", ".join(report[key])))
    out.append("result: %s -> %s" % (summary_line(report),
                                     "REGRESSION" if report["regression"] else "no regression"))
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


def render_markdown(report):
    status = ("❌ regression" if report["regression"] else "✅ no regression")
    out = ["## ipcmeter gate: %s" % status, "",
           "**%s**" % md_escape(summary_line(report)), "",
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
    extra = ["- not compared: `%s`%s: %s" % (nc["benchmark"],
                                            " " + nc["metric"] if "metric" in nc else "",
                                            md_escape(nc["reason"]))
             for nc in report["not_compared"]]
    for key, side in (("only_in_base", "base"), ("only_in_new", "new")):
        extra += ["- only in %s: `%s`" % (side, n) for n in report[key]]
    if extra:
        out += extra + [""]
    out.append("Verdicts: *regressed*/*improved* = significant after Benjamini-Hochberg "
               "control and beyond the threshold; *unchanged* = interval inside the "
               "threshold; *inconclusive* = too few repetitions or too noisy to tell.")
    return "\n".join(out) + "\n"


def render_json(report):
    return json.dumps(report, indent=2, sort_keys=False) + "\n"


def write_atomic(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".compare-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
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
    p.add_argument("--floor-shift-limit", type=float, default=FLOOR_SHIFT_LIMIT,
                   metavar="RATIO",
                   help="paired files: leave out a round whose core-to-core floor "
                        "(median floor_c2c_rtt_ns, measured before each repetition) "
                        "differs between the builds by more than RATIO times (default "
                        "%g; 0 keeps every round)"
                        % FLOOR_SHIFT_LIMIT)
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
        for path, flag in ((args.markdown, "--markdown"), (args.json, "--json")):
            if path:
                check_output_path(path, flag)
        report = compare(load(args.base), load(args.new), args)
    except (ResultsError, UsageError) as e:
        print("%s: %s" % (PROG, e), file=sys.stderr)
        return 2
    text = render_text(report)
    try:
        if args.markdown:
            write_atomic(args.markdown, render_markdown(report))
        if args.json:
            write_atomic(args.json, render_json(report))
    except OSError as e:
        print("%s: cannot write %s: %s" % (PROG, e.filename or "output", e.strerror or e),
              file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return report["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
