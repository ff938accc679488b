"""Hand-off latency of each primitive, threads against processes."""

from ..points import ok_points, peer_key, points
from .common import bars, empty, finish, grid

TITLE = "Sync hand-off"
FAMILY = "sync"
CAPTION = "Hand-off latency of each primitive between threads and between processes."


def plot(plt, results, labels, rss_mib=None):
    if not any(ok_points(r, "sync", "handoff_p50_ns") for r in results):
        return None
    fig, axes = grid(plt, results, 1, "Synchronisation hand-off per primitive, threads vs processes")
    for row, r in enumerate(results):
        ax = axes[row][0]
        pts = points(r, "sync")
        if not pts:
            empty(ax, "no sync results")
            continue
        parties = {}
        for p in pts:
            parties.setdefault(p.get("primitive"), set()).add(p.get("parties"))

        def group(p):
            prim = str(p.get("primitive"))
            return prim if len(parties[p.get("primitive")]) == 1 else f"{prim} ×{p.get('parties')}"
        groups = list(dict.fromkeys(group(p) for p in pts))
        peers = sorted({p.get("peer") for p in pts}, key=peer_key)
        values = {(group(p), p.get("peer")): p.metrics["handoff_p50_ns"] for p in pts
                  if p.error is None and "handoff_p50_ns" in p.metrics}
        errors = {(group(p), p.get("peer")): p.error for p in pts if p.error}
        bars(ax, groups, peers, values, errors, "hand-off p50 (ns)")
        ax.set_title(f"{labels[r.path]}  (× = cannot run)")
        ax.legend(title="peer")
    return finish(fig)
