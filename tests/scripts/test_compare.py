"""Tests of scripts/compare.py and scripts/gate_stats.py against small results files.

Checked-in fixtures: tests/fixtures/compare/*.json (regenerate with make_fixtures.py
there); variants are built in a temporary directory with the same generator.
"""

import contextlib
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(ROOT, "scripts")
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "compare")
sys.path.insert(0, SCRIPTS)

import ab  # noqa: E402
import compare  # noqa: E402
import gate_stats  # noqa: E402


def _load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


fixtures = _load_module("compare_fixtures", os.path.join(FIXTURES, "make_fixtures.py"))

PINGPONG = ("pingpong/transport:shm_ring/peer:thread/size:64/wait:spin",
            "pingpong/transport:pipe/peer:fork/size:64")
STREAM = "stream/transport:shm_ring/peer:thread/size:65536/wait:hybrid"


def fx(name):
    return os.path.join(FIXTURES, name)


def run_compare(*argv):
    """(exit code, stdout, stderr) of compare.main, in process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = compare.main([str(a) for a in argv])
        except SystemExit as e:   # argparse
            code = e.code
    return code, out.getvalue(), err.getvalue()


def ab_pair(drift, factors=None, noise=0.01, reps=3, seed=100):
    """Two merged ab.py-style documents: per-round drift shared by both sides."""
    base_rounds, new_rounds = [], []
    for r, d in enumerate(drift):
        base_rounds.append(fixtures.build(seed=seed + 2 * r, reps=reps, noise=noise,
                                          run_factor=d, aggregates=False))
        new_rounds.append(fixtures.build(seed=seed + 2 * r + 1, reps=reps, noise=noise,
                                         run_factor=d, factors=factors, aggregates=False))
    files = ["r%d.json" % r for r in range(len(drift))]
    return (ab.merge(base_rounds, reps, "baseline", "/a", [], "pid", files),
            ab.merge(new_rounds, reps, "candidate", "/b", [], "pid", files))


class Case(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def write(self, name, doc):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            if isinstance(doc, str):
                f.write(doc)
            else:
                json.dump(doc, f)
        return path

    def report(self, base, new, *extra):
        out = os.path.join(self.tmp, "report.json")
        code, stdout, stderr = run_compare(base, new, "--json", out, *extra)
        self.assertIn(code, (0, 1), stderr)
        with open(out) as f:
            rep = json.load(f)
        self.assertEqual(rep["exit_code"], code)
        return code, rep, stdout

    @staticmethod
    def verdicts(rep, benchmark=None, metric=None):
        return [c["verdict"] for c in rep["comparisons"]
                if (benchmark is None or c["benchmark"] == benchmark)
                and (metric is None or c["metric"] == metric)]


class Verdicts(Case):
    def test_identical_files_are_unchanged(self):
        code, rep, out = self.report(fx("base.json"), fx("base.json"))
        self.assertEqual(code, 0)
        self.assertEqual(set(self.verdicts(rep)), {"unchanged"})
        self.assertIn("no regression", out)

    def test_noise_only_is_unchanged_or_inconclusive(self):
        code, rep, _ = self.report(fx("base.json"), fx("noise.json"))
        self.assertEqual(code, 0)
        self.assertTrue(set(self.verdicts(rep)) <= {"unchanged", "inconclusive"})

    def test_heavy_noise_only_is_not_flagged(self):
        base = self.write("b.json", fixtures.build(seed=11, noise=0.15, reps=5))
        new = self.write("n.json", fixtures.build(seed=12, noise=0.15, reps=5))
        code, rep, _ = self.report(base, new)
        self.assertEqual(code, 0)
        self.assertTrue(set(self.verdicts(rep)) <= {"unchanged", "inconclusive"})
        self.assertIn("inconclusive", self.verdicts(rep))

    def test_twenty_percent_slowdown_is_flagged(self):
        code, rep, out = self.report(fx("base.json"), fx("slower20.json"))
        self.assertEqual(code, 1)
        for name in PINGPONG:
            self.assertEqual(self.verdicts(rep, name), ["regressed", "regressed"])
        others = [c["verdict"] for c in rep["comparisons"] if c["family"] != "pingpong"]
        self.assertNotIn("regressed", others)
        self.assertIn("REGRESSION", out)
        self.assertEqual(rep["mode"], "unpaired")

    def test_throughput_drop_is_a_regression(self):
        new = self.write("n.json", fixtures.build(seed=3, factors={"stream/": 1.2}))
        code, rep, _ = self.report(fx("base.json"), new)
        self.assertEqual(code, 1)
        self.assertEqual(self.verdicts(rep, STREAM, "bytes_per_second"), ["regressed"])
        row = [c for c in rep["comparisons"] if c["benchmark"] == STREAM][0]
        self.assertLess(row["change_pct"], -10)

    def test_speedup_is_improved_and_passes(self):
        new = self.write("n.json", fixtures.build(seed=3, factors={"pingpong/": 0.8}))
        code, rep, _ = self.report(fx("base.json"), new)
        self.assertEqual(code, 0)
        self.assertEqual(set(self.verdicts(rep, PINGPONG[0])), {"improved"})

    def test_single_values_are_inconclusive(self):
        code, rep, out = self.report(fx("single-base.json"), fx("single-noise.json"))
        self.assertEqual(code, 0)
        self.assertEqual(set(self.verdicts(rep)), {"inconclusive"})
        self.assertEqual(rep["mode"], "single")
        self.assertIn("too few repetitions", out)

    def test_single_values_beyond_noise_band_are_called(self):
        new = self.write("n.json", fixtures.build(seed=5, reps=1, factors={"pipe": 2.0}))
        code, rep, _ = self.report(fx("single-base.json"), new)
        self.assertEqual(code, 1)
        self.assertEqual(set(self.verdicts(rep, PINGPONG[1])), {"regressed"})
        row = [c for c in rep["comparisons"] if c["benchmark"] == PINGPONG[1]][0]
        self.assertIn("noise band", row["reason"])

    def test_two_repetitions_are_too_few(self):
        base = self.write("b.json", fixtures.build(seed=1, reps=2))
        new = self.write("n.json", fixtures.build(seed=2, reps=2, factors={"pingpong/": 1.2}))
        code, rep, _ = self.report(base, new)
        self.assertEqual(code, 0)
        self.assertEqual(set(self.verdicts(rep)), {"inconclusive"})

    def test_metric_option(self):
        code, rep, _ = self.report(fx("base.json"), fx("slower20.json"),
                                   "--metric", "real_time_ns")
        self.assertEqual({c["metric"] for c in rep["comparisons"]}, {"real_time_ns"})
        self.assertEqual(len(rep["comparisons"]), 5)
        self.assertEqual(code, 1)

    def test_threshold_above_effect_is_not_a_regression(self):
        code, rep, _ = self.report(fx("base.json"), fx("slower20.json"), "--threshold", "30")
        self.assertEqual(code, 0)
        self.assertNotIn("regressed", self.verdicts(rep))

    def test_errors_are_listed_not_dropped(self):
        code, rep, out = self.report(fx("base.json"), fx("noise.json"))
        self.assertTrue(any("tbb_queue" in nc["benchmark"] for nc in rep["not_compared"]))
        self.assertIn("tbb_queue", out)


class Paired(Case):
    DRIFT = [1.0, 1.3, 0.8, 1.2, 0.9, 1.15]

    def test_paired_rounds_see_through_drift(self):
        b, n = ab_pair(self.DRIFT, factors={"pingpong/": 1.1})
        base, new = self.write("b.json", b), self.write("n.json", n)
        code, rep, out = self.report(base, new)
        self.assertEqual(rep["mode"], "paired")
        self.assertEqual(code, 1)
        for name in PINGPONG:
            self.assertEqual(self.verdicts(rep, name, "rtt_p50_ns"), ["regressed"])
        self.assertNotIn("regressed", [c["verdict"] for c in rep["comparisons"]
                                       if c["family"] != "pingpong"])
        # Pooled repetitions cannot tell a 10% slowdown from +-30% drift.
        code, rep, _ = self.report(base, new, "--unpaired")
        self.assertEqual(rep["mode"], "unpaired")
        self.assertNotIn("regressed", self.verdicts(rep, PINGPONG[0], "rtt_p50_ns"))

    def test_paired_aa_with_drift_is_clean(self):
        b, n = ab_pair(self.DRIFT)
        code, rep, _ = self.report(self.write("b.json", b), self.write("n.json", n))
        self.assertEqual(code, 0)
        self.assertTrue(set(self.verdicts(rep)) <= {"unchanged", "inconclusive"})

    def test_different_pairing_ids_fall_back_to_unpaired(self):
        b, n = ab_pair(self.DRIFT[:3])
        n["ipcmeter"]["ab"]["pairing_id"] = "other"
        _, rep, _ = self.report(self.write("b.json", b), self.write("n.json", n))
        self.assertEqual(rep["mode"], "unpaired")


def set_witness(doc, per_round, floors, scale_round=None, scale=1.0):
    """Give every pingpong repetition of a merged ab.py document the floor_c2c_rtt_ns
    of its round (floors[round]); scale_round's values and floor are multiplied by
    `scale`, as when the host moves the vCPUs for that run."""
    for e in doc["benchmarks"]:
        if not e["name"].startswith("pingpong/"):
            continue
        rnd = e["repetition_index"] // per_round
        f = scale if rnd == scale_round else 1.0
        e["floor_c2c_rtt_ns"] = floors[rnd] * f
        for k in ("rtt_p50_ns", "rtt_p99_ns", "real_time"):
            e[k] *= f
    return doc


class PlacementMoves(Case):
    """Rounds whose builds ran on different placements are left out of the paired test."""
    ROUNDS = 6
    FLOORS = [130.0, 125.0, 140.0, 128.0, 135.0, 131.0]

    def pair(self, factors=None, moved_round=None, moved_side="new", scale=3.7):
        b, n = ab_pair([1.0] * self.ROUNDS, factors=factors)
        set_witness(b, 3, self.FLOORS, moved_round if moved_side == "base" else None, scale)
        set_witness(n, 3, self.FLOORS, moved_round if moved_side == "new" else None, scale)
        return self.write("b.json", b), self.write("n.json", n)

    def p50(self, rep, name=PINGPONG[0]):
        return [c for c in rep["comparisons"]
                if c["benchmark"] == name and c["metric"] == "rtt_p50_ns"][0]

    def test_moved_round_is_left_out_and_said(self):
        base, new = self.pair(factors={"pingpong/": 1.1}, moved_round=2, scale=0.27)
        code, rep, out = self.report(base, new)
        self.assertEqual(code, 1)
        row = self.p50(rep)
        self.assertEqual(row["verdict"], "regressed")
        self.assertEqual(row["rounds_left_out"], [3])
        self.assertEqual(row["n_base"], self.ROUNDS - 1)
        self.assertIn("round 3 140 vs 38 ns", row["reason"])
        self.assertIn("left out", rep["mode_text"])
        self.assertTrue(any("had rounds left out" in n for n in rep["notes"]))
        # Stream rows record no witness: nothing is left out of them.
        self.assertTrue(all(c["rounds_left_out"] == [] for c in rep["comparisons"]
                            if c["family"] != "pingpong"))
        # Kept, the moved round's 0.3x ratio hides a 10% slowdown.
        code, rep, _ = self.report(base, new, "--floor-shift-limit", "0")
        self.assertEqual(self.p50(rep)["verdict"], "inconclusive")
        self.assertEqual(self.p50(rep)["rounds_left_out"], [])

    def test_moved_rounds_cause_no_false_alarm(self):
        base, new = self.pair(moved_round=4, moved_side="base")
        code, rep, _ = self.report(base, new)
        self.assertEqual(code, 0)
        self.assertTrue(set(self.verdicts(rep)) <= {"unchanged", "inconclusive"})
        self.assertEqual(self.p50(rep)["rounds_left_out"], [5])

    def test_steady_floor_noise_leaves_every_round_in(self):
        base, new = self.pair(factors={"pingpong/": 1.1})
        _, rep, _ = self.report(base, new)
        self.assertTrue(all(c["rounds_left_out"] == [] for c in rep["comparisons"]))
        self.assertEqual(self.p50(rep)["verdict"], "regressed")

    def test_one_odd_repetition_does_not_move_a_round(self):
        b, n = ab_pair([1.0] * self.ROUNDS, factors={"pingpong/": 1.1})
        set_witness(b, 3, self.FLOORS)
        set_witness(n, 3, self.FLOORS)
        # A single reading of 50 ns (the vCPUs briefly on SMT siblings), as seen here.
        first = [e for e in n["benchmarks"] if e["name"].startswith("pingpong/")][0]
        first["floor_c2c_rtt_ns"] = 50.0
        _, rep, _ = self.report(self.write("b.json", b), self.write("n.json", n))
        self.assertEqual(self.p50(rep)["rounds_left_out"], [])
        self.assertEqual(self.p50(rep)["verdict"], "regressed")

    def test_too_few_rounds_left_is_inconclusive(self):
        b, n = ab_pair([1.0] * 3, factors={"pingpong/": 1.1})
        set_witness(b, 3, [130.0, 130.0, 130.0])
        set_witness(n, 3, [130.0, 130.0, 130.0], scale_round=0, scale=3.7)
        _, rep, _ = self.report(self.write("b.json", b), self.write("n.json", n))
        row = self.p50(rep)
        self.assertEqual(row["verdict"], "inconclusive")
        self.assertIn("too few rounds: 2 paired rounds; a test needs 3", row["reason"])

    def test_too_few_rounds_is_inconclusive_however_large_the_change(self):
        # Two rounds, a doubling: the single-value noise band must not turn that into a
        # verdict, since one round's ratio is one noisy sample.
        b, n = ab_pair([1.0] * 2, factors={"pingpong/": 2.0})
        code, rep, _ = self.report(self.write("b.json", b), self.write("n.json", n))
        row = self.p50(rep)
        self.assertEqual((row["verdict"], row["test"]), ("inconclusive", "few-rounds"))
        self.assertIn("too few rounds: 2 paired rounds", row["reason"])
        self.assertEqual(code, 0)

    def test_every_round_moved_is_not_compared(self):
        b, n = ab_pair([1.0] * 3)
        set_witness(b, 3, [130.0, 130.0, 130.0])
        set_witness(n, 3, [500.0, 500.0, 500.0])
        _, rep, _ = self.report(self.write("b.json", b), self.write("n.json", n))
        self.assertEqual(self.verdicts(rep, PINGPONG[0]), [])
        reasons = [nc["reason"] for nc in rep["not_compared"]
                   if nc["benchmark"] == PINGPONG[0]]
        self.assertEqual(len(reasons), 2)   # rtt_p50_ns and rtt_p99_ns
        self.assertTrue(all(r.startswith("no round left: 3 rounds left out") for r in reasons))

    def test_bad_limit_is_refused(self):
        code, out, err = run_compare(fx("base.json"), fx("noise.json"),
                                     "--floor-shift-limit", "0.9")
        self.assertEqual(code, 2)
        self.assertIn("--floor-shift-limit", err)
        self.assertEqual(len(err.strip().splitlines()), 1)


class Floors(Case):
    def test_slower_host_is_not_a_regression_when_normalised(self):
        new = self.write("n.json", fixtures.build(seed=2, run_factor=1.3))
        code, rep, out = self.report(fx("base.json"), new)
        self.assertEqual(code, 1)
        self.assertIn("regressed", self.verdicts(rep, PINGPONG[0]))
        self.assertIn("consider --normalize-floors", out)
        code, rep, out = self.report(fx("base.json"), new, "--normalize-floors")
        self.assertTrue(rep["normalized"])
        self.assertIn("NORMALIZED by floors", out)
        for name in PINGPONG + (STREAM,):
            self.assertTrue(set(self.verdicts(rep, name)) <= {"unchanged", "inconclusive"},
                            name)
        row = [c for c in rep["comparisons"] if c["benchmark"] == PINGPONG[0]][0]
        self.assertEqual(row["normalized_by"], "c2c_rtt_ns")

    def test_normalises_by_the_floor_of_the_moment(self):
        # A run whose second half ran on a slower placement: its pingpong rows recorded
        # a floor 3x higher right before they ran, while the run's start floor did not.
        doc = fixtures.build(seed=2)
        for e in doc["benchmarks"]:
            if e["name"].startswith("pingpong/") and e.get("run_type") == "iteration":
                e["floor_c2c_rtt_ns"] = 360.0
                e["rtt_p50_ns"] *= 3.0
                e["rtt_p99_ns"] *= 3.0
        base = fixtures.build(seed=3)
        for e in base["benchmarks"]:
            if e["name"].startswith("pingpong/") and e.get("run_type") == "iteration":
                e["floor_c2c_rtt_ns"] = 120.0
        _, rep, _ = self.report(self.write("b.json", base), self.write("n.json", doc),
                                "--normalize-floors")
        for name in PINGPONG:
            self.assertTrue(set(self.verdicts(rep, name)) <= {"unchanged", "inconclusive"},
                            name)

    def test_missing_floor_is_said(self):
        doc = fixtures.build(seed=2)
        doc["ipcmeter"]["floors"]["c2c_rtt_ns"] = None
        _, rep, _ = self.report(fx("base.json"), self.write("n.json", doc), "--normalize-floors")
        self.assertTrue(any("c2c_rtt_ns unknown in NEW" in nc["reason"]
                            for nc in rep["not_compared"]))


class Environment(Case):
    def test_different_cpu_is_refused(self):
        new = self.write("n.json", fixtures.build(seed=2, env={"cpu_model": "Intel Xeon"}))
        md = os.path.join(self.tmp, "out.md")
        code, out, err = run_compare(fx("base.json"), new, "--markdown", md)
        self.assertEqual(code, 2)
        self.assertEqual(len(err.strip().splitlines()), 1)
        self.assertIn("cpu_model", err)
        self.assertFalse(os.path.exists(md))
        self.assertEqual(out, "")

    def test_mismatch_allowed_warns_loudly(self):
        new = self.write("n.json", fixtures.build(seed=2, env={"kernel": "6.9", "build_type": "Debug"}))
        code, rep, out = self.report(fx("base.json"), new, "--allow-env-mismatch")
        self.assertEqual(code, 0)
        self.assertIn("ENVIRONMENTS DIFFER", out)
        self.assertIn("build_type", out)

    def test_secondary_difference_warns(self):
        new = self.write("n.json", fixtures.build(seed=2, env={"compiler": "Clang 16"}))
        code, rep, out = self.report(fx("base.json"), new)
        self.assertEqual(code, 0)
        self.assertIn("WARNING: environment: compiler", out)


class BadInput(Case):
    def assert_unusable(self, base, new, expect, *extra):
        md, js = os.path.join(self.tmp, "o.md"), os.path.join(self.tmp, "o.json")
        code, out, err = run_compare(base, new, "--markdown", md, "--json", js, *extra)
        self.assertEqual(code, 2, err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertNotIn("Traceback", err)
        self.assertIn(expect, err)
        self.assertFalse(os.path.exists(md) or os.path.exists(js))
        self.assertEqual(out, "")

    def test_missing_file(self):
        self.assert_unusable(fx("base.json"), os.path.join(self.tmp, "nope.json"), "no such file")

    def test_malformed_json(self):
        with open(fx("base.json")) as f:
            text = f.read()
        self.assert_unusable(self.write("t.json", text[: len(text) // 2]), fx("base.json"),
                             "t.json")

    def test_not_results(self):
        self.assert_unusable(fx("base.json"), self.write("x.json", {"a": 1}), "x.json")

    def test_newer_schema(self):
        doc = fixtures.build(seed=2, schema_version=2)
        self.assert_unusable(fx("base.json"), self.write("v2.json", doc), "schema_version")

    def test_no_common_benchmarks(self):
        names = list(fixtures.BENCHMARKS)
        a = self.write("a.json", fixtures.build(names=names[:2], errored=False))
        b = self.write("b.json", fixtures.build(names=names[2:], errored=False))
        self.assert_unusable(a, b, "no benchmark in common")

    def test_one_side_all_errors(self):
        doc = fixtures.build(names=[], errored=True)
        self.assert_unusable(fx("base.json"), self.write("e.json", doc), "every benchmark errored")

    def test_metric_nobody_has(self):
        self.assert_unusable(fx("base.json"), fx("noise.json"), "rtt_p90_ns",
                             "--metric", "rtt_p90_ns")

    def test_output_directory_missing(self):
        code, out, err = run_compare(fx("base.json"), fx("noise.json"), "--markdown",
                                     os.path.join(self.tmp, "no", "such", "o.md"))
        self.assertEqual(code, 2)
        self.assertIn("does not exist", err)

    def test_cli_exit_code_and_help(self):
        proc = subprocess.run([sys.executable, os.path.join(SCRIPTS, "compare.py"),
                               fx("base.json"), fx("slower20.json")],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        proc = subprocess.run([sys.executable, os.path.join(SCRIPTS, "compare.py"),
                               fx("base.json"), "/nonexistent.json"],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(len(proc.stderr.strip().splitlines()), 1)
        code, out, _ = run_compare("--help")
        self.assertEqual(code, 0)
        self.assertIn("Compare two ipcmeter results files", out)


class Outputs(Case):
    def check_markdown(self, text):
        lines = text.splitlines()
        self.assertTrue(lines[0].startswith("## ipcmeter gate: "))
        self.assertNotIn("None", text)
        self.assertEqual(text.count("<details>"), text.count("</details>"))
        i = 0
        tables = 0
        while i < len(lines):
            if lines[i].startswith("|"):
                tables += 1
                self.assertEqual(lines[i - 1], "", "a table needs a blank line before it")
                cells = lambda s: len(re.split(r"(?<!\\)\|", s)) - 2  # noqa: E731
                width = cells(lines[i])
                self.assertRegex(lines[i + 1], r"^\|(---\|)+$")
                self.assertEqual(cells(lines[i + 1]), width)
                j = i + 2
                while j < len(lines) and lines[j].startswith("|"):
                    self.assertEqual(cells(lines[j]), width, lines[j])
                    self.assertTrue(lines[j].endswith("|"))
                    j += 1
                i = j
            else:
                i += 1
        return tables

    def test_markdown_well_formed_with_regression(self):
        md = os.path.join(self.tmp, "o.md")
        code, _, _ = run_compare(fx("base.json"), fx("slower20.json"), "--markdown", md)
        self.assertEqual(code, 1)
        with open(md) as f:
            text = f.read()
        self.assertEqual(self.check_markdown(text), 2)
        self.assertIn("❌ regression", text)
        self.assertIn("**regressed**", text)

    def test_markdown_well_formed_all_unchanged_and_warnings(self):
        new = self.write("n.json", fixtures.build(seed=2, env={"compiler": "a|b"}))
        md = os.path.join(self.tmp, "o.md")
        code, _, _ = run_compare(fx("base.json"), new, "--markdown", md)
        self.assertEqual(code, 0)
        with open(md) as f:
            text = f.read()
        self.check_markdown(text)
        self.assertIn("✅ no regression", text)
        self.assertIn("> **Warning:**", text)

    def test_json_report(self):
        code, rep, _ = self.report(fx("base.json"), fx("slower20.json"))
        self.assertEqual(rep["counts"]["regressed"], 4)
        self.assertEqual(sum(rep["counts"].values()), len(rep["comparisons"]))
        for c in rep["comparisons"]:
            self.assertIn(c["verdict"], gate_stats.VERDICTS)
            for key in ("benchmark", "metric", "base", "new", "change_pct", "ci_low_pct",
                        "ci_high_pct", "p_value", "q_value", "reason", "test"):
                self.assertIn(key, c)


class Stats(unittest.TestCase):
    def test_benjamini_hochberg(self):
        q = gate_stats.benjamini_hochberg([0.01, 0.04, 0.03, None, 0.5])
        self.assertAlmostEqual(q[0], 0.04)
        self.assertAlmostEqual(q[1], 0.04 * 4 / 3)
        self.assertAlmostEqual(q[2], 0.04 * 4 / 3)   # monotone: not above the next rank
        self.assertIsNone(q[3])
        self.assertAlmostEqual(q[4], 0.5)

    def test_direction(self):
        est = gate_stats.Estimate(0.8, (0.78, 0.82), 0.001, "mann-whitney", 8, 8)
        self.assertEqual(gate_stats.classify(est, 0.001, 0.05, 0.05, True, 0.5)[0], "regressed")
        self.assertEqual(gate_stats.classify(est, 0.001, 0.05, 0.05, False, 0.5)[0], "improved")

    def test_significant_but_small_is_not_regressed(self):
        est = gate_stats.Estimate(1.02, (1.01, 1.03), 0.001, "mann-whitney", 8, 8)
        self.assertEqual(gate_stats.classify(est, 0.001, 0.05, 0.05, False, 0.5)[0], "unchanged")

    def test_paired_identical(self):
        rounds = {r: [100.0, 101.0, 99.0] for r in range(4)}
        est = gate_stats.estimate_paired(rounds, rounds, 0.95)
        self.assertEqual((est.ratio, est.p), (1.0, 1.0))


if __name__ == "__main__":
    unittest.main()
