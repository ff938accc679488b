"""The HTML's interactive charts, read off the matplotlib figures the PNGs are made from.

Each panel of a figure that holds data becomes one chart: its title, axis labels and scales,
the ticks the plot set, and each series with the colour, marker, fill and line style matplotlib
drew it with, so the chart and the PNG cannot disagree, and a new plot module is interactive
without code here. Hover information comes from the `ipcm_points` each series carries
(plots/common.py: tag). Reference lines (floors, ceilings, "ideal", "your size") become
series without markers spanning the panel.
"""

from __future__ import annotations

import math

from matplotlib import colors as mcolors
from matplotlib.container import BarContainer
from matplotlib.patches import Polygon, Rectangle
from matplotlib.ticker import FixedLocator

from .style import chartjs_dash, chartjs_marker


def _num(v):
    v = float(v)
    return v if math.isfinite(v) else None


def _ticks(axis):
    """[[value, label]] when the plot chose the ticks (a size axis, percentiles), else None."""
    if not isinstance(axis.get_major_locator(), FixedLocator):
        return None
    labels = [t.get_text() for t in axis.get_ticklabels()]
    values = list(axis.get_ticklocs())
    if not values or len(labels) != len(values) or not any(labels):
        return None
    return [[_num(v), s] for v, s in zip(values, labels)]


def _line_series(ax, line):
    x, y = line.get_xdata(orig=False), line.get_ydata(orig=False)
    label = line.get_label()
    color = mcolors.to_hex(line.get_color())
    dash = chartjs_dash(line.get_linestyle())
    trans = line.get_transform()
    if trans == ax.get_yaxis_transform():  # axhline: spans the panel at one y
        lo, hi = ax.get_xlim()
        pts = [[_num(lo), _num(y[0])], [_num(hi), _num(y[0])]]
        return {"label": label, "color": color, "dash": dash or [], "ref": True, "points": pts}
    if trans == ax.get_xaxis_transform():  # axvline: spans the panel at one x
        lo, hi = ax.get_ylim()
        pts = [[_num(x[0]), _num(lo)], [_num(x[0]), _num(hi)]]
        return {"label": label, "color": color, "dash": dash or [], "ref": True, "points": pts}
    metas = getattr(line, "ipcm_points", None) or [None] * len(x)
    marker = line.get_marker()
    if marker in (None, "None", "", " "):
        # A drawn curve without markers (memcpy ceiling, "ideal"): a reference line.
        return {"label": label, "color": color, "dash": dash, "ref": True,
                "points": [[_num(a), _num(b)] for a, b in zip(x, y)]}
    style, rotation = chartjs_marker(marker)
    return {"label": label, "color": color, "dash": dash,
            "line": line.get_linestyle() not in ("None", "", " "),
            "marker": style, "rotation": rotation, "fill": line.get_fillstyle(),
            "points": [[_num(a), _num(b), m] for a, b, m in zip(x, y, metas)]}


def _span_series(ax, patch):
    """axvspan (the oversubscribed region): its left edge as a reference line."""
    xs = [v[0] for v in patch.get_xy()]
    lo, hi = ax.get_ylim()
    color = mcolors.to_hex(patch.get_facecolor(), keep_alpha=False)
    return {"label": patch.get_label(), "color": color, "dash": [4, 4], "ref": True,
            "points": [[_num(min(xs)), _num(lo)], [_num(min(xs)), _num(hi)]]}


def _bar_chart(ax, containers):
    groups = [t.get_text() for t in ax.get_xticklabels()]
    datasets = []
    for c in containers:
        metas = getattr(c, "ipcm_points", None) or [None] * len(c.patches)
        values = []
        for rect, m in zip(c.patches, metas):
            # The bars stand on a common floor (log axis); a gap has no hover information.
            values.append([_num(rect.get_y() + rect.get_height()), m] if m else [None, None])
        errors = getattr(c, "ipcm_errors", None) or [None] * len(c.patches)
        datasets.append({"label": c.get_label(), "errors": errors,
                         "color": mcolors.to_hex(c.patches[0].get_facecolor(), keep_alpha=False)
                         if c.patches else "#888888",
                         "values": values})
    return {"kind": "bar", "groups": groups, "datasets": datasets}


def chart_specs(fig) -> list[dict]:
    """One JSON-ready chart description per panel of `fig` that has data."""
    charts = []
    for ax in fig.axes:
        containers = [c for c in ax.containers if isinstance(c, BarContainer)]
        if containers:
            spec = _bar_chart(ax, containers)
        else:
            series = [_line_series(ax, ln) for ln in ax.get_lines()
                      if not ln.get_label().startswith("_") and len(ln.get_xdata())]
            series += [_span_series(ax, p) for p in ax.patches
                       if isinstance(p, Polygon) and not isinstance(p, Rectangle)
                       and not p.get_label().startswith("_")]
            if not any(not s.get("ref") for s in series):
                continue  # a panel saying why it is empty
            spec = {"kind": "line", "datasets": series,
                    "xscale": ax.get_xscale(), "xticks": _ticks(ax.xaxis)}
        spec.update(title=ax.get_title(), xlabel=ax.get_xlabel(), ylabel=ax.get_ylabel(),
                    yscale=ax.get_yscale())
        charts.append(spec)
    return charts
