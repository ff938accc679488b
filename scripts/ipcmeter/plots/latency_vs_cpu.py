"""Round trip against CPU time per message; colour and marker are the transport, the
marker's fill the wait strategy."""

from ..fmt import fmt_size
from ..points import band_sizes, ok_points
from ..style import Style
from .common import band_grid, finish, hover, tag

TITLE = "Latency vs CPU cost"
FAMILY = "pingpong"
CAPTION = ("Lower-left is better; colour and marker are the transport, the marker's fill the "
           "wait strategy (filled, half or hollow, as in the legend and every other plot).")


def plot(plt, results, labels, rss_mib=None):
    if not any(ok_points(r, "pingpong", "cpu_ns_per_msg") for r in results):
        return None
    style = Style(results)
    sizes_per = [band_sizes(ok_points(r, "pingpong", "cpu_ns_per_msg")) for r in results]
    fig, panels = band_grid(plt, results, sizes_per,
                            "Latency vs CPU cost per message (spin / hybrid / block)")
    for ax, r, size in panels:
        groups: dict = {}  # (transport, wait) -> its points at this size, every peer
        for p in ok_points(r, "pingpong", "cpu_ns_per_msg"):
            if p.get("size") == size and "rtt_p50_ns" in p.metrics:
                groups.setdefault((p.get("transport"), p.get("wait")), []).append(p)
        for (t, wait), pts in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
            kw = style.line_kw("transport", t, wait)
            kw["ls"] = ""
            line, = ax.plot([p.metrics["cpu_ns_per_msg"] for p in pts],
                            [p.metrics["rtt_p50_ns"] for p in pts], ms=5,
                            label=" · ".join(str(x) for x in (t, wait) if x is not None), **kw)
            tag(line, [hover(p, "cpu_ns_per_msg") for p in pts])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("CPU time per message (ns)")
        ax.set_ylabel("round-trip p50 (ns)")
        ax.set_title(f"{fmt_size(size)} messages — {labels[r.path]}")
        ax.grid(True, which="both", alpha=0.3)
    return finish(fig)
