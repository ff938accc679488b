"""compare.py's report as text (stdout), Markdown (a PR comment) and JSON."""

import json
import math

from . import gate_stats
from .gate import EXIT_INCONCLUSIVE, EXIT_OK, EXIT_REGRESSION
from .gate_stats import IMPROVED, INCONCLUSIVE, REGRESSED, UNCHANGED


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
            fmt_threshold(row), gate_stats.fmt_p(row["q_value"])]


def fmt_threshold(row):
    """The change from which the row is flagged and, when a learned band is wider, the
    band inside which it is called unchanged."""
    text = "%g%%" % round(row["threshold_pct"], 1)
    within = row.get("unchanged_within_pct")
    if within is not None and within > row["threshold_pct"]:
        text += " (+-%.0f%%)" % within
    return text


HEADER = ["verdict", "benchmark", "metric", "base", "new", "change",
          "%d%% interval", "mde", "threshold", "q"]


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
    noise = report.get("noise")
    if noise:
        lines.append("bands per row from %s (K = %g, learned %s from %s A/A trials): "
                     "%d of the rows compared may be called unchanged within K x their "
                     "spread between identical builds, wider than +-%g%% (the threshold "
                     "column's +-N%%); a row's test takes its own spread down to the "
                     "5th percentile of what its learned one would give, and flags from %g%%"
                     % (noise["file"], noise["k"], noise["learned"], noise["trials"],
                        noise["rows_with_learned_band"], report["threshold_pct"],
                        report["threshold_pct"]))
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
    if v is None:
        return "?"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        try:
            return "%g" % v
        except OverflowError:  # an integer too large for a float, as the file wrote it
            pass
    return str(v)


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
               "control and beyond the row's threshold (--threshold, or its spread between "
               "identical builds when larger, --noise); *unchanged* = interval inside the "
               "threshold, or inside the row's wider band (+-N%) learned from A/A runs "
               "(--noise: K x that spread); *inconclusive* = too "
               "few repetitions or too noisy to tell. *mde* = the smallest worsening the row "
               "could have flagged were it the only change. Exit 0 = no regression with "
               "enough evidence, 1 = regression (or a "
               "benchmark newly erroring or missing), 3 = inconclusive.")
    return "\n".join(out) + "\n"


def _standard(value):
    """value with every NaN or infinity (a results file may hold them, e.g. a floor that
    the report echoes) as null: standard JSON has no token for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _standard(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_standard(v) for v in value]
    return value


def render_json(report):
    return json.dumps(_standard(report), indent=2, sort_keys=False, allow_nan=False) + "\n"

