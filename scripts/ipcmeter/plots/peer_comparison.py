"""Thread vs fork vs spawn: the same transport with each kind of peer, per size band."""

import math

from ..fmt import fmt_size
from ..points import band_sizes, ok_points, peer_sorter, points
from .common import band_grid, bars, finish

TITLE = "Thread vs fork vs spawn"
FAMILY = "pingpong"
CAPTION = "The same transport with each kind of peer, one panel per size band."


def plot(plt, results, labels, rss_mib=None):
    if not any(ok_points(r, "pingpong", "rtt_p50_ns") for r in results):
        return None
    sizes_per = [band_sizes(ok_points(r, "pingpong")) for r in results]
    fig, panels = band_grid(plt, results, sizes_per, "Thread vs fork vs spawn peer per transport")
    for ax, r, size in panels:
        # Every combination, errors included: one that cannot run is drawn as a cross.
        at = [p for p in points(r, "pingpong") if p.get("size") == size]
        transports = sorted({p.get("transport") for p in at}, key=str)
        peers = sorted({p.get("peer") for p in at}, key=peer_sorter([r]))
        values, errors, shown = {}, {}, {}
        for p in at:
            key = (p.get("transport"), p.get("peer"))
            if p.error is None and "rtt_p50_ns" in p.metrics:
                if p.metrics["rtt_p50_ns"] < values.get(key, math.inf):
                    values[key], shown[key] = p.metrics["rtt_p50_ns"], p
            elif p.error:
                errors[key] = p.error
        bars(ax, transports, peers, values, errors, "round-trip p50 (ns), best wait", "peer",
             results, shown)
        ax.set_title(f"{fmt_size(size)} messages — {labels[r.path]}\n(× = cannot run)")
    return finish(fig, legend_title="peer")
