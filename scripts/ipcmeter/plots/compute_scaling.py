"""Speedup against workers, one line per peer, the oversubscribed region shaded."""

from ..points import logical_cpus, ok_points
from .common import empty, finish, grid, lines

TITLE = "Scaling"
FAMILY = "compute"
CAPTION = "Speedup against one worker of the same peer; the shaded region is oversubscribed."


def plot(plt, results, labels, rss_mib=None):
    if not any(ok_points(r, "compute", "speedup") for r in results):
        return None
    kernels = sorted({p.get("kernel") for r in results for p in ok_points(r, "compute")}, key=str)
    fig, axes = grid(plt, results, len(kernels), "Speedup vs workers, threads vs processes")
    for row, r in enumerate(results):
        pts = ok_points(r, "compute", "speedup")
        cpus = logical_cpus(r)
        for col, kernel in enumerate(kernels):
            ax = axes[row][col]
            mine = [p for p in pts if p.get("kernel") == kernel]
            if not mine:
                empty(ax, f"no compute results for kernel {kernel}")
                continue
            lines(ax, mine, "workers", "speedup", ("peer",), results)
            top = max(p.get("workers") for p in mine if isinstance(p.get("workers"), int))
            ax.plot([1, top], [1, top], color="grey", ls="--", lw=1, label="ideal")
            if cpus and top > cpus:
                ax.axvspan(cpus, top, color="red", alpha=0.08,
                           label=f"oversubscribed (> {cpus} CPUs)")
            ax.set_xlabel("workers")
            ax.set_ylabel("speedup (× one worker)")
            ax.set_title(f"kernel: {kernel} — {labels[r.path]}")
            ax.grid(True, alpha=0.3)
    return finish(fig)
