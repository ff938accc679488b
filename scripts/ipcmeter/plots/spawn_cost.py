"""Time from asking for a worker to its first message, against the parent's memory."""

from .common import column, finish, lines

TITLE = "Worker start cost"
FAMILY = "spawn"
CAPTION = "Time from asking for a worker to its first message, against the parent's memory."


def plot(plt, results, labels, rss_mib=None):
    fig, panels = column(plt, results, "spawn", "ready_p50_ns", "Worker start cost vs parent memory")
    if fig is None:
        return None
    for ax, r, pts in panels:
        lines(ax, pts, "rss_mib", "ready_p50_ns", ("method",), results)
        if rss_mib is not None:
            ax.axvline(rss_mib, color="k", ls=":", lw=1, label=f"your size {rss_mib:g} MiB")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        rss = sorted({p.get("rss_mib") for p in pts if isinstance(p.get("rss_mib"), (int, float))})
        ax.set_xticks(rss)
        ax.set_xticklabels([f"{x:g}" for x in rss])
        ax.minorticks_off()
        ax.set_xlabel("parent resident memory (MiB)")
        ax.set_ylabel("asked → first message, p50 (ns)")
        ax.set_title(labels[r.path])
        ax.grid(True, which="both", alpha=0.3)
    return finish(fig)
