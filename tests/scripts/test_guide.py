"""Tests for the decision guide (scripts/ipcmeter/guide.py, report.py --guide) on the fixtures
made by tests/fixtures/make_guide_fixtures.py (the numbers each test relies on are said there)."""

import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(ROOT, "scripts")
sys.path.insert(0, SCRIPTS)
from ipcmeter import guide  # noqa: E402
from ipcmeter import guide_page  # noqa: E402
from ipcmeter import results as ir  # noqa: E402
from ipcmeter import rules as rc  # noqa: E402

FIX = os.path.join(ROOT, "tests", "fixtures")
BASIC = os.path.join(FIX, "guide-basic.json")
NATIVE = os.path.join(FIX, "guide-native.json")
REPORT = os.path.join(SCRIPTS, "report.py")
GUIDE_JS = os.path.join(SCRIPTS, "ipcmeter", "guide.js")
NODE = shutil.which("node") or shutil.which("nodejs")
CHROMIUM = shutil.which("chromium")

SPIN_T, SPIN_F = "native:shm_ring:thread:spin", "native:shm_ring:fork:spin"
BLOCK_T, BLOCK_F = "native:shm_ring:thread:block", "native:shm_ring:fork:block"
PIPE_T, PIPE_F = "native:pipe:thread:-", "native:pipe:fork:-"
MQ_T, MQ_F = "native:posix_mq:thread:-", "native:posix_mq:fork:-"
BIP_T, BIP_F = "native:bip_mq:thread:-", "native:bip_mq:fork:-"
TBB = "native:tbb_queue:thread:-"
PY_PIPE, PY_Q = "python:Pipe:fork:3.11.2", "python:queue_Queue:thread:3.11.2"

_DATA = {}


def data(path=BASIC):
    if path not in _DATA:
        _DATA[path] = guide.options_data(ir.load(path))
    return _DATA[path]


def answer(text, path=BASIC):
    return guide.evaluate(data(path), guide.parse_case(text))


def reasons(result, oid):
    return {code: text for f in result["failed"] if f["id"] == oid for code, text in f["reasons"]}


def rank_of(result, oid):
    return next((i for i, g in enumerate(result["groups"]) if oid in g["ids"]), None)


class ParseCaseTest(unittest.TestCase):
    def test_defaults_and_values(self):
        c = guide.parse_case("size=64,rate=max")
        self.assertEqual(c, {"size": 64, "rate": "max", "p99_us": None, "cpu": None,
                             "peer": "any", "lang": "any"})
        c = guide.parse_case(" size = 65536 , rate=1e3,p99_us=2.5,cpu=0,peer=process,lang=python")
        self.assertEqual((c["size"], c["rate"], c["p99_us"], c["cpu"], c["peer"], c["lang"]),
                         (65536, 1000.0, 2.5, 0, "process", "python"))

    def test_refusals_say_what_and_where(self):
        for text, words in (("size=64", "rate is required"), ("rate=5", "size is required"),
                            ("size=64,rate=5,colour=red", "item 3 ('colour=red'): unknown key"),
                            ("size=64,rate=fast", "rate must be messages/s > 0, or max"),
                            ("size=64,rate=0", "rate must be"), ("size=64,rate=nan", "rate must be"),
                            ("size=0,rate=5", "size must be a whole number of bytes"),
                            ("size=6.5,rate=5", "size must be"), ("size=64,rate=5,cpu=-1", "cpu must be"),
                            ("size=64,rate=5,cpu=1.5", "cpu must be"),
                            ("size=64,rate=5,p99_us=-3", "p99_us must be microseconds"),
                            ("size=64,rate=5,peer=proc", "peer must be one of thread | process | any"),
                            ("size=64,rate=5,lang=rust", "lang must be one of native | python | any"),
                            ("size=64,rate=5,size=8", "size given twice"),
                            ("size=64,,rate=5", "item 2"), ("size64,rate=5", "expected key=value")):
            with self.subTest(text=text):
                with self.assertRaises(guide.CaseError) as cm:
                    guide.parse_case(text)
                self.assertIn(words, str(cm.exception))
                self.assertNotIn("\n", str(cm.exception))


