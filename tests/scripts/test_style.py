"""Tests for the plots' fixed styles (scripts/ipcmeter/style.py) and their legends."""

import os
import sys
import types
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from ipcmeter import style as st  # noqa: E402
from ipcmeter.plots import MODULES, make_plots  # noqa: E402
from ipcmeter.plots.common import pyplot  # noqa: E402
from ipcmeter.results import load  # noqa: E402
from ipcmeter.schema import Schema  # noqa: E402
from ipcmeter.writers.tables import short_labels  # noqa: E402

FIX = os.path.join(ROOT, "tests", "fixtures")
TRANSPORTS = ["pipe", "socketpair", "fifo", "tcp", "posix_mq", "bip_mq", "tbb_queue", "shm_ring"]
CHANNELS = ["Queue", "SimpleQueue", "JoinableQueue", "Pipe", "Pipe_bytes", "Pipe_simplex",
            "shared_memory", "Manager_Queue", "queue_Queue"]


def fake_results(transports=TRANSPORTS, channels=CHANNELS, waits=("spin", "hybrid", "block")):
    """A results file as Style sees it: a schema listing the names, no data."""
    fams = {"pingpong": {"keys": [{"name": "transport", "values": list(transports)},
                                  {"name": "peer", "values": ["thread", "fork", "spawn"]},
                                  {"name": "size"}, {"name": "wait", "values": list(waits)}],
                         "counters": {}, "primary": ["rtt_p50_ns"]},
            "py_pingpong": {"keys": [{"name": "channel", "values": list(channels)},
                                     {"name": "peer"}, {"name": "size"}, {"name": "python"}],
                            "counters": {}, "primary": ["rtt_p50_ns"]}}
    describe = {"describe_version": 1, "family_order": list(fams), "families": fams,
                "peers": ["thread", "fork", "spawn"], "waits": list(waits),
                "transports": {t: {} for t in sorted(transports)}}
    return types.SimpleNamespace(schema=Schema(describe, "test"), transports={}, records=[])


def lab(hex_color):
    """CIELAB of an sRGB colour, for a perceptual distance."""
    rgb = [int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883
    f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in (x, y, z)]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


class StyleTest(unittest.TestCase):
    def test_palette_distinguishable(self):
        self.assertGreaterEqual(len(st.PALETTE), 16)
        labs = [lab(c) for c in st.PALETTE]
        for i, a in enumerate(labs):
            for j in range(i + 1, len(labs)):
                d = sum((p - q) ** 2 for p, q in zip(a, labs[j])) ** 0.5
                self.assertGreater(d, 20, f"{st.PALETTE[i]} and {st.PALETTE[j]} look alike")

    def test_registry_order_and_all_distinct(self):
        s = st.Style([fake_results()])
        colors = [s.color("transport", t) for t in TRANSPORTS]
        colors += [s.color("channel", c) for c in CHANNELS]
        self.assertEqual(len(set(colors)), len(colors), "two carriers share a colour")
        # The n-th transport of the registry gets the n-th colour, whatever the call order.
        self.assertEqual(st.Style([fake_results()]).color("transport", "shm_ring"), st.PALETTE[7])
        # tcp and tbb_queue shared a hue before: not any more.
        self.assertNotEqual(s.color("transport", "tcp"), s.color("transport", "tbb_queue"))

    def test_markers_and_pairs_distinct_beyond_the_palette(self):
        many = [f"t{i}" for i in range(40)]
        s = st.Style([fake_results(transports=many, channels=[])])
        pairs = {(s.color("transport", t), s.marker("transport", t)) for t in many}
        self.assertEqual(len(pairs), len(many))
        self.assertEqual({st.chartjs_marker(m)[0] for m, _, _ in st.MARKERS} - {"triangle"},
                         {"circle", "rect", "rectRot", "crossRot", "cross", "star"})

    def test_new_transport_gets_a_new_colour_without_edits(self):
        old = st.Style([fake_results()])
        new = st.Style([fake_results(transports=TRANSPORTS + ["zmq_ipc"])])
        for t in TRANSPORTS:  # appended to the registry: nobody else changes
            self.assertEqual(old.color("transport", t), new.color("transport", t))
        others = {new.color("transport", t) for t in TRANSPORTS}
        self.assertNotIn(new.color("transport", "zmq_ipc"), others)

    def test_same_binary_same_colours_across_reports(self):
        a, b = st.Style([fake_results()]), st.Style([fake_results()])
        for t in reversed(TRANSPORTS):  # asked in another order
            self.assertEqual(a.color("transport", t), b.color("transport", t))
            self.assertEqual(a.marker("transport", t), b.marker("transport", t))

    def test_waits(self):
        s = st.Style([fake_results()])
        styles = [s.dash(w) for w in ("spin", "hybrid", "block")]
        self.assertEqual(len({ls for ls, _, _ in styles}), 3)
        self.assertEqual(len({fill for _, _, fill in styles}), 3)
        self.assertEqual(s.dash(None), s.dash("spin"))
        self.assertEqual(st.chartjs_dash(s.dash("hybrid")[0]), s.dash("hybrid")[1])


class PlotsTest(unittest.TestCase):
    """Every plot of the full fixture: one colour per transport everywhere, legends outside
    the panels."""

    @classmethod
    def setUpClass(cls):
        cls.results = [load(os.path.join(FIX, "results-full.json"))]
        cls.labels = short_labels(cls.results)
        cls.charts = {}
        cls.made, _ = make_plots(cls.results, cls.labels, 32, cls.charts)

    def test_same_transport_same_colour_in_every_plot(self):
        s = st.Style(self.results)
        transports = set(s.order["carrier"])
        seen = {}
        for name, panels in self.charts.items():
            for spec in panels:
                for ds in spec["datasets"]:
                    first = ds["label"].split(" · ")[0]
                    if first in transports and not ds.get("ref"):
                        seen.setdefault(first, set()).add((ds["color"], ds.get("marker")))
                        self.assertEqual(ds["color"], s.color("transport", first), (name, ds["label"]))
        self.assertGreaterEqual(len(seen), 4, seen)
        for t, styles in seen.items():
            self.assertEqual(len(styles), 1, f"{t} drawn as {styles}")
        self.assertEqual(len({c for styles in seen.values() for c, _ in styles}), len(seen))

    def test_legend_outside_the_data(self):
        plt = pyplot()
        checked = 0
        for name, mod in MODULES.items():
            fig = mod.plot(plt, self.results, self.labels, 32)
            if fig is None:
                continue
            try:
                fig.canvas.draw()
                legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
                self.assertTrue(legends, f"{name}: no legend")
                for leg in legends:
                    box = leg.get_window_extent()
                    for ax in fig.axes:
                        self.assertFalse(box.overlaps(ax.get_window_extent()),
                                         f"{name}: legend over the panel {ax.get_title()!r}")
                    fig_box = fig.bbox
                    self.assertTrue(box.x0 >= fig_box.x0 - 1 and box.x1 <= fig_box.x1 + 1,
                                    f"{name}: legend outside the image")
                checked += 1
            finally:
                plt.close(fig)
        self.assertEqual(checked, len(self.made))

    def test_hover_carries_row_and_percentiles(self):
        spec = self.charts["latency_vs_size"][0]
        point = next(p for ds in spec["datasets"] if not ds.get("ref") for p in ds["points"])
        meta = point[2]
        self.assertTrue(meta["row"].startswith("pingpong/"))
        self.assertEqual([m for m, _ in meta["values"]][:2], ["rtt_p50_ns", "rtt_p99_ns"])


if __name__ == "__main__":
    unittest.main()
