"""Latency under load: p50 and p99 against the offered rate, one line pair per transport and
wait, one panel per peer and size. Saturated rows report no percentile and are left out, so a
line ends where its link saturated."""

from ..fmt import fmt_size
from ..points import ok_points, option_label, peer_sorter
from ..style import Style
from .common import empty, finish, grid, hover, tag

TITLE = "Latency vs offered rate"
FAMILY = "load"
CAPTION = ("Open loop: latency from each message's due time to its echo against the offered rate, "
           "log–log: p50, and p99 in the same colour, lighter and thinner; a line ends where the link "
           "saturated.")


def _panels(results):
    """(peer, size) pairs with load results, peers in the schemas' order."""
    order = peer_sorter(results)
    seen = {(p.get("peer"), p.get("size")) for r in results for p in ok_points(r, FAMILY, "lat_p50_ns")}
    return sorted(seen, key=lambda ps: (order(ps[0]), ps[1] if isinstance(ps[1], (int, float)) else 0))


def plot(plt, results, labels, rss_mib=None):
    if not any(ok_points(r, FAMILY, "lat_p50_ns") for r in results):
        return None
    panels = _panels(results)
    fig, axes = grid(plt, results, len(panels), "Latency vs offered rate (open loop)")
    # The transport's colour and marker and the wait's line style, as in every other plot.
    style = Style(results)
    for row, r in enumerate(results):
        for col, (peer, size) in enumerate(panels):
            ax = axes[row][col]
            mine = [p for p in ok_points(r, FAMILY, "lat_p50_ns")
                    if p.get("peer") == peer and p.get("size") == size
                    and "lat_p99_ns" in p.metrics and "offered_per_second" in p.metrics]
            if not mine:
                empty(ax, f"no load results with a {peer} peer at {fmt_size(size)}")
                continue
            by_series: dict = {}
            for p in mine:
                by_series.setdefault(option_label(p, ("transport", "wait")), []).append(p)
            for label, pts in sorted(by_series.items()):
                pts.sort(key=lambda p: p.metrics["offered_per_second"])
                x = [p.metrics["offered_per_second"] for p in pts]
                kw = style.line_kw("transport", pts[0].get("transport"), pts[0].get("wait"))
                p50, = ax.plot(x, [p.metrics["lat_p50_ns"] for p in pts], ms=3, label=f"{label} p50", **kw)
                p99, = ax.plot(x, [p.metrics["lat_p99_ns"] for p in pts], ms=3, label=f"{label} p99",
                               **dict(kw, alpha=0.5, linewidth=0.8))
                for line in (p50, p99):
                    tag(line, [hover(p, "offered_per_second", "achieved_per_second") for p in pts])
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("offered rate (messages/s)")
            ax.set_ylabel("latency from due time (ns)")
            ax.set_title(f"peer: {peer}, {fmt_size(size)} — {labels[r.path]}")
            ax.grid(True, which="both", alpha=0.3)
    return finish(fig)
