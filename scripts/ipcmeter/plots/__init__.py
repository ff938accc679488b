"""The report's plots, one module each.

Every plot module has TITLE (its heading), FAMILY (the results it needs), CAPTION and
plot(plt, results, labels, rss_mib): a matplotlib figure with one row per results file,
or None when no file has that family. A new plot is a module and a line in PLOTS.
"""

from __future__ import annotations

import importlib
import io

from .common import pyplot
from ..interactive import chart_specs

# Plot file names, in report order; every name here may be written to the output as .png.
PLOTS = ("latency_vs_size", "peer_comparison", "throughput_vs_size",
         "latency_percentiles", "latency_vs_cpu", "spawn_cost",
         "compute_scaling", "pool_overhead", "sync_handoff", "load_curves")

MODULES = {name: importlib.import_module(f".{name}", __name__) for name in PLOTS}


def make_plots(results, labels, rss_mib, charts=None):
    """name -> PNG bytes for each plot with data; name -> note for skipped ones.
    `labels`: results path -> the short label plot titles use. `charts`, when given a dict,
    gets name -> the plot's panels as interactive chart descriptions (ipcmeter/interactive.py)."""
    plt = pyplot()
    made, skipped = {}, {}
    for name, mod in MODULES.items():
        try:
            fig = mod.plot(plt, results, labels, rss_mib)
            if fig is None:
                skipped[name] = f"skipped: no {mod.FAMILY} results in " + (
                    "the file" if len(results) == 1 else "any file")
                continue
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
            if charts is not None:
                charts[name] = chart_specs(fig)
        except (ValueError, OverflowError) as e:
            # Values matplotlib cannot place, e.g. none above 0 on a log axis (a results
            # file holding zero or negative times): the plot is left out and says why.
            plt.close("all")
            reason = " ".join(str(e).split())[:200]
            skipped[name] = f"skipped: its values cannot be drawn ({reason})"
            continue
        plt.close(fig)
        made[name] = buf.getvalue()
    return made, skipped
