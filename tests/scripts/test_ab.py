"""Tests of scripts/ab.py and scripts/gate_trials.py with a fake ipcmeter binary.

The fake accepts the real binary's flags (--profile, --benchmark_filter=,
--benchmark_repetitions=, --benchmark_out=, --benchmark_out_format=json,
--calibration_delay_ns=) and writes a results file with chosen numbers. It logs every
invocation's argv to $FAKE_IPCMETER_LOG; FAKE_DRIFT=1 makes each consecutive pair of
invocations (one ABBA round) share a machine speed that changes from round to round;
FAKE_MOVE=K puts invocation K (0-based) on a placement 3.7 times slower, floor included,
as when the host moves the vCPUs between the two halves of a round.
"""

import contextlib
import io
import json
import os
import stat
import subprocess
import sys
import tempfile
import textwrap
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(ROOT, "scripts")
sys.path.insert(0, SCRIPTS)

import ab  # noqa: E402
from ipcmeter_results import load  # noqa: E402

FAKE = textwrap.dedent('''\
    import json, os, random, re, sys
    argv = sys.argv[1:]
    opts = {}
    for a in argv:
        if a.startswith("--") and "=" in a:
            k, v = a[2:].split("=", 1)
            opts[k] = v
    log = os.environ["FAKE_IPCMETER_LOG"]
    count = sum(1 for _ in open(log)) if os.path.exists(log) else 0
    with open(log, "a") as f:
        f.write(json.dumps(argv) + "\\n")
    if "fake_fail" in opts:
        sys.stderr.write("fake failure\\n")
        sys.exit(3)
    out = opts["benchmark_out"]
    if "fake_garbage" in opts:
        open(out, "w").write("{not json")
        sys.exit(0)
    reps = int(opts.get("benchmark_repetitions", "1"))
    factor = float(opts.get("fake_factor", "1"))
    delay = float(opts.get("calibration_delay_ns", "0"))
    drift = [1.0, 1.3, 0.85, 1.2, 0.9, 1.1][(count // 2) % 6] if os.environ.get("FAKE_DRIFT") else 1.0
    if os.environ.get("FAKE_MOVE") == str(count):
        drift *= 3.7
    noise = float(os.environ.get("FAKE_NOISE", "0.01"))
    rng = random.Random(count)
    filt = re.compile(opts.get("benchmark_filter", "."))
    specs = [("floor/probe:c2c_rtt/manual_time", 120.0, None),
             ("pingpong/transport:shm_ring/peer:thread/size:64/wait:spin/manual_time", 160.0, 300.0),
             ("pingpong/transport:pipe/peer:fork/size:64/manual_time", 9000.0, 15000.0)]
    benchmarks = []
    for name, p50, p99 in specs:
        if not filt.search(name):
            continue
        for rep in range(reps):
            j = lambda v: v * drift * (1 + rng.gauss(0, noise))
            e = {"name": name, "run_name": name, "run_type": "iteration", "repetitions": reps,
                 "repetition_index": rep, "threads": 1, "iterations": 1000, "time_unit": "ns",
                 "real_time": j(p50), "cpu_time": j(p50)}
            if p99 is not None:
                e["rtt_p50_ns"] = j(p50 * factor + delay)
                e["rtt_p99_ns"] = j(p99 * factor + delay)
                e["floor_c2c_rtt_ns"] = j(120.0)
            benchmarks.append(e)
        if reps > 1:
            benchmarks.append({"name": name + "_mean", "run_name": name, "run_type": "aggregate",
                               "aggregate_name": "mean", "repetitions": reps, "threads": 1,
                               "iterations": reps, "real_time": p50, "cpu_time": p50,
                               "time_unit": "ns"})
    doc = {"context": {"date": "2026-11-22T02:30:00+00:00", "host_name": "fake",
                       "executable": sys.argv[0], "num_cpus": 2},
           "benchmarks": benchmarks,
           "ipcmeter": {"schema_version": 1, "profile": argv[argv.index("--profile") + 1],
                        "env": {"cpu_model": "Fake CPU", "logical_cpus": 2, "physical_cores": 2,
                                "kernel": "6.1", "build_type": "Release",
                                "git_revision": "fake", "hostname": "fake"},
                        "floors": {"c2c_rtt_ns": 120.0 * drift, "memcpy_gbps_cache": 40.0},
                        "floors_end": {"c2c_rtt_ns": 120.0 * drift},
                        "placement": {}, "transports": {}, "warnings": ["run %d" % count]}}
    open(out, "w").write(json.dumps(doc))
''')

