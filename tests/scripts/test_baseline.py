"""The committed reference baseline (results/baselines/reference-quick.json) is usable.

It must be a quick-profile results file that meets the contract, carry the repetitions
the unpaired comparison needs, compare cleanly with itself, and cover every benchmark
the current build's quick profile lists; when a benchmark is added, refresh the file as
docs/ci-gate.md says ("The reference baseline").
"""

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import compare  # noqa: E402
import smoke_run  # noqa: E402
from ipcmeter_results import base_name_of, load, parse_name  # noqa: E402

BASELINE = os.path.join(ROOT, "results", "baselines", "reference-quick.json")
REFRESH = "refresh results/baselines/reference-quick.json as docs/ci-gate.md says"
# docs/ci-gate.md: a quick-profile run with 10 repetitions.
BASELINE_REPETITIONS = 10


class Baseline(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.results = load(BASELINE)

    def test_meets_the_contract(self):
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                smoke_run.check_results(BASELINE)
        except SystemExit:   # smoke_run's way to fail, with the reason on stdout
            self.fail(out.getvalue().strip())

    def test_has_the_repetitions(self):
        for name, recs in self.results.benchmarks().items():
            ok = [r for r in recs if r.error is None]
            if ok:
                self.assertGreaterEqual(len(ok), BASELINE_REPETITIONS, name)

    def test_compares_cleanly_with_itself(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "c.json")
            with contextlib.redirect_stdout(io.StringIO()):
                code = compare.main([BASELINE, BASELINE, "--normalize-floors", "--json", out])
            self.assertEqual(code, 0)
            with open(out) as f:
                report = json.load(f)
        self.assertFalse([c for c in report["comparisons"]
                          if c["verdict"] in ("regressed", "improved")])

    @unittest.skipUnless(os.environ.get("IPCMETER_BIN"), "IPCMETER_BIN not set (ctest sets it)")
    def test_covers_the_quick_profile(self):
        listed = subprocess.run([os.environ["IPCMETER_BIN"], "--profile", "quick",
                                 "--benchmark_list_tests"], capture_output=True, text=True,
                                timeout=120, check=True).stdout.split()
        have = set(self.results.benchmarks())
        missing = [n for n in listed if load_name(n) not in have]
        self.assertEqual(missing, [], "the baseline lacks these benchmarks; " + REFRESH)


def load_name(listed):
    """A --benchmark_list_tests line as the loader's base name (no /manual_time etc.)."""
    family, params, _ = parse_name(listed)
    return base_name_of(family, params)


if __name__ == "__main__":
    unittest.main()
