"""The committed reference baseline (results/baselines/reference-quick.json) is usable.

It must be a quick-profile results file that meets the contract, carry the repetitions
the unpaired comparison needs, and cover every benchmark the current build's quick
profile lists; when a benchmark is added, refresh the file as docs/ci-gate.md says
("The reference baseline"). And the gate must work on it as CI runs it: compared with
itself it flags nothing, and compared with a copy in which a few rows are 20% slower it
flags exactly those rows.
"""

import contextlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import smoke_run  # noqa: E402
from ipcmeter.names import base_name_of, parse_name  # noqa: E402
from ipcmeter.results import load  # noqa: E402

COMPARE = os.path.join(ROOT, "scripts", "compare.py")

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

    def test_compared_with_itself_nothing_changes(self):
        code, report = run_compare(BASELINE, BASELINE)
        # 0: no regression with enough evidence; 3: nothing regressed but too many rows
        # undecided (identical repetitions still leave noisy rows' intervals wide).
        self.assertIn(code, (0, 3), "compare.py exit codes: 0 no regression, 3 inconclusive")
        rows = report["comparisons"]
        self.assertEqual([r["benchmark"] for r in rows if r["verdict"] in ("regressed", "improved")], [])
        for r in rows:
            if r.get("ratio") is not None:
                self.assertAlmostEqual(r["ratio"], 1.0, places=12, msg=r["benchmark"])
        self.assertEqual(report.get("only_in_base", []), [])
        self.assertEqual(report.get("only_in_new", []), [])
        # Every row that ran is judged on every primary metric it has, or says why not.
        judged = {(r["benchmark"], r["metric"]) for r in rows}
        explained = {nc["benchmark"] for nc in report["not_compared"]}
        for name, recs in self.results.benchmarks().items():
            ok = [r for r in recs if r.error is None]
            if not ok or name in explained:
                continue
            for metric in self.results.schema.primary_metrics(ok[0].family):
                if all(metric in r.metrics for r in ok):
                    self.assertIn((name, metric), judged)

    def test_an_injected_slowdown_is_flagged(self):
        targets = steady_rows(self.results)
        self.assertGreaterEqual(len(targets), 4, "too few steady rows to inject into; " + REFRESH)
        with open(BASELINE) as f:
            doc = json.load(f)
        for entry in doc["benchmarks"]:
            family, params, _ = parse_name(entry["name"], self.results.schema)
            if base_name_of(family, params) in targets and entry.get("aggregate_name") != "cv":
                slow_down(entry, self.results.schema, family, SLOWDOWN)
        with tempfile.TemporaryDirectory() as tmp:
            slower = os.path.join(tmp, "slower.json")
            with open(slower, "w") as f:
                json.dump(doc, f)
            code, report = run_compare(BASELINE, slower)
        self.assertEqual(code, 1, "compare.py exit code 1: regression")
        flagged = {(r["benchmark"], r["metric"]) for r in report["comparisons"]
                   if r["verdict"] == "regressed"}
        self.assertEqual(flagged, {(name, m) for name, family in targets.items()
                                   for m in self.results.schema.primary_metrics(family)})
        self.assertEqual([r["benchmark"] for r in report["comparisons"] if r["verdict"] == "improved"], [])

    @unittest.skipUnless(os.environ.get("IPCMETER_BIN"), "IPCMETER_BIN not set (ctest sets it)")
    def test_covers_the_quick_profile(self):
        listed = subprocess.run([os.environ["IPCMETER_BIN"], "--profile", "quick",
                                 "--benchmark_list_tests"], capture_output=True, text=True,
                                timeout=120, check=True).stdout.split()
        have = set(self.results.benchmarks())
        missing = [n for n in listed if load_name(n, self.results.schema) not in have]
        self.assertEqual(missing, [], "the baseline lacks these benchmarks; " + REFRESH)


# As the workflow runs it (.github/workflows/ipcmeter-gate.yml), at its threshold.
COMPARE_FLAGS = ("--normalize-floors", "--threshold", "5")
SLOWDOWN = 1.2
# A row whose repetitions all lie within this factor of each other is fully separated from
# its 20% slower copy, so any sound test must flag it.
STEADY_SPREAD = 1.1
# Families whose primary metrics move with the code's speed (compute's speedup is a ratio
# to its own workers:1 row; floors measure the machine).
INJECTABLE = ("pingpong", "stream", "fanin", "spawn", "pool", "sync", "state")


def run_compare(base, new):
    """compare.py's exit code and its JSON report."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "c.json")
        proc = subprocess.run([sys.executable, COMPARE, base, new, *COMPARE_FLAGS, "--json", out],
                              capture_output=True, text=True, timeout=300)
        if not os.path.exists(out):
            raise AssertionError("compare.py wrote no report (exit %d): %s"
                                 % (proc.returncode, proc.stderr.strip()))
        with open(out) as f:
            return proc.returncode, json.load(f)


def steady_rows(results):
    """base name -> family: the steadiest row of each injectable family, if steady enough."""
    best = {}
    for name, recs in results.benchmarks().items():
        ok = [r for r in recs if r.error is None]
        if len(ok) < BASELINE_REPETITIONS or ok[0].family not in INJECTABLE:
            continue
        spread = 0.0
        for metric in results.schema.primary_metrics(ok[0].family):
            values = [r.metrics.get(metric) for r in ok]
            if None in values or min(values) <= 0:
                spread = math.inf
                break
            # pingpong and sync are normalised by the floor measured before each repetition
            if "floor_c2c_rtt_ns" in ok[0].metrics and metric.endswith("_ns"):
                values = [v / r.metrics["floor_c2c_rtt_ns"] for v, r in zip(values, ok)]
            spread = max(spread, max(values) / min(values))
        if spread <= STEADY_SPREAD and spread < best.get(ok[0].family, (math.inf,))[0]:
            best[ok[0].family] = (spread, name)
    return {name: family for family, (_, name) in best.items()}


def slow_down(entry, schema, family, factor):
    """Makes one results entry `factor` times slower in its family's primary metrics."""
    for metric in schema.primary_metrics(family):
        if metric in entry:
            higher = schema.higher_is_better(family, metric)
            entry[metric] = entry[metric] / factor if higher else entry[metric] * factor


def load_name(listed, schema):
    """A --benchmark_list_tests line as the loader's base name (no /manual_time etc.)."""
    family, params, _ = parse_name(listed, schema)
    return base_name_of(family, params)


if __name__ == "__main__":
    unittest.main()