SHM = "pingpong/transport:shm_ring/peer:thread/size:64/wait:spin"
PIPE = "pingpong/transport:pipe/peer:fork/size:64"


class FakeBinary(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = self._tmp.name
        self.bin = os.path.join(self.tmp, "ipcmeter")
        with open(self.bin, "w") as f:
            f.write("#!%s\n%s" % (sys.executable, FAKE))
        os.chmod(self.bin, os.stat(self.bin).st_mode | stat.S_IXUSR)
        self.log = os.path.join(self.tmp, "invocations.log")
        self.env = {"FAKE_IPCMETER_LOG": self.log}
        self._old_env = {k: os.environ.get(k)
                         for k in ("FAKE_IPCMETER_LOG", "FAKE_DRIFT", "FAKE_MOVE")}
        os.environ.update(self.env)
        os.environ.pop("FAKE_DRIFT", None)
        os.environ.pop("FAKE_MOVE", None)

    def tearDown(self):
        for k, v in self._old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._tmp.cleanup()

    def invocations(self):
        with open(self.log) as f:
            return [json.loads(line) for line in f]

    def ab(self, *argv, out="ab"):
        out_dir = os.path.join(self.tmp, out)
        o, e = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
            try:
                code = ab.main(["--baseline", self.bin, "--candidate", self.bin,
                                "--out-dir", out_dir] + list(argv))
            except SystemExit as ex:
                code = ex.code
        report = None
        if os.path.exists(os.path.join(out_dir, "compare.json")):
            with open(os.path.join(out_dir, "compare.json")) as f:
                report = json.load(f)
        return code, o.getvalue(), e.getvalue(), out_dir, report


class AB(FakeBinary):
    def test_abba_order_and_argv(self):
        code, _, _, _, _ = self.ab("--rounds", "3", "--repetitions", "2",
                                   "--filter", "pingpong/.*shm_ring",
                                   "--baseline-args", "--fake_tag=A",
                                   "--candidate-args", "--fake_tag=B --fake_note='a b'")
        self.assertEqual(code, 0)
        calls = self.invocations()
        tags = [[a for a in c if a.startswith("--fake_tag=")][0][-1] for c in calls]
        self.assertEqual(tags, list("ABBAAB"))
        first = calls[0]
        self.assertEqual(first[0:2], ["--profile", "quick"])
        self.assertIn("--benchmark_filter=pingpong/.*shm_ring", first)
        self.assertIn("--benchmark_repetitions=2", first)
        self.assertIn("--benchmark_out_format=json", first)
        self.assertIn("--fake_note=a b", calls[1])     # one argv word, no shell

    def test_merged_files_are_valid_results(self):
        code, _, _, out_dir, report = self.ab("--rounds", "4", "--repetitions", "3")
        self.assertEqual(code, 0)
        base = load(os.path.join(out_dir, "baseline.json"))
        cand = load(os.path.join(out_dir, "candidate.json"))
        for res, role in ((base, "baseline"), (cand, "candidate")):
            ab_meta = res.meta["ab"]
            self.assertEqual(ab_meta["role"], role)
            self.assertEqual((ab_meta["rounds"], ab_meta["repetitions_per_round"]), (4, 3))
            self.assertEqual(len(ab_meta["round_floors"]), 4)
            with open(os.path.join(out_dir, ab_meta["round_files"][0])) as f:
                first_round = json.load(f)
            self.assertEqual(res.raw["ipcmeter"], dict(first_round["ipcmeter"], ab=ab_meta))
            self.assertEqual(res.raw["context"], first_round["context"])
            for name, recs in res.benchmarks().items():
                self.assertEqual(sorted(r.repetition_index for r in recs), list(range(12)))
            self.assertFalse([r for r in res.records if r.run_type == "aggregate"])
        self.assertEqual(base.meta["ab"]["pairing_id"], cand.meta["ab"]["pairing_id"])
        self.assertEqual(report["mode"], "paired")
        self.assertTrue(os.path.exists(os.path.join(out_dir, "compare.md")))

    def test_slower_candidate_is_flagged(self):
        code, out, _, _, report = self.ab("--rounds", "4", "--candidate-args", "--fake_factor=1.2")
        self.assertEqual(code, 1)
        flagged = {(c["benchmark"], c["metric"]) for c in report["comparisons"]
                   if c["verdict"] == "regressed"}
        self.assertIn((SHM, "rtt_p50_ns"), flagged)
        self.assertIn((PIPE, "rtt_p50_ns"), flagged)
        self.assertIn("REGRESSION", out)

    def test_calibration_delay_is_passed_and_detected(self):
        code, _, _, _, report = self.ab("--rounds", "4", "--filter", "shm_ring",
                                        "--candidate-args", "--calibration_delay_ns=24")
        self.assertEqual(code, 1)
        self.assertTrue(all("--calibration_delay_ns=24" in c
                            for c in self.invocations()[1:3]))
        self.assertEqual([c["verdict"] for c in report["comparisons"]
                          if c["metric"] == "rtt_p50_ns"], ["regressed"])

    def test_round_with_moved_vcpus_is_left_out(self):
        # Invocation 3 is round 2's baseline (ABBA: A B | B A): it alone runs on the
        # slow placement, so that round's ratio says "3.7x faster" about a 15% slowdown.
        os.environ["FAKE_MOVE"] = "3"
        argv = ("--rounds", "5", "--filter", "shm_ring",
                "--candidate-args", "--calibration_delay_ns=24")
        code, _, _, _, report = self.ab(*argv)
        self.assertEqual(code, 1)
        row = [c for c in report["comparisons"] if c["metric"] == "rtt_p50_ns"][0]
        self.assertEqual(row["verdict"], "regressed")
        self.assertEqual(row["rounds_left_out"], [2])
        self.assertIn("1 round left out because the core-to-core floor differed", row["reason"])
        os.unlink(self.log)
        code, _, _, _, report = self.ab(*argv, "--floor-shift-limit", "0", out="ab-keep")
        row = [c for c in report["comparisons"] if c["metric"] == "rtt_p50_ns"][0]
        self.assertEqual(row["rounds_left_out"], [])
        self.assertEqual(row["verdict"], "inconclusive")

    def test_aa_under_drift_is_clean(self):
        os.environ["FAKE_DRIFT"] = "1"
        code, _, _, _, report = self.ab("--rounds", "6")
        self.assertEqual(code, 0)
        self.assertFalse([c for c in report["comparisons"]
                          if c["verdict"] in ("regressed", "improved")])

    def test_failing_binary_is_unusable(self):
        code, out, err, out_dir, _ = self.ab("--candidate-args", "--fake_fail=1")
        self.assertEqual(code, 2)
        last = err.strip().splitlines()[-1]
        self.assertTrue(last.startswith("ab.py: round 1/8 candidate"), last)
        self.assertIn("status 3", last)
        self.assertFalse(os.path.exists(os.path.join(out_dir, "candidate.json")))

    def test_garbage_output_is_unusable(self):
        code, _, err, _, _ = self.ab("--rounds", "1", "--baseline-args", "--fake_garbage=1")
        self.assertEqual(code, 2)
        self.assertIn("invalid JSON", err.strip().splitlines()[-1])

    def test_bad_input_writes_nothing(self):
        for argv, expect in (
                (["--rounds", "0"], "--rounds"),
                (["--filter", "("], "--filter"),
                (["--candidate-args", "'unterminated"], "--candidate-args"),
                (["--threshold", "-1"], "--threshold"),
                (["--floor-shift-limit", "0.5"], "--floor-shift-limit")):
            code, out, err, out_dir, _ = self.ab(*argv)
            self.assertEqual(code, 2, argv)
            self.assertEqual(len(err.strip().splitlines()), 1, err)
            self.assertIn(expect, err)
            self.assertFalse(os.path.exists(out_dir))
            self.assertFalse(os.path.exists(self.log))
        o, e = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
            code = ab.main(["--baseline", os.path.join(self.tmp, "missing"),
                            "--candidate", self.bin,
                            "--out-dir", os.path.join(self.tmp, "x")])
        self.assertEqual(code, 2)
        self.assertIn("no such file", e.getvalue())
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "x")))

    def test_abba_helper(self):
        self.assertEqual(ab.abba(2), [(0, "A"), (0, "B"), (1, "B"), (1, "A")])