class RulesTest(unittest.TestCase):
    def test_p99_over_budget_is_rejected_with_its_figure(self):
        r = answer("size=64,rate=10000,p99_us=25,lang=native")
        why = reasons(r, PIPE_F)
        self.assertEqual(list(why), ["p99_over"])
        self.assertIn("p99 over budget: 30.5 µs (median of n=5, range 29.9 µs–31.1 µs) of an unloaded "
                      "round trip (pingpong), more than 25 µs", why["p99_over"])
        self.assertIsNone(rank_of(r, PIPE_F))
        self.assertIsNotNone(rank_of(r, BLOCK_T))   # 20 µs: within budget

    def test_spin_is_rejected_when_nothing_may_spin(self):
        r = answer("size=64,rate=10000,cpu=0")
        for oid in (SPIN_T, SPIN_F):
            why = reasons(r, oid)
            self.assertEqual(list(why), ["spins"])
            self.assertIn("spins a core", why["spins"])
            self.assertIn("where the work itself is 100 ns (median of n=5, range 98.0 ns–102 ns) "
                          "per message, 0.001 of a core at 10.0 k msg/s", why["spins"])  # 100 ns × 10 k/s
        r = answer("size=64,rate=10000,cpu=1")
        self.assertEqual(rank_of(r, SPIN_T), 0)
        self.assertIn("spins a core", " ".join(r["shown"][SPIN_T]))

    def test_thread_only_transport_cannot_cross_processes(self):
        r = answer("size=64,rate=10000,peer=process")
        self.assertEqual(list(reasons(r, TBB)), ["cannot_cross"])
        ranked = {i for g in r["groups"] for i in g["ids"]}
        self.assertTrue(ranked)
        self.assertFalse([i for i in ranked if ":thread:" in i], ranked)
        # for threads it is an option, and not listed as failing
        r = answer("size=64,rate=10000,peer=thread")
        self.assertIsNotNone(rank_of(r, TBB))
        self.assertEqual(reasons(r, TBB), {})

    def test_over_the_size_limit(self):
        r = answer("size=65536,rate=1000")
        declared = reasons(r, MQ_F)          # transports table: max_msg_bytes 8192
        self.assertEqual(list(declared), ["size_limit"])
        self.assertIn("at most 8 KiB", declared["size_limit"])
        refused = reasons(r, BIP_F)          # no declared limit; its row refused the size
        self.assertEqual(list(refused), ["size_limit"])
        self.assertIn("exceeds bip_mq's queue", refused["size_limit"])

    def test_within_noise_is_tied_not_ranked(self):
        r = answer("size=64,rate=10000,lang=native")
        self.assertEqual(rank_of(r, MQ_T), rank_of(r, MQ_F))      # 1% apart
        group = r["groups"][rank_of(r, MQ_T)]
        self.assertEqual(sorted(group["ids"]), sorted([MQ_T, MQ_F]))
        self.assertIn("no measurable difference", group["why"][0])
        self.assertFalse(group["undecided"])
        self.assertNotEqual(rank_of(r, BLOCK_T), rank_of(r, BLOCK_F))  # 10% apart
        text = guide.render_text(data(), guide.parse_case("size=64,rate=10000,lang=native"), r)
        self.assertRegex(text, r"tied within noise: 2 options, each against posix_mq · (thread|fork), "
                               r"the lowest p99: no measurable difference \(ratio")

    def test_one_repetition_ranks_nothing_apart(self):
        r = answer("size=64,rate=10000,cpu=0", NATIVE)
        self.assertEqual(len(r["groups"]), 1)
        self.assertIn("undecided", [n[0] for n in r["notes"]])
        self.assertIn(rc.DECIDE_HINT, " ".join(n[1] for n in r["notes"]))

    def test_rate_max_ranks_by_throughput(self):
        r = answer("size=64,rate=max,cpu=1")
        order = [g["ids"] for g in r["groups"]]
        self.assertEqual(sorted(order[0]), sorted([SPIN_F, SPIN_T]))   # 10 M/s, tied
        self.assertEqual(sorted(order[1]), sorted([BLOCK_F, BLOCK_T]))  # 2 M/s
        self.assertEqual(order[2], [TBB])                               # 1 M/s
        # by p99 it would have been tbb_queue (5 µs) before shm_ring block (20 µs)
        r = answer("size=64,rate=10000,cpu=0,lang=native")
        self.assertEqual(r["groups"][0]["ids"], [TBB])
        self.assertEqual(r["failed"][0]["reasons"][0][0], "spins")

    def test_too_slow_from_the_load_curve_before_the_stream(self):
        r = answer("size=64,rate=460000,lang=native")
        why = reasons(r, PIPE_T)
        self.assertEqual(list(why), ["too_slow"])
        self.assertIn("the highest offered load its load curve kept up with, 450 k msg/s", why["too_slow"])
        self.assertIsNotNone(rank_of(r, PIPE_F))    # no load rows: its stream's 500 k/s
        self.assertEqual(list(reasons(r, MQ_T)), ["too_slow"])  # saturated from 400 k/s
        self.assertIn("its load curve saturated at every offered load, from 400 k msg/s",
                      reasons(r, MQ_T)["too_slow"])
        # under the lowest offered load a curve saturated everywhere says nothing: the stream decides
        r = answer("size=64,rate=350000,lang=native")
        self.assertIn("its one-way stream 300 k msg/s", reasons(r, MQ_T)["too_slow"])
        r = answer("size=64,rate=10000,lang=native")
        self.assertIn("throughput: its one-way stream 300 k msg/s", r["shown"][MQ_T][2])
        self.assertIn("of an unloaded round trip", r["shown"][MQ_T][0])

    def test_p99_interpolated_between_load_rows(self):
        r = answer("size=64,rate=200000,peer=thread,lang=native")
        shown = r["shown"][PIPE_T][0]
        self.assertIn("p99 47.5 µs", shown)   # 35 µs at 100 k/s, 60 µs at 300 k/s
        self.assertIn("interpolated between its offered loads 100 k msg/s and 300 k msg/s", shown)
        r = answer("size=64,rate=10000,peer=thread,lang=native")
        self.assertIn("p99 35.0 µs", r["shown"][PIPE_T][0])
        self.assertIn("at its lowest offered load", r["shown"][PIPE_T][0])

    def test_nearest_measured_size_is_said(self):
        r = answer("size=1000,rate=1000,lang=native")
        self.assertIn("measured at 64 KiB, the nearest measured size above 1000 B", r["shown"][PIPE_F])
        why = reasons(r, MQ_T)    # 1000 B fits posix_mq, but 64 KiB, the next size run, did not
        self.assertEqual(list(why), ["not_measured"])
        self.assertIn("not measured at 1000 B; the nearest measured size above, 64 KiB, is over its "
                      "size limit", why["not_measured"])
        r = answer("size=100000,rate=1000,lang=native")
        self.assertFalse(r["groups"])
        self.assertIn("not measured at 100000 B or larger (largest measured: 64 KiB)",
                      reasons(r, PIPE_F)["not_measured"])

    def test_python_rows(self):
        r = answer("size=64,rate=10000,lang=python")
        ranked = [i for g in r["groups"] for i in g["ids"]]
        self.assertEqual(sorted(ranked), sorted([PY_PIPE, PY_Q]))
        self.assertIn("could not run at 64 B", reasons(r, "python:queue_Queue:fork:3.11.2")["error"])
        self.assertEqual(r["notes"], [])
        r = answer("size=64,rate=10000,lang=native")
        self.assertFalse([i for g in r["groups"] for i in g["ids"] if i.startswith("python:")])
        for lang in ("python", "any"):
            r = answer(f"size=64,rate=10000,lang={lang}", NATIVE)
            self.assertIn(["no_python", f"Python: {guide.NO_PYTHON}."], r["notes"])
        self.assertEqual(answer("size=64,rate=10000,lang=native", NATIVE)["notes"][:1],
                         [["undecided", answer("size=64,rate=10000,lang=native", NATIVE)["notes"][0][1]]])

    def test_loose_rule(self):
        fig = guide._fig
        self.assertEqual(guide.loose_relation(fig([1, 2]), fig([9, 9, 9]))[0], "inconclusive")
        self.assertEqual(guide.loose_relation(fig([1, 2, 3]), fig([3, 4, 5]))[0], "same")
        self.assertEqual(guide.loose_relation(fig([100, 101, 102]), fig([103, 104, 104]))[0], "same")
        self.assertEqual(guide.loose_relation(fig([100, 101, 102]), fig([110, 111, 112]))[0], "apart")
        self.assertEqual(guide.loose_relation(fig([0, 0, 0]), fig([1, 1, 1]))[0], "apart")

    def test_shortcut_agrees_with_the_comparison(self):
        rng = random.Random(7)
        seen = 0
        for _ in range(300):
            n1, n2 = rng.randint(3, 10), rng.randint(3, 10)
            a = guide._fig([rng.uniform(100, 130) for _ in range(n1)])
            b = guide._fig([rng.uniform(100, 160) * rng.choice((1, 1.2, 1.5)) for _ in range(n2)])
            if guide._clearly_apart(a, b):
                seen += 1
                c = rc.Comparison(rc.Option("a", a["values"]), rc.Option("b", b["values"]), False)
                self.assertTrue(c.decided, (a["values"], b["values"]))
        self.assertGreater(seen, 20)


