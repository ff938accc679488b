"""Each executor's overhead per task against the work in each task."""

from ..points import ok_points
from .common import empty, finish, grid, lines

TITLE = "Pool overhead"
FAMILY = "pool"
CAPTION = "Per-task overhead of each executor against the work in each task."


def plot(plt, results, labels, rss_mib=None):
    if not any(ok_points(r, "pool", "overhead_ns_per_task") for r in results):
        return None
    fig, axes = grid(plt, results, 1, "Pool overhead per task vs task size")
    for row, r in enumerate(results):
        ax = axes[row][0]
        pts = ok_points(r, "pool", "overhead_ns_per_task")
        if not pts:
            empty(ax, "no pool results")
            continue
        lines(ax, pts, "task_us", "overhead_ns_per_task", ("executor", "chunk"))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("task size (µs of work)")
        ax.set_ylabel("overhead per task (ns)")
        ax.set_title(labels[r.path])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="upper left", ncol=2)
    return finish(fig)
