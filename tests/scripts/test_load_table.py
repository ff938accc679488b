"""The report's load table (scripts/ipcmeter/writers/load.py) on a hand-made file: known
numbers give a known sustainable rate; a saturated row is never chosen, whatever its numbers;
the unloaded p50 is pingpong's where the file has it, else the lowest offered rate's."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(ROOT, "scripts")
sys.path.insert(0, SCRIPTS)
from ipcmeter import results as ir  # noqa: E402
from ipcmeter.writers.load import load_table  # noqa: E402

BASE = os.path.join(ROOT, "tests", "fixtures", "results-full.json")
REFUSAL = "tbb_queue connects threads of one process only; it cannot reach a fork peer"


def row(link, pct, sat, p50=None, p99=None, saturated=0, error=None):
    name = f"load/{link}/offered:{pct}/manual_time"
    b = {"name": name, "run_name": name, "run_type": "iteration", "repetitions": 1, "repetition_index": 0,
         "threads": 1, "iterations": 1, "real_time": 2e8, "cpu_time": 2e8, "time_unit": "ns"}
    if error:
        b.update(error_occurred=True, error_message=error)
        return b
    offered = sat * pct / 100
    b.update(offered_per_second=offered, achieved_per_second=offered, saturation_per_second=sat,
             late_sends=0, saturated=saturated, window_msgs=64, cpu_ns_per_msg=1000.0)
    if p50 is not None:
        b.update(lat_p50_ns=p50, lat_p99_ns=p99, lat_p999_ns=p99 * 2, lat_max_ns=p99 * 3)
    if saturated:
        b["label"] = "saturated: achieved 1/s of offered 2/s; latency grew from 1 us to 1 ms over the interval"
    return b


PIPE = "transport:pipe/peer:fork/size:64"  # the fixture's pingpong p50 for this link: 5.50 µs
SOCK = "transport:socketpair/peer:fork/size:128"  # no pingpong row: the 1% row's p50 (8 µs)
TBB = "transport:tbb_queue/peer:fork/size:64"


class LoadTableTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        with open(BASE) as f:
            d = json.load(f)
        d["benchmarks"] = [b for b in d["benchmarks"] if not b["name"].startswith("load/")]
        d["benchmarks"] += [
            # budget 10 × 5.5 µs = 55 µs: 50% (p99 50 µs) fits, 75% (70 µs) does not; 100% is
            # marked saturated though its p99 would fit, so it is never chosen.
            row(PIPE, 10, 100000, 9000, 20000), row(PIPE, 50, 100000, 12000, 50000),
            row(PIPE, 75, 100000, 15000, 70000), row(PIPE, 90, 100000, saturated=1),
            row(PIPE, 100, 100000, 6000, 1000, saturated=1),
            # budget 10 × 8 µs = 80 µs: 25% (79 µs) is the last that fits.
            row(SOCK, 1, 40000, 8000, 12000), row(SOCK, 10, 40000, 9000, 60000),
            row(SOCK, 25, 40000, 9500, 79000), row(SOCK, 50, 40000, 10000, 81000),
            row(SOCK, 90, 40000, error="saturation measurement: the peer stopped answering"),
            row(TBB, 10, 0, error=REFUSAL), row(TBB, 50, 0, error=REFUSAL),
        ]
        cls.path = os.path.join(cls.tmp, "load.json")
        with open(cls.path, "w") as f:
            json.dump(d, f)
        rows = load_table(ir.load(cls.path))
        cls.header, cls.rows = rows[0], {r[0]: r for r in rows[1:]}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_header(self):
        self.assertEqual(self.header, ["link", "saturation", "unloaded p50 (p99 budget = 10×)",
                                       "sustainable rate at the p99 budget",
                                       "p99 at 50% of saturation", "p99 at 90% of saturation"])

    def test_sustainable_rate_against_pingpong_p50_skips_saturated_rows(self):
        self.assertEqual(self.rows[PIPE], [PIPE, "100000 /s", "5.50 µs (pingpong p50)",
                                           "50000 /s (50%, p99 50.0 µs)", "50.0 µs", "saturated"])

    def test_sustainable_rate_against_the_lowest_offered_p50(self):
        self.assertEqual(self.rows[SOCK], [SOCK, "40000 /s", "8.00 µs (p50 at offered 1%)",
                                           "10000 /s (25%, p99 79.0 µs)", "81.0 µs",
                                           "cannot run: saturation measurement: the peer stopped answering"])

    def test_a_link_that_cannot_run_says_why(self):
        self.assertEqual(self.rows[TBB], [TBB, "cannot run: " + REFUSAL, "—", "—", "—", "—"])

    def test_no_load_rows_no_table(self):
        self.assertIsNone(load_table(ir.load(os.path.join(ROOT, "tests", "fixtures", "results-partial.json"))))

    def test_report_has_the_section(self):
        out = os.path.join(self.tmp, "rep")
        p = subprocess.run([sys.executable, os.path.join(SCRIPTS, "report.py"), self.path, "-o", out],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(out, "summary.md")) as f:
            md = f.read()
        self.assertIn("## Latency under load", md)
        self.assertIn("50000 /s (50%, p99 50.0 µs)", md)
        self.assertTrue(os.path.exists(os.path.join(out, "load_curves.png")))


if __name__ == "__main__":
    unittest.main()