class Workflow(unittest.TestCase):
    """The CI recipe calls the scripts with flags they have."""

    def test_flags_exist(self):
        import re
        import compare
        with open(os.path.join(ROOT, ".github", "workflows", "ipcmeter-gate.yml")) as f:
            text = f.read()
        for start, end, parser in (('"$gate"', 'echo "exit', ab.build_parser()),
                                   ("scripts/compare.py", "code=$?", compare.build_parser())):
            block = text[text.index(start):text.index(end)]
            known = set(parser._option_string_actions)
            flags = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", block))
            self.assertTrue(flags)
            self.assertEqual(flags - known, set(), start)


class Trials(FakeBinary):
    def run_trials(self, *argv):
        proc = subprocess.run([sys.executable, os.path.join(SCRIPTS, "gate_trials.py")]
                              + list(argv), capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, **self.env))
        return proc

    def test_aa_trials(self):
        out = os.path.join(self.tmp, "aa")
        proc = self.run_trials("aa", "--bin", self.bin, "--trials", "2", "--rounds", "3",
                               "--out-dir", out)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(os.path.join(out, "summary.json")) as f:
            summary = json.load(f)
        self.assertEqual(summary["trials"], 2)
        self.assertEqual(summary["flagged"], 0)
        self.assertTrue(summary["goal_met"])
        self.assertIn("A/A: 2 trials", proc.stdout)

    def calibrations(self):
        return [c for c in self.invocations() if "--benchmark_repetitions=5" in c]

    def test_sensitivity_trials_calibrate_the_delay(self):
        out = os.path.join(self.tmp, "sens")
        proc = self.run_trials("sensitivity", "--bin", self.bin, "--target", "shm_ring",
                               "--trials", "2", "--rounds", "3", "--slowdown", "20",
                               "--out-dir", out)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        with open(os.path.join(out, "summary.json")) as f:
            summary = json.load(f)
        self.assertEqual(summary["calibration_delay_ns"], [32, 32])   # 20% of 160 ns
        self.assertEqual(summary["calibration"], "before every trial")
        self.assertEqual(len(self.calibrations()), 2)
        self.assertEqual(summary["detected"], 2)
        trial = summary["per_trial"][0]
        self.assertAlmostEqual(trial["delay_pct_of_base_p50"][SHM], 20.0, delta=1.0)
        self.assertIn("--calibration_delay_ns=32", self.invocations()[-1])
        self.assertIn("delay 20.", proc.stdout)
        # The fake's delay adds exactly its length, so the measured change is on target.
        self.assertEqual(summary["on_target_pct"], [14.0, 30.0])
        self.assertTrue(trial["on_target"])
        self.assertEqual((summary["on_target_trials"], summary["detected_on_target"]), (2, 2))
        self.assertIn("on target (14-30%) in 2 of 2 trials; detected in 2 of those", proc.stdout)

    def test_sensitivity_calibrate_once_and_fixed_delay(self):
        proc = self.run_trials("sensitivity", "--bin", self.bin, "--target", "shm_ring",
                               "--trials", "2", "--rounds", "3", "--calibrate-once",
                               "--out-dir", os.path.join(self.tmp, "once"))
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual(len(self.calibrations()), 1)
        os.unlink(self.log)
        out = os.path.join(self.tmp, "fixed")
        proc = self.run_trials("sensitivity", "--bin", self.bin, "--target", "shm_ring",
                               "--trials", "1", "--rounds", "3", "--delay-ns", "2",
                               "--out-dir", out)
        # 2 ns on 160 ns is about 1%: below the 5% threshold, so the goal is missed.
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertEqual(self.calibrations(), [])
        with open(os.path.join(out, "summary.json")) as f:
            summary = json.load(f)
        self.assertEqual(summary["detected"], 0)
        self.assertIn("-> missed", proc.stdout)
        self.assertFalse(summary["per_trial"][0]["on_target"])
        self.assertEqual(summary["on_target_trials"], 0)
        self.assertIn("off target (not 7-15%)", proc.stdout)

    def test_bad_bin(self):
        proc = self.run_trials("aa", "--bin", os.path.join(self.tmp, "nope"))
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(len(proc.stderr.strip().splitlines()), 1)


if __name__ == "__main__":
    unittest.main()
