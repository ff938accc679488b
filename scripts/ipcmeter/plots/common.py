"""What the plots share: matplotlib set up once, one row of panels per results file, the
message-size axis, grouped bars, one line per option, the per-peer size curves that
latency_vs_size and throughput_vs_size both draw, and one legend per figure, outside the
data. Colours, markers and line styles come from ..style, the same in every plot.

Each drawn series carries `ipcm_points`: per data point, the benchmark row it shows and its
primary metrics, for the HTML's interactive charts to show on hover (ipcmeter/interactive.py)."""

from __future__ import annotations

import math

import numpy as np

from ..fmt import fmt_metric, fmt_size
from ..points import machine, ok_points, option_label, peer_sorter
from ..style import CARRIER_KEYS, Style


def pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"font.size": 8, "axes.titlesize": 9, "legend.fontsize": 7,
                         "figure.dpi": 100})
    return plt


def unique_hosts(results):
    seen, out = set(), []
    for r in results:
        if r.host not in seen:
            seen.add(r.host)
            out.append(r)
    return out


def grid(plt, results, ncols, title):
    nrows = len(results)
    fig, axes = plt.subplots(nrows, ncols, figsize=(min(4.2 * ncols, 16) + 1.5, 3.3 * nrows + 0.6),
                             squeeze=False)
    fig.suptitle(f"{title} — " + "; ".join(machine(r) for r in unique_hosts(results)), fontsize=10)
    return fig, axes


def size_axis(ax, sizes):
    ax.set_xscale("log", base=2)
    sizes = sorted(set(sizes))
    ax.set_xticks(sizes)
    ax.set_xticklabels([fmt_size(x) for x in sizes])
    ax.minorticks_off()
    ax.set_xlabel("message size (bytes)")


def empty(ax, text):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=8,
            color="#555", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def hover(p, *metrics) -> dict:
    """What a reader hovering over point p sees: its row and its primary metrics (p50 and
    p99 for a latency) plus `metrics`, each formatted as the tables format it."""
    names = list(dict.fromkeys([*p.schema.primary_metrics(p.family), *metrics]))
    return {"row": p.base, "values": [[m, fmt_metric(m, p.metrics[m])] for m in names
                                      if m in p.metrics]}


def tag(artist, metas):
    """Attach the hover information of each of the artist's points (None for a gap)."""
    artist.ipcm_points = list(metas)
    return artist


def finish(fig, legend_title=None):
    """Lay out the figure with one legend for all its panels, to the right of them: the
    styles are the same in every panel, so one key serves all and covers no data. The figure
    is widened by the legend's width rather than squeezing the panels."""
    handles: dict = {}
    for ax in fig.axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    if not handles:
        fig.tight_layout(rect=(0, 0, 1, 0.95))
        return fig
    width, height = fig.get_size_inches()
    rows = max(1, int(height * 0.85 / 0.16))  # legend entries that fit the figure's height
    legend = fig.legend(list(handles.values()), list(handles), loc="upper right",
                        bbox_to_anchor=(1, 0.93), title=legend_title,
                        ncol=math.ceil(len(handles) / rows))
    fig.canvas.draw()
    extra = legend.get_window_extent().width / fig.dpi + 0.15
    fig.set_size_inches(width + extra, height)
    fig.tight_layout(rect=(0, 0, width / (width + extra), 0.95))
    return fig


