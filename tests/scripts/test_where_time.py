"""The report's "Where the time goes" view (scripts/ipcmeter/where_time.py) on fixtures:
which rows it shows, the kernel's counts next to latency and CPU, and the reason for a count
that is absent."""

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
from ipcmeter.where_time import where_time_goes  # noqa: E402

FIX = os.path.join(ROOT, "tests", "fixtures")
KERNEL = os.path.join(FIX, "results-kernel.json")


def by_option(rows):
    header = rows[0]
    return {row[0]: dict(zip(header[1:], row[1:])) for row in rows[1:]}


class KernelFixtureTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.r = ir.load(KERNEL)
        cls.caption, cls.rows, cls.notes = where_time_goes(cls.r)
        cls.table = by_option(cls.rows)

    def test_one_row_per_transport_peer_wait_at_64_bytes(self):
        self.assertIn("64 B", self.caption)
        self.assertEqual(set(self.table), {"shm_ring · thread · spin", "shm_ring · fork · block",
                                           "pipe · thread", "pipe · fork", "posix_mq · fork"})

    def test_latency_next_to_switches_syscalls_and_cpu(self):
        self.assertEqual(self.rows[0], ["transport · peer · wait", "round trip p50", "CPU / msg",
                                        "switches / msg", "voluntary / msg", "involuntary / msg",
                                        "syscalls / msg"])
        pipe = self.table["pipe · fork"]
        self.assertEqual(pipe["round trip p50"], "5.50 µs")
        self.assertEqual(pipe["CPU / msg"], "3.30 µs")
        self.assertEqual(pipe["syscalls / msg"], "2.00")
        self.assertEqual(pipe["voluntary / msg"], "1.00")
        spin = self.table["shm_ring · thread · spin"]
        # Counted and none happened: zero, not absent.
        self.assertEqual(spin["switches / msg"], "0")
        self.assertEqual(spin["syscalls / msg"], "0")

    def test_absent_count_is_a_dash_with_the_files_reason(self):
        self.assertEqual(self.table["posix_mq · fork"]["syscalls / msg"], "—")
        self.assertEqual(len(self.notes), 1, self.notes)
        self.assertTrue(self.notes[0].startswith("syscalls_per_msg not counted: perf_event_open: "
                                                 "Permission denied"), self.notes[0])

    def test_fixture_is_physically_sane(self):
        # What the benchmark evidence is to show, kept true of the fixture that stands for it.
        rows = {(p.get("transport"), p.get("peer"), p.get("wait")): p.metrics
                for p in ir_points(self.r) if p.get("size") == 64}
        self.assertAlmostEqual(rows[("shm_ring", "thread", "spin")]["ctx_switches_per_msg"], 0.0)
        for peer in ("thread", "fork"):
            pipe = rows[("pipe", peer, None)]
            self.assertAlmostEqual(pipe["syscalls_per_msg"], 2.0, delta=0.2)
            self.assertGreaterEqual(pipe["voluntary_switches_per_msg"], 1.0)


def ir_points(r):
    from ipcmeter.points import points
    return points(r, "pingpong")


class WithoutKernelCountsTest(unittest.TestCase):
    def test_older_file_shows_dashes_and_says_it_does_not_know_why(self):
        caption, rows, notes = where_time_goes(ir.load(os.path.join(FIX, "results-full.json")))
        table = by_option(rows)
        self.assertEqual(table["pipe · fork"]["round trip p50"], "5.50 µs")
        self.assertEqual(table["pipe · fork"]["syscalls / msg"], "—")
        self.assertEqual(len(notes), 4)
        self.assertTrue(all("does not say why" in n for n in notes), notes)

    def test_no_pingpong_no_view(self):
        self.assertIsNone(where_time_goes(ir.load(os.path.join(FIX, "results-all-errored.json"))))

    def test_smallest_size_when_64_bytes_was_not_measured(self):
        r = ir.load(KERNEL)
        r.records = [x for x in r.records if x.params.get("size") != 64]
        caption, rows, _ = where_time_goes(r)
        self.assertIn("4 KiB", caption)
        self.assertIn("not measured", caption)
        self.assertEqual(len(rows), 6)


class ReportShowsTheViewTest(unittest.TestCase):
    def test_report_html_and_markdown_carry_the_table(self):
        tmp = tempfile.mkdtemp()
        try:
            out = os.path.join(tmp, "report")
            p = subprocess.run([sys.executable, os.path.join(SCRIPTS, "report.py"), KERNEL, "-o", out],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            with open(os.path.join(out, "summary.md"), encoding="utf-8") as f:
                md = f.read()
            with open(os.path.join(out, "report.html"), encoding="utf-8") as f:
                page = f.read()
            self.assertIn("## Where the time goes", md)
            self.assertIn("| pipe · fork | 5.50 µs | 3.30 µs |", md)
            self.assertIn("- syscalls_per_msg not counted: perf_event_open", md)
            self.assertIn("<h2>Where the time goes</h2>", page)
            self.assertIn("<th>syscalls / msg</th>", page)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
