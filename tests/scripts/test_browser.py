"""The report opened in a real browser: headless Chromium (Debian's `chromium`) loads
report.html of the full fixture from disk, with every host name unresolvable so any network
fetch would fail loudly.

How it is checked, with the standard library only:
- `--dump-dom` prints the DOM after the page's scripts ran. The page itself records every
  uncaught error and console.error/warn from its first script on (<body data-console-errors>),
  and marks each chart container after Chart.js drew it: data-rendered="N points" (points
  handed to the chart) and data-ink (canvas pixels painted). A page whose own script failed
  lacks these marks, which fails the test too.
- The same run logs every console message to stderr (`--enable-logging=stderr`, lines with
  ":CONSOLE"); the page prints nothing when well, so any such line fails the test, which also
  catches errors the page could not record (a syntax error in its own script).
- A second run takes a screenshot (1400×3000) into $IPCM_TEST_OUT, else build/test-out/browser.

Skipped only when /usr/bin/chromium is absent and IPCM_REQUIRE_BROWSER is unset; scripts/test.sh
sets it, so there a missing browser fails. ctest runs this module on its own
(report_in_browser in tests/CMakeLists.txt), so `unittest discover` leaves it out.
"""

import html.parser
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest
from unittest import mock

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(ROOT, "scripts")
sys.path.insert(0, SCRIPTS)
from ipcmeter.plots import PLOTS  # noqa: E402
from ipcmeter.recommend import recommend  # noqa: E402
from ipcmeter.results import load  # noqa: E402
from ipcmeter.writers import html as html_writer  # noqa: E402
from ipcmeter.writers.tables import labels_for  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "results-full.json")
BUDGET_S = 60  # both browser runs together
WINDOW = (1400, 3000)


def load_tests(loader, tests, pattern):
    # Left out of `unittest discover` (pattern set) over the whole folder; its own ctest entry,
    # report_in_browser, runs it (pattern None).
    return unittest.TestSuite() if pattern is not None else tests


def out_dir():
    d = os.environ.get("IPCM_TEST_OUT") or os.path.join(ROOT, "build", "test-out", "browser")
    os.makedirs(d, exist_ok=True)
    return d


def chromium(profile, *args):
    """Start headless Chromium on its own fresh profile, offline; output to pipes."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--host-resolver-rules=MAP * ~NOTFOUND",
           f"--user-data-dir={profile}", *args]
    # Its own process group, so a hung run is ended with all its helper processes.
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def finish(proc, timeout):
    """(stdout, stderr) of a started Chromium; ended and failed if it outlives `timeout`."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        end(proc)
        raise AssertionError(f"chromium did not finish within {timeout:.0f} s") from None


def end(proc):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.communicate()


class Census(html.parser.HTMLParser):
    """What the dumped DOM says: the body's marks, each chart container's marks, the PNGs
    and the chart descriptions the page carried."""

    def __init__(self):
        super().__init__()
        self.body, self.charts, self.details, self.in_json, self.json = {}, [], [], False, ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        elif tag == "div" and "chart" in (a.get("class") or "").split():
            self.charts.append(a)
        elif tag == "details":
            self.details.append(a)
        elif tag == "script" and a.get("id") == "ipcm-charts":
            self.in_json = True

    def handle_endtag(self, tag):
        if tag == "script":
            self.in_json = False

    def handle_data(self, data):
        if self.in_json:
            self.json += data


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])


@unittest.skipIf(not os.access(CHROMIUM, os.X_OK) and not os.environ.get("IPCM_REQUIRE_BROWSER"),
                 f"{CHROMIUM} not installed (Debian package chromium; scripts/setup.sh installs "
                 "it) and IPCM_REQUIRE_BROWSER unset")
class BrowserTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(CHROMIUM, os.X_OK):
            raise AssertionError(f"IPCM_REQUIRE_BROWSER is set and {CHROMIUM} is missing "
                                 "(install Debian's chromium)")
        cls.tmp = tempfile.mkdtemp(prefix="ipcm-browser-")
        report = os.path.join(cls.tmp, "report")
        p = subprocess.run([sys.executable, os.path.join(SCRIPTS, "report.py"), FIXTURE,
                            "-o", report, "--rss-mib", "32"],
                           capture_output=True, text=True, timeout=180)
        if p.returncode != 0:
            raise AssertionError("report.py failed: " + p.stderr)
        # Every plot the report drew for the fixture, as the report wrote it: one PNG each.
        cls.plots = sorted(f for f in os.listdir(report) if f.endswith(".png"))
        url = "file://" + os.path.join(report, "report.html")
        cls.out = out_dir()
        cls.screenshot = os.path.join(cls.out, "report.png")
        if os.path.exists(cls.screenshot):
            os.remove(cls.screenshot)
        # Both runs at once: most of a run's time is Chromium starting up.
        start = time.monotonic()
        dom = chromium(os.path.join(cls.tmp, "profile-dom"), "--enable-logging=stderr", "--v=0",
                       "--dump-dom", url)
        shot = chromium(os.path.join(cls.tmp, "profile-shot"), "--hide-scrollbars",
                        f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--screenshot={cls.screenshot}",
                        url)
        try:
            cls.dom, cls.log = finish(dom, 2 * BUDGET_S)
            finish(shot, max(1.0, 2 * BUDGET_S - (time.monotonic() - start)))
        finally:
            end(dom)
            end(shot)
        cls.seconds = time.monotonic() - start
        print(f"\nbrowser: {cls.seconds:.1f} s; screenshot {cls.screenshot}", file=sys.stderr)
        with open(os.path.join(cls.out, "report.dom.html"), "w", encoding="utf-8") as f:
            f.write(cls.dom)
        cls.census = Census()
        cls.census.feed(cls.dom)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_no_console_errors(self):
        lines = [ln for ln in self.log.splitlines() if ":CONSOLE" in ln]
        self.assertEqual(lines, [], "the page wrote to the console")
        self.assertIn("data-console-errors", self.census.body, "the page's script did not finish")
        self.assertEqual(json.loads(self.census.body["data-console-errors"]), [])

    def test_every_chart_rendered(self):
        specs = json.loads(self.census.json)
        self.assertGreaterEqual(len(self.plots), 9, self.plots)  # the fixture has data for each
        self.assertGreaterEqual(len(specs), len(self.plots))  # at least one panel per plot
        self.assertEqual(len(self.census.charts), len(specs))
        self.assertEqual(self.census.body.get("data-charts"), f"{len(specs)} rendered, 0 failed")
        for chart in self.census.charts:
            name = chart.get("data-chart")
            m = re.fullmatch(r"(\d+) points", chart.get("data-rendered", ""))
            self.assertTrue(m, f"{name}: {chart.get('data-rendered')!r}")
            self.assertGreater(int(m.group(1)), 0, name)
            self.assertGreater(int(chart.get("data-ink", "0")), 2000, f"{name}: canvas blank")
        # Drawn, each plot's PNG is folded away (still there for saving and for no-JS readers).
        pngs = [d for d in self.census.details if "png" in (d.get("class") or "").split()]
        self.assertEqual(len(pngs), len(self.plots))
        self.assertTrue(all("open" not in d for d in pngs))

    def test_screenshot(self):
        self.assertEqual(png_size(self.screenshot), WINDOW, self.screenshot)
        self.assertGreater(os.path.getsize(self.screenshot), 50_000)

    def test_fast_enough(self):
        self.assertLess(self.seconds, BUDGET_S)


class StaticFallbackTest(unittest.TestCase):
    """Without Debian's Chart.js the page is the static images with a note saying why."""

    def test_missing_library(self):
        results = [load(FIXTURE)]
        plots = {name: b"\x89PNG not drawn here" for name in PLOTS}
        charts = {name: [{"kind": "line", "datasets": []}] for name in PLOTS}
        skipped = {}
        labels = labels_for(results)
        recs = {r.path: recommend(r, 32) for r in results}
        with mock.patch.object(html_writer, "CHARTJS", "/nonexistent/chart.min.js"):
            page = html_writer.render_html(results, labels, recs, plots, skipped, charts)
        self.assertIn("Static images only: /nonexistent/chart.min.js cannot be read", page)
        self.assertNotIn("chartjs-lib", page)
        self.assertNotIn("ipcm-charts", page)
        self.assertNotIn("class=\"chart\"", page)
        self.assertEqual(page.count("data:image/png;base64,"), len(plots))


if __name__ == "__main__":
    unittest.main()
