"""The report's placement table (scripts/ipcmeter/writers/placement.py) on a hand-made file:
every `where` a column headed by its floor, each link a row, lacking placements said."""

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
from ipcmeter.writers.placement import placement_table  # noqa: E402

BASE = os.path.join(ROOT, "tests", "fixtures", "results-full.json")
LACKING = "no two allowed CPUs share a physical core"


def row(link, where, p50=None, ratio=None, error=None):
    b = {"name": f"placement/{link}/where:{where}/manual_time", "run_name": f"placement/{link}/where:{where}/manual_time",
         "run_type": "iteration", "repetitions": 1, "repetition_index": 0, "threads": 1,
         "iterations": 100, "real_time": p50 or 0, "cpu_time": 1.0, "time_unit": "ns"}
    if error:
        b.update(error_occurred=True, error_message=error)
    else:
        b.update(rtt_p50_ns=p50, rtt_p99_ns=p50 * 2)
        if ratio is not None:
            b["ratio_to_floor"] = ratio
    return b


class PlacementTableTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        with open(BASE) as f:
            d = json.load(f)
        # The fixture's own placement rows give way to this test's.
        d["benchmarks"] = [b for b in d["benchmarks"] if not b["name"].startswith("placement/")]
        d["ipcmeter"]["floors"]["c2c_by_placement"] = {
            "same_cpu": {"c2c_rtt_ns": 4800.0, "parent_cpu": 0, "peer_cpu": 0},
            "other_core": {"c2c_rtt_ns": 430.0, "parent_cpu": 0, "peer_cpu": 1},
            "smt_sibling": {"lacking": LACKING},
            "unpinned": {"c2c_rtt_ns": None},
        }
        pipe = "transport:pipe/peer:fork/size:64"
        d["benchmarks"] += [row(pipe, "same_cpu", 17500, 3.6), row(pipe, "other_core", 9000, 20.9),
                            row(pipe, "smt_sibling", error="smt_sibling: " + LACKING),
                            row(pipe, "unpinned", 14000),
                            row("transport:shm_ring/peer:fork/size:64/wait:block", "same_cpu", 11500, 2.4)]
        cls.path = os.path.join(cls.tmp, "placement.json")
        with open(cls.path, "w") as f:
            json.dump(d, f)
        cls.rows = placement_table(ir.load(cls.path))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_columns_are_the_wheres_with_their_floors(self):
        header = self.rows[0]
        self.assertEqual(header[1:], ["same_cpu (floor 4.80 µs)", "other_core (floor 430 ns)",
                                      "smt_sibling (none here)", "unpinned (no floor)"])

    def test_cells_carry_p50_and_ratio(self):
        pipe = self.rows[1]
        self.assertEqual(pipe[0], "transport:pipe/peer:fork/size:64")
        self.assertEqual(pipe[1], "17.5 µs (×3.6)")
        self.assertEqual(pipe[2], "9.00 µs (×20.9)")
        self.assertTrue(pipe[3].startswith("cannot run: smt_sibling: " + LACKING), pipe[3])
        self.assertEqual(pipe[4], "14.0 µs")  # unpinned: no floor, so no ratio

    def test_a_link_missing_a_where_shows_a_dash(self):
        ring = self.rows[2]
        self.assertEqual(ring[0], "transport:shm_ring/peer:fork/size:64/wait:block")
        self.assertEqual(ring[1:], ["11.5 µs (×2.4)", "—", "—", "—"])

    def test_no_placement_rows_no_table(self):
        self.assertIsNone(placement_table(ir.load(os.path.join(ROOT, "tests", "fixtures", "results-partial.json"))))

    def test_report_has_the_section(self):
        out = os.path.join(self.tmp, "rep")
        p = subprocess.run([sys.executable, os.path.join(SCRIPTS, "report.py"), self.path, "-o", out],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(out, "summary.md")) as f:
            md = f.read()
        self.assertIn("## Where the two sides run", md)
        self.assertIn("17.5 µs (×3.6)", md)


if __name__ == "__main__":
    unittest.main()
