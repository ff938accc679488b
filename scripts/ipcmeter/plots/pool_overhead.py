"""Each executor's overhead per task against the work in each task."""

from .common import column, finish, lines

TITLE = "Pool overhead"
FAMILY = "pool"
CAPTION = "Per-task overhead of each executor against the work in each task."


def plot(plt, results, labels, rss_mib=None):
    fig, panels = column(plt, results, "pool", "overhead_ns_per_task",
                         "Pool overhead per task vs task size")
    if fig is None:
        return None
    for ax, r, pts in panels:
        lines(ax, pts, "task_us", "overhead_ns_per_task", ("executor", "chunk"), results)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("task size (µs of work)")
        ax.set_ylabel("overhead per task (ns)")
        ax.set_title(labels[r.path])
        ax.grid(True, which="both", alpha=0.3)
    return finish(fig)