def bars(ax, groups, series, values, errors, ylabel, series_key, results, shown=None):
    """Grouped bars: values[(group, series)] -> float; errors[(group, series)] -> reason;
    each series coloured as `series_key`'s name in the style of `results` (the files being
    plotted); shown[(group, series)] -> the Point a bar shows, for hovering."""
    style = Style(results)
    width = 0.8 / max(1, len(series))
    x = np.arange(len(groups))
    ymin = min(values.values()) if values else 1.0
    ymax = max(values.values()) if values else 10.0
    bottom = ymin / 4
    shown = shown or {}
    for i, s in enumerate(series):
        ys = [values.get((g, s), bottom) - bottom for g in groups]
        drawn = ax.bar(x + (i - (len(series) - 1) / 2) * width, ys, width, bottom=bottom, label=s,
                       color=style.color(series_key, s))
        tag(drawn, [hover(shown[(g, s)]) if (g, s) in values and (g, s) in shown else None
                    for g in groups])
        drawn.ipcm_errors = [errors.get((g, s)) if (g, s) not in values else None for g in groups]
        for j, g in enumerate(groups):
            if (g, s) not in values and (g, s) in errors:
                ax.text(drawn[j].get_x() + width / 2, bottom * 1.15, "×", ha="center", va="bottom",
                        color=drawn[j].get_facecolor(), fontsize=10, fontweight="bold")
    ax.set_ylim(bottom, ymax * 2)
    ax.set_yscale("log")
    ax.set_xticks(x)
    ax.set_xticklabels(groups, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", which="both", alpha=0.3)


def series_style(style, p, series_keys, label) -> dict:
    """matplotlib keywords for the line of option `label`: a transport or channel keeps its
    colour and marker and its wait the line style; other options (a peer, a spawn method, an
    executor and chunk) are coloured by their label under their keys."""
    if series_keys and series_keys[0] in CARRIER_KEYS:
        return style.line_kw(series_keys[0], p.get(series_keys[0]), p.get("wait"))
    key = series_keys[0] if len(series_keys) == 1 else "·".join(series_keys)
    return style.line_kw(key, p.get(key) if len(series_keys) == 1 else label)


def lines(ax, pts, xkey, ykey, series_keys, results):
    """One line per option (the labels of series_keys), ykey against xkey, styled for
    `results` (the files being plotted)."""
    style = Style(results)
    series: dict = {}
    for p in pts:
        if isinstance(p.get(xkey), (int, float)):
            series.setdefault(option_label(p, series_keys), []).append((p.get(xkey), p.metrics[ykey], p))
    for label, xyp in sorted(series.items()):
        xyp.sort(key=lambda t: t[0])
        line, = ax.plot([x for x, _, _ in xyp], [y for _, y, _ in xyp], ms=4, label=label,
                        **series_style(style, xyp[0][2], series_keys, label))
        tag(line, [hover(p, ykey) for _, _, p in xyp])


def band_grid(plt, results, sizes_per, title):
    """A row per results file and a panel per size band, sizes_per[i] being file i's band
    sizes (points.band_sizes): (figure, [(ax, r, size)]); a file with fewer bands gets
    panels saying so."""
    ncols = max(len(s) for s in sizes_per)
    fig, axes = grid(plt, results, ncols, title)
    panels = []
    for row, r in enumerate(results):
        for col in range(ncols):
            if col < len(sizes_per[row]):
                panels.append((axes[row][col], r, sizes_per[row][col]))
            else:
                empty(axes[row][col], "no further size band")
    return fig, panels


def column(plt, results, family, metric, title, pick=None):
    """One panel per results file for a plot of `metric` in `family`: (figure, [(ax, r, pts)])
    with pts = pick(r) (default: the file's points that have the metric); a file without
    such points gets a panel saying so instead. (None, []) when no file has the metric."""
    if not any(ok_points(r, family, metric) for r in results):
        return None, []
    fig, axes = grid(plt, results, 1, title)
    panels = []
    for row, r in enumerate(results):
        pts = pick(r) if pick else ok_points(r, family, metric)
        if pts:
            panels.append((axes[row][0], r, pts))
        else:
            empty(axes[row][0], f"no {family} results")
    return fig, panels


def size_curves(plt, results, labels, family, metric, title, ylabel, references):
    """One panel per peer: `metric` against message size, a line per transport and wait;
    references(ax, r, pts) draws the run's own limits on top. None without data."""
    if not any(ok_points(r, family, metric) for r in results):
        return None
    peers = sorted({p.get("peer") for r in results for p in ok_points(r, family)},
                   key=peer_sorter(results))
    fig, axes = grid(plt, results, len(peers), title)
    for row, r in enumerate(results):
        pts = ok_points(r, family, metric)
        for col, peer in enumerate(peers):
            ax = axes[row][col]
            mine = [p for p in pts if p.get("peer") == peer and isinstance(p.get("size"), (int, float))]
            if not mine:
                empty(ax, f"no {family} results with a {peer} peer")
                continue
            lines(ax, mine, "size", metric, ("transport", "wait"), results)
            references(ax, r, mine)
            ax.set_yscale("log")
            size_axis(ax, [p.get("size") for p in mine])
            ax.set_ylabel(ylabel)
            ax.set_title(f"peer: {peer} — {labels[r.path]}")
            ax.grid(True, which="both", alpha=0.3)
    return finish(fig)
