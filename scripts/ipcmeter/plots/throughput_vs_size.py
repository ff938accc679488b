"""One-way stream throughput against message size, with one core's memcpy as the ceiling."""

from ..results import is_number
from .common import size_curves

TITLE = "Throughput vs message size"
FAMILY = "stream"
CAPTION = "One-way stream throughput; the dashed line is one core's memcpy bandwidth."


def _memcpy_ceiling(ax, r, pts):
    # The references ratio_to_memcpy used are measured during the run, so the end-of-run
    # floors hold them; keep only the sizes streamed, so the ceiling spans the same axis.
    by_size = {}
    for floors in (r.floors, r.floors_end):
        if isinstance(floors.get("memcpy_gbps_by_size"), dict):
            by_size.update(floors["memcpy_gbps_by_size"])
    streamed = {p.get("size") for p in pts}
    curve = []
    for k, v in by_size.items():
        try:
            if int(k) in streamed:
                curve.append((float(k), float(v) * 1e9))
        except (TypeError, ValueError):
            pass
    if len(curve) >= 2:
        curve.sort()
        ax.plot([x for x, _ in curve], [y for _, y in curve], "k--", lw=1,
                label="memcpy ceiling (one core)")
        return
    for key, ls in (("memcpy_gbps_cache", "--"), ("memcpy_gbps_dram", ":")):
        v = r.floors.get(key)
        if is_number(v):
            ax.axhline(v * 1e9, color="k", ls=ls, lw=1,
                       label=f"memcpy ceiling, {key.rsplit('_', 1)[1]} {v:g} GB/s")


def plot(plt, results, labels, rss_mib=None):
    return size_curves(plt, results, labels, "stream", "bytes_per_second",
                       "Stream throughput vs message size", "throughput (bytes/s)",
                       _memcpy_ceiling)
