"""p50 round trip against message size, one panel per peer, with the core-to-core floor."""

from ..fmt import fmt_ns
from ..results import is_number
from .common import size_curves

TITLE = "Latency vs message size"
FAMILY = "pingpong"
CAPTION = ("p50 round trip per transport, log–log, one panel per peer; the dashed line is the "
           "core-to-core floor.")


def _floors(ax, r, _pts):
    floor = r.c2c_floor_ns()
    if floor:
        ax.axhline(floor, color="k", ls="--", lw=1, label=f"core-to-core floor {fmt_ns(floor)}")
    end = r.floors_end.get("c2c_rtt_ns")
    if is_number(end) and floor and abs(end - floor) > 0.05 * floor:
        ax.axhline(end, color="k", ls=":", lw=1, label=f"floor at end {fmt_ns(end)}")


def plot(plt, results, labels, rss_mib=None):
    return size_curves(plt, results, labels, "pingpong", "rtt_p50_ns",
                       "Round-trip latency vs message size", "round-trip p50 (ns)",
                       _floors)
