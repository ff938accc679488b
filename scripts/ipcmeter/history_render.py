"""history.py's page (history.html, plots inline as PNG), its Markdown (history.md) and the
plots themselves: one figure per benchmark, a panel per primary metric, a line per machine."""

from __future__ import annotations

import base64
import html
import io
import json
import math

from . import history as hi
from .fmt import fmt_metric
from .plots.common import pyplot

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5em auto;max-width:1200px;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.5em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}h3{font-size:1em;margin-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0;font-size:.85em;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.regression{color:#a40;font-weight:bold}td.improvement{color:#070}
.note{color:#666;font-style:italic}.warn{background:#fff4d6;padding:.4em .6em;border-left:4px solid #e0a000}figure{margin:.6em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#444}
"""

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def short(revision: str) -> str:
    return revision if revision.startswith("run ") else revision[:12]


def _pct(v) -> str:
    return "n/a" if v is None else f"{v:+.1f}%"


def step_rows(h: hi.History) -> list:
    rows = [["benchmark", "metric", "machine", "revision", "before", "after", "size",
             "confidence", "kind", "coincides with"]]
    for s, st in sorted(h.steps(), key=lambda x: (x[0].benchmark, x[0].metric, x[0].machine.id,
                                                  x[1]["point"])):
        rows.append([s.benchmark, s.metric, s.machine.label, short(st["revision"]),
                     fmt_metric(s.metric, st["before"]), fmt_metric(s.metric, st["after"]),
                     _pct(st["size_pct"]), f"{st['confidence'] * 100:.1f}%", st["kind"] or "",
                     "; ".join(st["env_change"])])
    return rows


def revision_rows(m: hi.Machine) -> list:
    rows = [["#", "revision", "commit date", "run date", "files", "environment change"]]
    for r in m.revisions:
        rows.append([str(r.index + 1), r.name, hi.iso(r.commit_date) or "unknown (run date used)",
                     hi.iso(r.run_date) or "unknown", str(len(r.runs)),
                     "; ".join(m.env_changes.get(r.name, []))])
    return rows


def method_text(h: hi.History) -> str:
    d = h.detector
    return (f"Each point is one revision's median over its repetitions (rounds of ab.py count "
            f"as repetitions), the bar its min–max; the dashed line is the fitted level between "
            f"change points and the shaded band ±{hi.BAND_SIGMAS:g} revision-noise sigmas "
            f"around it. A change point is a split of the revision medians whose permutation "
            f"test ({hi.PERMUTATIONS} shuffles of the revisions, against the maximum over every "
            f"split, or over every interval for a step that returns) "
            f"gives p ≤ {d.alpha:g}, with at least {hi.MIN_SEGMENT} revisions on each side, and "
            f"whose change of level is at least {d.min_step_pct:g}% and {d.noise_multiple:g} "
            f"revision-noise sigmas. Confidence = 1 − p. Lines: one per machine "
            f"({'hostname and hardware' if h.group_by == 'host' else 'hardware, hostname ignored'}"
            f", and build type); never mixed.")


# ------------------------------------------------------------------ plots

def figure_png(plt, series: list, order: list) -> bytes:
    """One benchmark: a panel per metric, a line per machine, on the common revision axis."""
    from matplotlib.ticker import FuncFormatter
    metrics = list(dict.fromkeys(s.metric for s in series))
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 2.4), squeeze=False)
    machine_ids = list(dict.fromkeys(s.machine.id for s in series))
    used = sorted({p.index for s in series for p in s.points})
    for ax, metric in zip(axes[0], metrics):
        for s in (s for s in series if s.metric == metric):
            color = COLORS[machine_ids.index(s.machine.id) % len(COLORS)]
            _draw_series(ax, s, color)
        ax.set_title(metric, fontsize=8)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos, m=metric: fmt_metric(m, v)))
        ax.grid(True, alpha=0.3)
        ticks = used if len(used) <= 12 else used[::max(1, len(used) // 12)]
        ax.set_xticks(ticks)
        ax.set_xticklabels([short(order[i])[:8] for i in ticks], rotation=40, ha="right",
                           fontsize=6)
        ax.tick_params(axis="y", labelsize=7)
    if len(machine_ids) > 1:
        handles = [plt.Line2D([], [], color=COLORS[i % len(COLORS)], marker="o", lw=1)
                   for i in range(len(machine_ids))]
        labels = [next(s.machine.label for s in series if s.machine.id == mid)
                  for mid in machine_ids]
        axes[0][0].legend(handles, labels, fontsize=6, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    plt.close(fig)
    return buf.getvalue()


def _draw_series(ax, s: hi.Series, color):
    if not s.points:
        return
    xs = [p.index for p in s.points]
    med = [p.median for p in s.points]
    lo = [m - min(p.values) for m, p in zip(med, s.points)]
    hi_ = [max(p.values) - m for m, p in zip(med, s.points)]
    ax.errorbar(xs, med, yerr=[lo, hi_], color=color, marker="o", ms=3, lw=1, capsize=2)
    sigma = s.sigma or 0.0
    for a, b, level in s.levels:
        x0, x1 = s.points[a].index - 0.4, s.points[b].index + 0.4
        ax.plot([x0, x1], [level, level], color=color, ls="--", lw=0.8)
        if s.scale == "log":
            low, high = level * _exp(-hi.BAND_SIGMAS * sigma), level * _exp(hi.BAND_SIGMAS * sigma)
        else:
            low, high = level - hi.BAND_SIGMAS * sigma, level + hi.BAND_SIGMAS * sigma
        ax.fill_between([x0, x1], [low, low], [high, high], color=color, alpha=0.12, lw=0)
    for st in s.steps:
        ax.axvline(st["axis_index"] - 0.5, color=color, lw=1, alpha=0.7)
        ax.annotate(f"{_pct(st['size_pct'])} ({st['confidence'] * 100:.0f}%)",
                    (st["axis_index"] - 0.5, st["after"]), fontsize=6, color=color,
                    xytext=(3, 3), textcoords="offset points")


def _exp(v):
    return math.exp(v)


def plots(h: hi.History) -> dict:
    """benchmark -> PNG bytes, for every benchmark with at least one point."""
    plt = pyplot()
    by_bench: dict = {}
    for s in h.series:
        if s.points:
            by_bench.setdefault(s.benchmark, []).append(s)
    return {b: figure_png(plt, ss, h.revision_order) for b, ss in by_bench.items()}


# ------------------------------------------------------------------ HTML and Markdown

def _table(rows, kind_col=None) -> str:
    out = ["<table><thead><tr>", *(f"<th>{html.escape(c)}</th>" for c in rows[0]),
           "</tr></thead><tbody>"]
    for row in rows[1:]:
        out.append("<tr>")
        for i, c in enumerate(row):
            cls = f" class=\"{row[kind_col]}\"" if kind_col is not None and i == kind_col \
                and row[kind_col] in ("regression", "improvement") else ""
            out.append(f"<td{cls}>{html.escape(c)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def render_html(h: hi.History, pngs: dict) -> str:
    n_steps = len(h.steps())
    title = "ipcmeter history"
    out = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
           f"<title>{title}</title><style>{CSS}</style></head><body>",
           f"<h1>{title}</h1>",
           f"<p>{len(h.revision_order)} revision(s), {len(h.machines)} machine line(s), "
           f"{len(h.series)} series, {n_steps} change point(s).</p>",
           f"<p class=\"note\">{html.escape(method_text(h))}</p>",
           *([f"<p class=\"warn\">{html.escape(h.ordering_note())}</p>"]
             if h.ordering_note() else []),
           "<h2>Change points</h2>"]
    out.append(_table(step_rows(h), kind_col=8) if n_steps else
               "<p>No change point: no series stepped beyond its noise.</p>")
    out.append("<h2>Machines and revisions</h2>")
    for m in h.machines:
        out.append(f"<h3>{html.escape(m.label)}</h3>{_table(revision_rows(m))}")
    out.append("<h2>Trends</h2>")
    family = None
    by_bench: dict = {}
    # Sorted by name across machines, so each family's benchmarks stay under one heading.
    for s in sorted(h.series, key=lambda s: (s.benchmark, s.machine.id, s.metric)):
        by_bench.setdefault(s.benchmark, []).append(s)
    for bench, ss in by_bench.items():
        if ss[0].family != family:
            family = ss[0].family
            out.append(f"<h2>{html.escape(family)}</h2>")
        notes = []
        for s in ss:
            for st in s.steps:
                notes.append(f"{s.metric} on {s.machine.label}: {_pct(st['size_pct'])} at "
                             f"{short(st['revision'])} ({st['kind'] or 'change'}, confidence "
                             f"{st['confidence'] * 100:.1f}%)")
            for rev, err in s.errors:
                notes.append(f"{s.metric} on {s.machine.label}: errored at {short(rev)}: {err}")
        out.append(f"<figure id=\"{html.escape(bench)}\"><h3>{html.escape(bench)}</h3>")
        if bench in pngs:
            data = base64.b64encode(pngs[bench]).decode("ascii")
            out.append(f"<img alt=\"{html.escape(bench)}\" src=\"data:image/png;base64,{data}\">")
        else:
            out.append("<p class=\"note\">no measured value in any revision</p>")
        if notes:
            out.append("<figcaption>" + "<br>".join(html.escape(n) for n in notes)
                       + "</figcaption>")
        out.append("</figure>")
    out.append("</body></html>\n")
    return "\n".join(out)


def _md_table(rows) -> list:
    def cell(c):
        return c.replace("|", "\\|").replace("\n", " ")
    out = ["| " + " | ".join(cell(c) for c in rows[0]) + " |",
           "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows[1:]]
    return out


def render_md(h: hi.History) -> str:
    out = ["# ipcmeter history", "",
           f"{len(h.revision_order)} revision(s), {len(h.machines)} machine line(s), "
           f"{len(h.series)} series, {len(h.steps())} change point(s).", "",
           method_text(h), ""]
    if h.ordering_note():
        out += ["**Order:** " + h.ordering_note(), ""]
    out += ["## Change points", ""]
    out += _md_table(step_rows(h)) if h.steps() else ["No change point: no series stepped "
                                                       "beyond its noise."]
    out += ["", "## Machines and revisions", ""]
    for m in h.machines:
        out += [f"### {m.label}", ""] + _md_table(revision_rows(m)) + [""]
    out += ["## Series", ""]
    rows = [["benchmark", "metric", "machine", "revisions", "first", "last", "noise",
             "steps"]]
    for s in h.series:
        if not s.points:
            continue
        rows.append([s.benchmark, s.metric, s.machine.label, str(len(s.points)),
                     fmt_metric(s.metric, s.points[0].median),
                     fmt_metric(s.metric, s.points[-1].median),
                     "n/a" if hi.noise_pct(s) is None else f"{hi.noise_pct(s):.1f}%",
                     str(len(s.steps))])
    out += _md_table(rows)
    return "\n".join(out) + "\n"


def render_json(h: hi.History) -> str:
    return json.dumps(_finite_only(hi.to_json(h)), indent=1, allow_nan=False) + "\n"


def _finite_only(node):
    """Strict JSON: a NaN or infinity (a results file may hold them, e.g. in env) is null."""
    if isinstance(node, dict):
        return {str(k): _finite_only(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_finite_only(v) for v in node]
    if isinstance(node, float) and not math.isfinite(node):
        return None
    return node
