"""Tests for scripts/report.py against the fixtures in tests/fixtures."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(ROOT, "scripts")
sys.path.insert(0, SCRIPTS)
import ipcmeter_results as ir  # noqa: E402
import report  # noqa: E402

FIX = os.path.join(ROOT, "tests", "fixtures")
REPORT = os.path.join(SCRIPTS, "report.py")
ALL_PLOTS = set(report.PLOTS)
PINGPONG_STREAM_PLOTS = {"latency_vs_size", "peer_comparison", "throughput_vs_size",
                         "latency_percentiles", "latency_vs_cpu"}


def fixture(name):
    return os.path.join(FIX, name)


def run(*args):
    return subprocess.run([sys.executable, REPORT, *args], capture_output=True, text=True,
                          timeout=120)


class ReportRun(unittest.TestCase):
    """Runs report.py once per class on FILES and keeps the output directory."""
    FILES: tuple = ()
    EXTRA: tuple = ()

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.out = os.path.join(cls.tmp, "report")
        cls.proc = run(*[fixture(f) if not os.path.isabs(f) else f for f in cls.FILES],
                       "-o", cls.out, *cls.EXTRA)
        cls.html = cls.md = ""
        if cls.proc.returncode == 0:
            with open(os.path.join(cls.out, "report.html"), encoding="utf-8") as f:
                cls.html = f.read()
            with open(os.path.join(cls.out, "summary.md"), encoding="utf-8") as f:
                cls.md = f.read()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def plots(self):
        return {f[:-4] for f in os.listdir(self.out) if f.endswith(".png")}

    def assertSelfContained(self):
        self.assertNotRegex(self.html, r"(?i)https?:|ftp:|//[a-z0-9.-]+\.[a-z]{2,}/")
        self.assertNotRegex(self.html, r"(?i)<link|<script|@import|url\(|<iframe|<object|<embed")
        for src in re.findall(r'(?i)\b(?:src|href)\s*=\s*"([^"]*)"', self.html):
            self.assertTrue(src.startswith("data:image/png;base64,"), src[:40])


class FullFixtureTest(ReportRun):
    FILES = ("results-full.json",)
    EXTRA = ("--rss-mib", "32")

    def test_exit_and_files(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        self.assertEqual(self.plots(), ALL_PLOTS)
        for name in ALL_PLOTS:
            with open(os.path.join(self.out, name + ".png"), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
            self.assertIn(f'id="{name}"', self.html)
        self.assertEqual(self.html.count("data:image/png;base64,"), len(ALL_PLOTS))
        self.assertEqual([n for n in os.listdir(self.tmp) if n != "report"], [])  # no temp left

    def test_self_contained(self):
        self.assertSelfContained()

    def test_environment_and_noise(self):
        for text in (self.html, self.md):
            self.assertIn("Fixture CPU 4000", text)
            self.assertIn("6.1.0-fixture", text)
            self.assertIn("120 → 126 (+5%)", text)
            self.assertIn("pingpong/transport:pipe/peer:fork/size:64 varies 18%", text)
        self.assertLess(self.md.index("## Environment"), self.md.index("## Recommendation"))

    def test_errors_are_rows(self):
        for text in (self.html, self.md):
            self.assertIn("cannot run: forkserver is not offered by this build", text)
            self.assertIn("cannot run: tbb_queue connects threads of one process only", text)

    def test_recommendation_in_text(self):
        self.assertIn("Lowest latency: shm_ring · thread · spin, 150 ns p50 round trip at 64 B", self.md)
        self.assertIn("shm (shm_ring · spin) 180 ns; pipe (pipe) 5.50 µs, 30.6× slower", self.md)
        self.assertIn("At 32 MiB parent memory: fork 400 µs vs posix_spawn 603 µs", self.md)
        self.assertIn("cpu: threads scale better here: threads 3.80×", self.md)
        self.assertIn("membw: processes scale better here", self.md)


class RecommendationValuesTest(unittest.TestCase):
    """The numbers follow from tests/fixtures/make_fixtures.py's tables."""

    @classmethod
    def setUpClass(cls):
        cls.r = ir.load(fixture("results-full.json"))
        cls.rec = report.recommend(cls.r, rss_mib=32)

    def claims(self, band):
        entry = next(b for b in self.rec["bands"] if b["band"] == band)
        return entry, {c["kind"]: c for c in entry["claims"]}

    def test_small_band(self):
        entry, c = self.claims("small")
        self.assertEqual(entry["size"], 64)
        self.assertEqual(c["lowest_latency"]["option"], "shm_ring · thread · spin")
        self.assertEqual(c["lowest_latency"]["value"], 150.0)   # median of 148, 150, 155
        self.assertEqual(c["lowest_latency_processes"]["option"], "shm_ring · fork · spin")
        self.assertEqual(c["lowest_latency_processes"]["value"], 180.0)
        self.assertEqual(c["cheapest_cpu"]["option"], "tbb_queue · thread")
        self.assertAlmostEqual(c["cheapest_cpu"]["value"], 300 * 0.6)
        self.assertEqual(c["highest_throughput"]["option"], "shm_ring · thread · spin")
        self.assertAlmostEqual(c["highest_throughput"]["value"], 64e9 / (50 + 0.04 * 64), delta=1e3)
        kinds = c["kinds"]
        self.assertEqual(kinds["peer"], "fork")
        self.assertEqual(kinds["order"], ["shm", "pipe", "queue"])
        self.assertAlmostEqual(kinds["factors"]["pipe"], 5500 / 180)   # median of 5000, 5500, 7000
        self.assertAlmostEqual(kinds["factors"]["queue"], 6500 / 180)

    def test_medium_and_large_bands(self):
        entry, c = self.claims("medium")
        self.assertEqual((entry["size"], entry["stream_size"]), (4096, 65536))
        self.assertAlmostEqual(c["lowest_latency"]["value"], 150 + 0.05 * 4032, places=3)
        self.assertAlmostEqual(c["highest_throughput"]["value"], 65536e9 / (50 + 0.04 * 65536), delta=1e4)
        entry, c = self.claims("large")
        self.assertEqual(entry["size"], 1048576)
        # posix_mq cannot carry 1 MiB and tbb_queue only connects threads, so the
        # peer measuring all three kinds is the thread peer
        self.assertEqual(c["kinds"]["peer"], "thread")
        self.assertEqual(c["kinds"]["order"], ["shm", "queue", "pipe"])
        self.assertAlmostEqual(c["kinds"]["factors"]["queue"],
                               (300 + 0.06 * (1048576 - 64)) / (150 + 0.05 * (1048576 - 64)))
        self.assertEqual(c["cheapest_cpu"]["option"], "shm_ring · thread · block")

    def test_spawn_at_user_size(self):
        (claim,) = self.rec["spawn"]
        self.assertEqual(claim["winner"], "fork")
        self.assertAlmostEqual(claim["fork_ns"], (80 + 10 * 32) * 1e3)      # interpolated 1..64 MiB
        self.assertEqual(claim["spawn_method"], "posix_spawn")
        self.assertAlmostEqual(claim["spawn_ns"], (600 + 0.1 * 32) * 1e3)

    def test_spawn_at_measured_sizes(self):
        claims = report.recommend(self.r)["spawn"]
        self.assertEqual([c.get("winner") for c in claims], ["fork", "posix_spawn", "posix_spawn", None])
        self.assertIn("between 1 and 64 MiB", claims[-1]["text"])

    def test_scaling(self):
        by_kernel = {c["kernel"]: c for c in self.rec["scaling"]}
        self.assertEqual((by_kernel["cpu"]["winner"], by_kernel["cpu"]["thread"],
                          by_kernel["cpu"]["process"]), ("thread", 3.8, 3.6))
        self.assertEqual((by_kernel["membw"]["winner"], by_kernel["membw"]["process"],
                          by_kernel["membw"]["process_peer"]), ("process", 2.1, "fork"))

    def test_pool(self):
        first = self.rec["pool"][0]
        self.assertEqual((first["task_us"], first["executor"], first["value"]), (1, "tbb_parallel_for", 100))


