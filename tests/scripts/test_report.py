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
from ipcmeter import recommend as advice  # noqa: E402
from ipcmeter import results as ir  # noqa: E402
from ipcmeter import rules as rc  # noqa: E402
from ipcmeter.plots import PLOTS  # noqa: E402

FIX = os.path.join(ROOT, "tests", "fixtures")
REPORT = os.path.join(SCRIPTS, "report.py")
ALL_PLOTS = set(PLOTS)
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
        # Scripts are inline only: Debian's Chart.js, whose licence comments (kept, /*! */)
        # name its home pages, and the page's own; nothing else may name a location.
        page = self.html
        lib = re.search(r'<script id="chartjs-lib">(.*?)</script>', page, re.S)
        if lib:
            code = re.sub(r"/\*!.*?\*/", "", lib.group(1), flags=re.S)
            self.assertNotRegex(code, r"(?i)https?:|ftp:")
            page = page.replace(lib.group(0), "")
        self.assertNotRegex(page, r"(?i)https?:|ftp:|//[a-z0-9.-]+\.[a-z]{2,}/")
        self.assertNotRegex(page, r"(?i)<link|<script[^>]*\bsrc|@import|url\(|<iframe|<object|<embed")
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
        # The answer first: the decision guide opens summary.md, the environment closes it.
        self.assertLess(self.md.index("## Decision guide"), self.md.index("## Recommendation"))
        self.assertGreater(self.md.index("## Environment"), self.md.index("## All results"))

    def test_errors_are_rows(self):
        for text in (self.html, self.md):
            self.assertIn("cannot run: forkserver is not offered by this build", text)
            self.assertIn("cannot run: tbb_queue connects threads of one process only", text)

    def test_recommendation_in_text(self):
        # Most rows have one repetition: figures say n, comparisons give no verdict.
        self.assertIn("Lowest latency at 64 B, p50 round trip: shm_ring · thread · spin measured "
                      "lowest, 150 ns (median of n=3, range 148 ns–155 ns), against shm_ring · fork "
                      "· spin, 180 ns (n=1): inconclusive (n=3 vs n=1", self.md)
        self.assertIn("shm (shm_ring · spin) 180 ns (n=1); pipe (pipe) 5.50 µs (median of n=3, "
                      "range 5.00 µs–7.00 µs), inconclusive against shm (n=1 vs n=3", self.md)
        self.assertIn("At 32 MiB parent memory, asked → the child's first message: fork 400 µs "
                      "(n=1) vs posix_spawn 603 µs (n=1)", self.md)
        self.assertIn("cpu: threads vs processes, threads 3.80× (n=1) vs fork 3.60× (n=1) with 4 "
                      "workers on 4 CPUs: inconclusive", self.md)
        self.assertNotIn("scale better", self.md)
        self.assertNotIn("-> use", self.md)


class RecommendationValuesTest(unittest.TestCase):
    """The numbers follow from tests/fixtures/make_fixtures.py's tables."""

    @classmethod
    def setUpClass(cls):
        cls.r = ir.load(fixture("results-full.json"))
        cls.rec = advice.recommend(cls.r, rss_mib=32)

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
        self.assertEqual((claim["winner"], claim["status"]), (None, rc.INCONCLUSIVE))  # n=1
        self.assertAlmostEqual(claim["fork_ns"], (80 + 10 * 32) * 1e3)      # interpolated 1..64 MiB
        self.assertEqual(claim["spawn_method"], "posix_spawn")
        self.assertAlmostEqual(claim["spawn_ns"], (600 + 0.1 * 32) * 1e3)

    def test_spawn_at_measured_sizes(self):
        claims = advice.recommend(self.r)["spawn"]
        self.assertEqual([c.get("winner") for c in claims], [None, None, None])  # no crossover
        self.assertEqual([c["spawn_method"] for c in claims], ["posix_spawn"] * 3)

    def test_scaling(self):
        by_kernel = {c["kernel"]: c for c in self.rec["scaling"]}
        self.assertEqual((by_kernel["cpu"]["winner"], by_kernel["cpu"]["thread"],
                          by_kernel["cpu"]["process"]), (None, 3.8, 3.6))
        self.assertEqual((by_kernel["membw"]["winner"], by_kernel["membw"]["process"],
                          by_kernel["membw"]["process_peer"]), (None, 2.1, "fork"))

    def test_pool(self):
        first = self.rec["pool"][0]
        self.assertEqual((first["task_us"], first["executor"], first["value"]), (1, "tbb_parallel_for", 100))


