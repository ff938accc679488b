"""Hand-off latency of each primitive, threads against processes."""

from ..points import peer_sorter, points
from .common import bars, column, finish

TITLE = "Sync hand-off"
FAMILY = "sync"
CAPTION = "Hand-off latency of each primitive between threads and between processes."


def plot(plt, results, labels, rss_mib=None):
    # Every combination, errors included: a primitive that cannot run is drawn as a cross.
    fig, panels = column(plt, results, "sync", "handoff_p50_ns",
                         "Synchronisation hand-off per primitive, threads vs processes",
                         pick=lambda r: points(r, "sync"))
    if fig is None:
        return None
    for ax, r, pts in panels:
        parties = {}
        for p in pts:
            parties.setdefault(p.get("primitive"), set()).add(p.get("parties"))

        def group(p):
            prim = str(p.get("primitive"))
            return prim if len(parties[p.get("primitive")]) == 1 else f"{prim} ×{p.get('parties')}"
        groups = list(dict.fromkeys(group(p) for p in pts))
        peers = sorted({p.get("peer") for p in pts}, key=peer_sorter([r]))
        shown = {(group(p), p.get("peer")): p for p in pts
                 if p.error is None and "handoff_p50_ns" in p.metrics}
        values = {key: p.metrics["handoff_p50_ns"] for key, p in shown.items()}
        errors = {(group(p), p.get("peer")): p.error for p in pts if p.error}
        bars(ax, groups, peers, values, errors, "hand-off p50 (ns)", "peer", results, shown)
        ax.set_title(f"{labels[r.path]}  (× = cannot run)")
    return finish(fig, legend_title="peer")
