"""A row whose first repetition fails must end as a failed row, not crash the run.

Google Benchmark 1.7.1 computes a row's aggregates from its first repetition's fields, which
it leaves unset when that repetition failed: with two later repetitions succeeding, the run
aborted (a failed CHECK, or SIGSEGV in ComputeStats when the failed repetition had run its
loop). ipcmeter makes a failure final for its row (bench/suite.cpp, add_benchmark). The
test-only variable IPCMETER_FAIL_FIRST_RUN fails the first run of the matching rows."""

import json
import os
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.abspath(os.environ.get("IPCMETER_BIN") or os.path.join(ROOT, "build", "ipcmeter"))
ROW = "floor/probe:syscall"


@unittest.skipUnless(os.access(BIN, os.X_OK), f"no ipcmeter binary at {BIN}")
class FailedFirstRepetition(unittest.TestCase):
    def run_rows(self, env_extra):
        with tempfile.TemporaryDirectory(prefix="ipcm-failrep-") as d:
            out = os.path.join(d, "r.json")
            env = dict(os.environ, **env_extra)
            p = subprocess.run([BIN, f"--benchmark_filter=^{ROW}$", "--benchmark_repetitions=4",
                                "--benchmark_min_time=0.01", f"--benchmark_out={out}",
                                "--benchmark_out_format=json"],
                               env=env, capture_output=True, text=True, timeout=300, check=False)
            rows = []
            if os.path.exists(out):
                with open(out, encoding="utf-8") as f:
                    rows = json.load(f)["benchmarks"]
            return p, rows

    def test_first_failure_is_final_and_the_run_completes(self):
        p, rows = self.run_rows({"IPCMETER_FAIL_FIRST_RUN": "^floor/probe:syscall$"})
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        reps = [r for r in rows if r.get("run_type") == "iteration"]
        self.assertEqual(len(reps), 4)
        self.assertTrue(all(r["error_occurred"] for r in reps))
        self.assertIn("injected failure", reps[0]["error_message"])
        # The injected reason carries ESC, BEL and SOH: they reach the file as spaces, and
        # the file parsed above is valid JSON only because they do.
        for r in reps:
            self.assertFalse([c for c in r["error_message"] if ord(c) < 0x20], r["error_message"])
        for r in reps[1:]:
            self.assertIn("an earlier repetition of this row failed", r["error_message"])
            self.assertIn("injected failure", r["error_message"])
        self.assertFalse([r for r in rows if r.get("run_type") == "aggregate"])

    def test_without_injection_every_repetition_runs(self):
        p, rows = self.run_rows({})
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        reps = [r for r in rows if r.get("run_type") == "iteration"]
        self.assertEqual(len(reps), 4)
        self.assertFalse(any(r.get("error_occurred") for r in reps))


if __name__ == "__main__":
    unittest.main()