def all_claims(rec):
    """Every claim of advice.recommend(), bands first."""
    return ([c for band in rec["bands"] for c in band["claims"]]
            + rec["spawn"] + rec["scaling"] + rec["pool"])


# The comparisons tests/fixtures/make_fixtures.py's decision_rows() sets up.
COMPARED = ("lowest_latency", "lowest_latency_processes", "cheapest_cpu", "highest_throughput",
            "spawn", "scaling", "pool")


class ClearWinnerTest(ReportRun):
    """5 repetitions, each winner 20% or more ahead: named, with its spread and interval."""
    FILES = ("results-reps5-clear.json",)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.r = ir.load(fixture(cls.FILES[0]))
        cls.claims = all_claims(advice.recommend(cls.r))

    def test_exit(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)

    def test_winners_named_with_spread(self):
        for text in (self.md, self.html):
            self.assertIn("Lowest latency at 64 B, p50 round trip: shm_ring · thread · spin, 150 ns "
                          "(median of n=5, range 147 ns–153 ns); runner-up shm_ring · fork · spin, "
                          "180 ns (median of n=5, range 176 ns–184 ns), 1.20× slower (95% interval "
                          "1.16×–1.24×).", text)
        self.assertIn("pipe (pipe) 5.50 µs (median of n=5, range 5.39 µs–5.61 µs), 30.6× slower (95% "
                      "interval", self.md)
        self.assertIn("fork 90.0 µs (median of n=5, range 88.2 µs–91.8 µs) vs posix_spawn 600 µs "
                      "(median of n=5, range 588 µs–612 µs)", self.md)
        self.assertRegex(self.md, r"-> use fork, 6\.67× faster \(95% interval 6\.\d+×–6\.\d+×\)")
        self.assertIn("-> use posix_spawn, 4.16× faster than fork (95% interval", self.md)
        self.assertIn("fork stops being the faster between 1 and 256 MiB", self.md)
        self.assertIn("cpu: threads scale better here: threads 1.95× (median of n=5, range "
                      "1.91×–1.99×) vs fork 1.60× (median of n=5, range 1.57×–1.63×) with 2 workers "
                      "on 2 CPUs, 1.22× the speedup (95% interval", self.md)
        self.assertIn("Tasks of 1 µs, lowest overhead per task: tbb_parallel_for · chunk 1, 100 ns "
                      "(median of n=5", self.md)

    def test_every_comparison_decided(self):
        compared = [c for c in self.claims if c["kind"] in COMPARED]
        self.assertEqual(len(compared), 8)   # cpu scaling only: membw's is an error
        for c in compared:
            self.assertIn(c["status"], (rc.BETTER, rc.WORSE), c["text"])
            self.assertIn("median of n=5", c["text"])
            self.assertRegex(c["text"], r"95% interval \d")
        kinds = next(c for c in self.claims if c["kind"] == "kinds")
        self.assertEqual(kinds["statuses"], {"pipe": rc.BETTER, "queue": rc.BETTER})
        self.assertEqual([c["winner"] for c in self.claims if c["kind"] == "spawn"], ["fork", "posix_spawn"])
        self.assertNotIn("inconclusive", self.md)
        self.assertNotIn("no measurable difference", self.md)

    def test_interpolated_size_keeps_the_spread(self):
        (claim,) = advice.recommend(self.r, rss_mib=128)["spawn"]
        self.assertEqual((claim["winner"], claim["status"]), ("posix_spawn", rc.WORSE))
        self.assertIn("(interpolated between measured sizes)", claim["text"])
        self.assertIn("fork 1.34 ms (median of n=5, range", claim["text"])

    def test_superlinear_speedup_flagged_not_recommended(self):
        (error,) = [c for c in self.claims if c["kind"] == "scaling_error"]
        self.assertEqual((error["kernel"], error["peer"], error["workers"], error["limit"]),
                         ("membw", "thread", 2, 2))
        self.assertIn("membw: measurement error, not a result: thread with 2 workers on 2 CPUs "
                      "measured a speedup of 2.97× (median of n=5, range 2.91×–3.03×), more than the "
                      "2× that is possible", self.md)
        self.assertEqual([c["kernel"] for c in self.claims if c["kind"] == "scaling"], ["cpu"])
        self.assertNotRegex(self.md, r"membw: (threads|processes) scale")


