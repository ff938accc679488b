"""Thread vs fork vs spawn: the same transport with each kind of peer, per size band."""

import math

from ..fmt import fmt_size
from ..points import BANDS, ok_points, peer_key, points, representative_size
from .common import bars, empty, finish, grid

TITLE = "Thread vs fork vs spawn"
FAMILY = "pingpong"
CAPTION = "The same transport with each kind of peer, one panel per size band."


def plot(plt, results, labels, rss_mib=None):
    if not any(ok_points(r, "pingpong", "rtt_p50_ns") for r in results):
        return None
    sizes_per = []
    for r in results:
        pts = ok_points(r, "pingpong")
        sizes_per.append([s for s in (representative_size(pts, b) for b in range(len(BANDS))) if s is not None])
    ncols = max(len(s) for s in sizes_per)
    fig, axes = grid(plt, results, ncols, "Thread vs fork vs spawn peer per transport")
    for row, r in enumerate(results):
        pts = points(r, "pingpong")
        for col in range(ncols):
            ax = axes[row][col]
            if col >= len(sizes_per[row]):
                empty(ax, "no further size band")
                continue
            size = sizes_per[row][col]
            at = [p for p in pts if p.get("size") == size]
            transports = sorted({p.get("transport") for p in at}, key=str)
            peers = sorted({p.get("peer") for p in at}, key=peer_key)
            values, errors = {}, {}
            for p in at:
                key = (p.get("transport"), p.get("peer"))
                if p.error is None and "rtt_p50_ns" in p.metrics:
                    values[key] = min(values.get(key, math.inf), p.metrics["rtt_p50_ns"])
                elif p.error:
                    errors[key] = p.error
            bars(ax, transports, peers, values, errors, "round-trip p50 (ns), best wait")
            ax.set_title(f"{fmt_size(size)} messages — {labels[r.path]}\n(× = cannot run)")
            ax.legend(title="peer")
    return finish(fig)