class PartialFixtureTest(ReportRun):
    FILES = ("results-partial.json",)

    def test_skips_absent_families(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        self.assertEqual(self.plots(), PINGPONG_STREAM_PLOTS)
        for name in ALL_PLOTS - PINGPONG_STREAM_PLOTS:
            self.assertNotIn(f"`{name}.png`", self.md)
        for family in ("spawn", "compute", "pool", "sync"):
            self.assertIn(f"skipped: no {family} results in the file", self.md)
            self.assertIn(f"skipped: no {family} results in the file", self.html)
        self.assertNotIn("### fork vs spawn", self.md)
        self.assertSelfContained()

    def test_noisy_run_flagged(self):
        self.assertIn("drifted 35%", self.md)
        self.assertIn("NOISY", self.md)
        self.assertIn("This run is noisy", self.html)


class SeveralFilesTest(ReportRun):
    # A hand-made file beside an excerpt of one the binary wrote.
    FILES = ("results-partial.json", "results-example.json")

    def test_side_by_side(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        for text in (self.html, self.md):
            self.assertIn("fixture-b · 2026-11-21T09:30:00+00:00", text)
            self.assertIn(ir.load(fixture("results-example.json")).label, text)
            self.assertRegex(text, r"Recommendation — fixture-b")
            self.assertEqual(len(re.findall(r"Recommendation — ", text)), 2)
        header = next(line for line in self.md.splitlines() if line.startswith("| file |"))
        self.assertEqual(header.count("|"), 4)   # label + one column per file
        self.assertSelfContained()


class BadInputTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def check(self, args, *words, out=None):
        out = out or os.path.join(self.tmp, "out")
        proc = run(*args, "-o", out)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, proc.stderr)
        for w in words:
            self.assertIn(w, lines[0])
        self.assertNotIn("Traceback", proc.stderr)
        return out

    def test_each_bad_input(self):
        cases = {
            "no-such-file.json": "no such file",
            "bad-empty.json": "empty file",
            "bad-truncated.json": "invalid JSON at line",
            "bad-not-ipcmeter.json": "not an ipcmeter results file",
            "bad-newer-schema.json": "written by a newer ipcmeter",
            "results-all-errored.json": "every benchmark errored",
        }
        for name, words in cases.items():
            with self.subTest(name):
                out = self.check([fixture(name)], fixture(name), words)
                self.assertFalse(os.path.exists(out))
                self.assertEqual(os.listdir(self.tmp), [])   # no temp directory left behind

    def test_one_bad_file_among_good_writes_nothing(self):
        out = os.path.join(self.tmp, "existing")
        os.mkdir(out)
        with open(os.path.join(out, "report.html"), "w") as f:
            f.write("old")
        self.check([fixture("results-partial.json"), fixture("bad-truncated.json")],
                   "bad-truncated.json", out=out)
        self.assertEqual(os.listdir(out), ["report.html"])
        with open(os.path.join(out, "report.html")) as f:
            self.assertEqual(f.read(), "old")

    def test_output_is_a_file(self):
        path = os.path.join(self.tmp, "afile")
        open(path, "w").close()
        self.check([fixture("results-partial.json")], "not a directory", out=path)

    def test_help(self):
        proc = subprocess.run([sys.executable, REPORT, "--help"], capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0)
        self.assertIn("self-contained HTML report", proc.stdout)
        self.assertIn("--rss-mib", proc.stdout)


if __name__ == "__main__":
    unittest.main()