class OverlapTest(ReportRun):
    """5 repetitions, rivals 1-2% apart within ±6% noise: no measurable difference."""
    FILES = ("results-reps5-overlap.json",)

    def test_no_measurable_difference(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        for text in (self.md, self.html):
            self.assertIn("Lowest latency at 64 B, p50 round trip: no measurable difference between "
                          "shm_ring · thread · spin, 150 ns (median of n=5, range 141 ns–159 ns), and "
                          "shm_ring · thread · hybrid, 152 ns (median of n=5, range 143 ns–161 ns) "
                          "(ratio 0.99, 95% interval 0.9", text)
        self.assertIn("about 15 repetitions of each would resolve ±5%", self.md)
        self.assertIn("-> no measurable difference between fork and posix_spawn (ratio", self.md)
        self.assertIn("cpu: no measurable difference between threads and processes: threads 1.95× "
                      "(median of n=5", self.md)
        self.assertIn("Tasks of 1 µs, lowest overhead per task: no measurable difference between "
                      "tbb_parallel_for · chunk 1", self.md)
        self.assertNotIn("scale better", self.md)

    def test_statuses(self):
        claims = all_claims(advice.recommend(ir.load(fixture(self.FILES[0]))))
        by_kind = {}
        for c in claims:
            by_kind.setdefault(c["kind"], []).append(c)
        for kind in ("lowest_latency", "lowest_latency_processes", "highest_throughput", "pool",
                     "scaling"):
            self.assertEqual([c["status"] for c in by_kind[kind]], [rc.SAME], kind)
        self.assertEqual([(c["winner"], c["status"]) for c in by_kind["spawn"]],
                         [(None, rc.SAME), ("posix_spawn", rc.WORSE)])
        # The rivals far behind are still told apart.
        self.assertEqual(by_kind["kinds"][0]["statuses"], {"pipe": rc.BETTER, "queue": rc.BETTER})
        self.assertNotIn("spawn_crossover", by_kind)


class SingleRepetitionTest(ReportRun):
    """One repetition: every comparison inconclusive, saying what would decide it."""
    FILES = ("results-reps1.json",)

    def test_inconclusive_with_what_decides(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        self.assertIn("Lowest latency at 64 B, p50 round trip: shm_ring · thread · spin measured "
                      "lowest, 150 ns (n=1), against shm_ring · fork · spin, 180 ns (n=1): "
                      "inconclusive (n=1 vs n=1; a comparison needs 3 repetitions of each); run "
                      "the default profile (which repeats the compared rows 3 times) or "
                      "--benchmark_repetitions=3 or more to decide.", self.md)
        self.assertIn("fork 90.0 µs (n=1) vs posix_spawn 600 µs (n=1) (a thread: 20.0 µs (n=1)) -> "
                      "inconclusive", self.md)
        for verdict in ("runner-up", "-> use", "scale better", "no measurable difference",
                        "fork stops being", "95% interval"):
            self.assertNotIn(verdict, self.md)

    def test_every_comparison_inconclusive(self):
        claims = all_claims(advice.recommend(ir.load(fixture(self.FILES[0]))))
        compared = [c for c in claims if c["kind"] in COMPARED + ("kinds",)]
        self.assertEqual(len(compared), 9)
        for c in compared:
            self.assertIn("inconclusive", c["text"])
            self.assertIn(rc.DECIDE_HINT, c["text"])
            self.assertNotIn("median of", c["text"])
            if c["kind"] != "kinds":
                self.assertEqual(c["status"], rc.INCONCLUSIVE)
                self.assertIsNone(c.get("winner"))

    def test_superlinear_flagged_from_one_sample(self):
        self.assertIn("membw: measurement error, not a result: thread with 2 workers on 2 CPUs "
                      "measured a speedup of 2.97× (n=1)", self.md)


class RulesTest(unittest.TestCase):
    """scripts/ipcmeter/rules.py on hand-made values."""

    def test_within_margin_is_no_measurable_difference(self):
        a = rc.Option("a", [100, 100.5, 101, 101.5, 102])
        b = rc.Option("b", [103, 103.5, 104, 104.5, 105])
        c = rc.Comparison(a, b, higher_is_better=False)
        self.assertLess(c.ci[1], 1.0)   # a real difference, but inside ±5%
        self.assertEqual(c.status, rc.SAME)
        self.assertIn("within ±5%", c.interval_text())

    def test_two_repetitions_are_too_few(self):
        c = rc.Comparison(rc.Option("a", [100, 101]), rc.Option("b", [200, 201, 202]), False)
        self.assertEqual(c.status, rc.INCONCLUSIVE)
        self.assertEqual(c.inconclusive_text(), "inconclusive (n=2 vs n=3; a comparison needs 3 "
                         "repetitions of each); " + rc.DECIDE_HINT)

    def test_three_repetitions_decide_a_clear_gap(self):
        c = rc.Comparison(rc.Option("a", [100, 101, 102]), rc.Option("b", [200, 201, 202]), False)
        self.assertEqual(c.status, rc.BETTER)
        self.assertTrue(c.gap_text("slower").startswith("1.99× slower (95% interval"))

    def test_non_positive_values_no_ratio(self):
        c = rc.Comparison(rc.Option("a", [-5, 1, 2]), rc.Option("b", [10, 11, 12]), False)
        self.assertEqual(c.status, rc.INCONCLUSIVE)
        self.assertIn("not all positive", c.inconclusive_text())
        self.assertNotIn(rc.DECIDE_HINT, c.inconclusive_text())

    def test_figure(self):
        self.assertEqual(rc.figure(rc.Option("x", [3, 1, 2]), str), "2.0 (median of n=3, range 1.0–3.0)")
        self.assertEqual(rc.figure(rc.Option("x", [2], rounds=(1, 3)), str), "2.0 (n=1; its rounds 1–3)")
        self.assertEqual(rc.figure(rc.Option("x", [170.2, 169.9]), "{:.0f} ns".format),
                         "170 ns (median of n=2, all 170 ns)")

    def test_superlinear(self):
        self.assertEqual(rc.superlinear(2.97, 2, 2), 2)
        self.assertIsNone(rc.superlinear(2.05, 2, 2))     # within the 5% margin
        self.assertEqual(rc.superlinear(2.5, 8, 2), 2)    # oversubscribed: the CPUs bound it
        self.assertEqual(rc.superlinear(1.2, 1, None), 1)
        self.assertIsNone(rc.superlinear(3.9, 4, None))

    def test_values_at_interpolates_each_quantile(self):
        values, outside = advice.values_at([(0, [10, 20, 30]), (10, [30, 40, 50])], 5)
        self.assertEqual((values, outside), ([20, 30, 40], False))
        self.assertEqual(advice.values_at([(0, [1, 2]), (10, [3])], 20), ([3], True))


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