def run_report(*args, cwd=None):
    return subprocess.run([sys.executable, REPORT, *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


class CommandLineTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_prints_the_guide_and_writes_nothing(self):
        p = run_report(BASIC, "--guide", "size=64,rate=100000,p99_us=50,cpu=1", cwd=self.tmp)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")
        self.assertIn("Case: 64 B messages at 100 k msg/s, p99 ≤ 50 µs, 1 core(s) may spin", p.stdout)
        self.assertRegex(p.stdout, r"Meets the case:\n  1\. shm_ring · thread · spin\n       p99 1\.00 µs")
        self.assertIn("Fails the case:", p.stdout)
        self.assertIn("tbb_queue · thread", p.stdout)
        self.assertEqual(os.listdir(self.tmp), [])

    def test_several_files_one_section_each(self):
        p = run_report(BASIC, NATIVE, "--guide", "size=64,rate=max")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.count("Decision guide for"), 2)

    def test_help_lists_guide(self):
        p = run_report("--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("--guide CASE", p.stdout)
        self.assertIn("rate (messages/s, or max)", p.stdout)

    def test_bad_guide_input_one_line_exit_2(self):
        for args, words in ((["--guide", "size=64,rate=soon"], "--guide item 2 ('rate=soon')"),
                            (["--guide", "size=64"], "rate is required"),
                            (["--guide", "size=64,rate=5,wait=spin"], "unknown key 'wait'"),
                            (["--guide", "size=64,rate=5", "-o", "out"], "writes no files"),
                            (["--guide"], "expected one argument")):
            with self.subTest(args=args):
                p = run_report(BASIC, *args, cwd=self.tmp)
                self.assertEqual(p.returncode, 2)
                self.assertEqual(p.stdout, "")
                self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)
                self.assertTrue(p.stderr.startswith("report.py: "), p.stderr)
                self.assertIn(words, p.stderr)
                self.assertEqual(os.listdir(self.tmp), [])
        p = run_report(os.path.join(self.tmp, "missing.json"), "--guide", "size=64,rate=5")
        self.assertEqual((p.returncode, len(p.stderr.splitlines())), (2, 1))
        self.assertIn("no such file", p.stderr)


class PageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.html = guide_page.guide_html([ir.load(BASIC), ir.load(NATIVE)])
        m = re.search(r'<script type="application/json" id="ipcm-guide-data">(.*?)</script>',
                      cls.html, re.S)
        cls.payload = json.loads(m.group(1))

    def test_self_contained(self):
        found = re.search(r"(?i)https?:|ftp:|<link|@import|url\(|<iframe|<img|\bsrc\s*=\s*[\"']", self.html)
        self.assertIsNone(found, found and self.html[found.start() - 80:found.end() + 80])
        self.assertEqual(self.html.count("<script"), 2)   # the data, and the script
        self.assertEqual(len(self.payload["files"]), 2)

    def test_presets_rendered_statically(self):
        first = guide.PRESETS[0][1]
        static = self.html.split('<div id="ipcm-guide-out">', 1)[1].split("<noscript>", 1)[0]
        expected = guide_page.render_html_result(data(), guide.parse_case(first),
                                            answer(first))
        self.assertIn(expected, static)
        noscript = self.html.split("<noscript>", 1)[1].split("</noscript>", 1)[0]
        for title, text in guide.PRESETS[1:]:
            self.assertIn(title, noscript)
            self.assertIn(guide_page.render_html_result(data(), guide.parse_case(text), answer(text)),
                          noscript)
        for title, _ in guide.PRESETS:
            self.assertIn(f">{title}</button>", self.html)

    def test_markdown_lists_the_presets(self):
        md = guide_page.guide_markdown([ir.load(BASIC)])
        for title, text in guide.PRESETS:
            self.assertIn(f"### {title} (`{text}`)", md)
        self.assertIn(guide.render_text(data(), guide.parse_case(guide.PRESETS[0][1])).rstrip(), md)

    @unittest.skipUnless(NODE, "node (Debian's nodejs) is not installed: the page's script is "
                               "not run; install nodejs to test it")
    def test_script_agrees_with_python(self):
        """The page's script, under node, gives the Python's outcome and HTML for the presets
        (its own check()) and for more cases covering every rule."""
        cases = ["size=64,rate=10000,p99_us=25,lang=native", "size=64,rate=10000,cpu=0",
                 "size=64,rate=10000,peer=process", "size=65536,rate=1000",
                 "size=64,rate=max,cpu=1", "size=64,rate=460000,lang=native",
                 "size=64,rate=200000,peer=thread", "size=1000,rate=1000",
                 "size=100000,rate=5", "size=64,rate=10000,lang=python",
                 "size=64,rate=max,cpu=0,p99_us=30,peer=thread", "size=64,rate=350000",
                 "size=64,rate=400000,peer=thread"]
        rng = random.Random(17)   # and cases drawn across every key's range
        for _ in range(60):
            parts = [f"size={rng.choice((1, 64, 100, 4096, 65536, 70000))}",
                     f"rate={rng.choice(('max', 1, 1000, 10000, 99999, 200000, 300000, 450000, 2e7))}"]
            parts += [f"{k}={v}" for k, v in (("p99_us", rng.choice((None, 1, 25, 47.5, 100, 1000))),
                                              ("cpu", rng.choice((None, 0, 1, 2))),
                                              ("peer", rng.choice(guide.PEERS)),
                                              ("lang", rng.choice(guide.LANGS))) if v is not None]
            cases.append(",".join(parts))
        expect = []
        for f in self.payload["files"]:
            for text in cases:
                case = guide.parse_case(text)
                res = guide.evaluate(f["data"], case)
                expect.append({"outcome": guide.outcome(res),
                               "html": guide_page.render_html_result(f["data"], case, res)})
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, True)
        with open(os.path.join(tmp, "payload.json"), "w", encoding="utf-8") as fh:
            json.dump({"payload": self.payload, "cases": cases}, fh)
        runner = os.path.join(tmp, "run.js")
        with open(runner, "w", encoding="utf-8") as fh:
            fh.write("""
const g = require(process.argv[2]);
const input = JSON.parse(require('fs').readFileSync(process.argv[3], 'utf8'));
g.use(input.payload);
const out = {bad: g.check(input.payload), got: []};
for (const f of input.payload.files) for (const text of input.cases) {
  const c = g.parseCase(text), res = g.evaluate(f.data, c);
  out.got.push({outcome: g.outcome(res), html: g.renderHtml(f.data, c, res)});
}
process.stdout.write(JSON.stringify(out));
""")
        p = subprocess.run([NODE, runner, GUIDE_JS, os.path.join(tmp, "payload.json")],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        got = json.loads(p.stdout)
        self.assertEqual(got["bad"], [])
        self.assertEqual(len(got["got"]), len(expect))
        for text, g, e in zip(cases * len(self.payload["files"]), got["got"], expect):
            with self.subTest(case=text):
                self.assertEqual(g["outcome"], e["outcome"])
                self.assertEqual(g["html"], e["html"])


    @unittest.skipUnless(CHROMIUM, "chromium is not installed: the page is not opened in a browser")
    def test_page_in_a_browser(self):
        """Opened in headless Chromium, the script passes its own check (the form stays enabled,
        no disagreement on the console) and a preset button re-ranks the page."""
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, True)
        page = os.path.join(tmp, "guide.html")
        with open(page, "w", encoding="utf-8") as fh:
            fh.write('<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>' + self.html
                     + '<script>document.querySelector(\'button[data-case="size=64,rate=max,cpu=1"]\')'
                       '.click();</script></body></html>')
        p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                            "--enable-logging=stderr", "--v=0", f"--user-data-dir={tmp}/profile",
                            "--dump-dom", "file://" + page],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        console = [line for line in p.stderr.splitlines() if "CONSOLE" in line]
        self.assertFalse([line for line in console if "ipcmeter guide" in line or "Uncaught" in line
                          or "Error" in line], console)
        out = p.stdout.split('<div id="ipcm-guide-out">', 1)[1]
        self.assertIn("Case: 64 B messages at the highest rate", out.split("</noscript>")[0])
        self.assertNotIn("disagrees", out.split("<noscript>")[0])
        self.assertNotIn('disabled=""', p.stdout)


if __name__ == "__main__":
    unittest.main()
