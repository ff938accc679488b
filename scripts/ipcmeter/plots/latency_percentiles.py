"""The round-trip percentile curve of each transport's fastest configuration."""

import math

from ..fmt import fmt_size
from ..points import band_sizes, ok_points, option_label
from ..style import Style
from .common import finish, grid, hover, tag

TITLE = "Latency distribution"
FAMILY = "pingpong"
CAPTION = ("Percentile curve (p50 … max) of each transport's fastest configuration at the "
           "smallest size band.")
PERCENTILES = (("p50", "rtt_p50_ns", 50.0), ("p90", "rtt_p90_ns", 90.0),
               ("p99", "rtt_p99_ns", 99.0), ("p99.9", "rtt_p999_ns", 99.9),
               ("max", "rtt_max_ns", None))


def _nines(p):
    return -math.log10(1 - p / 100.0)


def plot(plt, results, labels, rss_mib=None):
    if not any(ok_points(r, "pingpong", "rtt_p50_ns") for r in results):
        return None
    fig, axes = grid(plt, results, 1, "Round-trip latency distribution, key transports")
    for row, r in enumerate(results):
        ax = axes[row][0]
        pts = ok_points(r, "pingpong", "rtt_p50_ns")
        size = next((s for s in band_sizes(pts) if s), None)
        at = [p for p in pts if p.get("size") == size]
        best: dict = {}
        for p in at:  # per transport, its lowest-latency configuration
            t = p.get("transport")
            if t not in best or p.metrics["rtt_p50_ns"] < best[t].metrics["rtt_p50_ns"]:
                best[t] = p
        xs_all = [_nines(q) if q is not None else _nines(99.99) for _, _, q in PERCENTILES]
        style = Style(results)
        for t, p in sorted(best.items(), key=lambda tp: tp[1].metrics["rtt_p50_ns"])[:8]:
            xy = [(x, p.metrics[m], m) for (_, m, _), x in zip(PERCENTILES, xs_all) if m in p.metrics]
            line, = ax.plot([x for x, _, _ in xy], [y for _, y, _ in xy], ms=4, label=option_label(p),
                            **style.line_kw("transport", t, p.get("wait")))
            tag(line, [hover(p, m) for _, _, m in xy])
        ax.set_xticks(xs_all)
        ax.set_xticklabels([n for n, _, _ in PERCENTILES])
        ax.set_yscale("log")
        ax.set_xlabel("percentile")
        ax.set_ylabel("round trip (ns)")
        ax.set_title(f"{fmt_size(size)} messages, each transport's fastest configuration — {labels[r.path]}")
        ax.grid(True, which="both", alpha=0.3)
    return finish(fig)
