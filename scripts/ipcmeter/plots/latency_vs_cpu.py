"""Round trip against CPU time per message; the marker is the wait strategy."""

from ..fmt import fmt_size
from ..points import band_sizes, ok_points
from .common import band_grid, finish

TITLE = "Latency vs CPU cost"
FAMILY = "pingpong"
CAPTION = "Lower-left is better; marker shape is the wait strategy (spin / hybrid / block)."

WAIT_MARKERS = {"spin": "o", "hybrid": "s", "block": "^", None: "D"}


def plot(plt, results, labels, rss_mib=None):
    if not any(ok_points(r, "pingpong", "cpu_ns_per_msg") for r in results):
        return None
    from matplotlib.lines import Line2D
    sizes_per = [band_sizes(ok_points(r, "pingpong", "cpu_ns_per_msg")) for r in results]
    fig, panels = band_grid(plt, results, sizes_per,
                            "Latency vs CPU cost per message (spin / hybrid / block)")
    # One colour per transport across every panel and file.
    transports = sorted({p.get("transport") for r in results for p in ok_points(r, "pingpong")}, key=str)
    colors = {t: f"C{i % 10}" for i, t in enumerate(transports)}
    for ax, r, size in panels:
        at = [p for p in ok_points(r, "pingpong", "cpu_ns_per_msg")
              if p.get("size") == size and "rtt_p50_ns" in p.metrics]
        for p in at:
            ax.scatter(p.metrics["cpu_ns_per_msg"], p.metrics["rtt_p50_ns"], s=22,
                       color=colors[p.get("transport")],
                       marker=WAIT_MARKERS.get(p.get("wait"), "D"))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("CPU time per message (ns)")
        ax.set_ylabel("round-trip p50 (ns)")
        ax.set_title(f"{fmt_size(size)} messages — {labels[r.path]}")
        ax.grid(True, which="both", alpha=0.3)
        handles = [Line2D([], [], ls="", marker="o", color=colors[t], label=t)
                   for t in sorted({p.get("transport") for p in at}, key=str)]
        waits = sorted({p.get("wait") for p in at}, key=lambda w: (w is None, str(w)))
        handles += [Line2D([], [], ls="", marker=WAIT_MARKERS.get(w, "D"), color="grey",
                           label=f"wait: {w or 'n/a'}") for w in waits]
        ax.legend(handles=handles, loc="best")
    return finish(fig)
