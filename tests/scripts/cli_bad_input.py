"""Bad input to build/ipcmeter: one line on stderr saying what, exit 2, nothing written."""
import json
import os
import re
import subprocess
import tempfile
import unittest

BIN = os.path.abspath(os.environ.get("IPCMETER_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build", "ipcmeter")))

BAD = [
    (["--profile", "bogus"], "unknown profile"),
    (["--profile"], "needs a value"),
    (["--profile=huge"], "unknown profile"),
    (["--benchmark_min_time=abc"], "expected seconds"),
    (["--benchmark_min_time=-1"], "expected seconds"),
    (["--benchmark_min_time=0.5s"], "plain number"),
    (["--benchmark_repetitions=0"], "whole number"),
    (["--benchmark_repetitions=many"], "whole number"),
    (["--benchmark_repetitions=99999999999999999999"], "whole number"),
    (["--benchmark_filter=[unclosed"], "regular expression"),
    (["--benchmark_filter=^nothing-matches-this$"], "matches no benchmark"),
    (["--benchmark_out_format=xml"], "console, json or csv"),
    (["--benchmark_format=yaml"], "console, json or csv"),
    (["--benchmark_time_unit=fortnights"], "ns, us, ms or s"),
    (["--benchmark_list_tests=maybe"], "true or false"),
    (["--benchmark_color=purple"], "auto, true or false"),
    (["--benchmark_bogus=1"], "unknown flag"),
    (["--no-such-flag"], "unknown flag"),
    (["positional"], "unexpected argument"),
    (["--calibration_delay_ns=-5"], "nanoseconds"),
    (["--calibration_delay_ns=1e99"], "nanoseconds"),
    (["--calibration_delay_filter=("], "regular expression"),
    (["--calibration_delay_filter="], "regular expression"),
    (["--benchmark_out="], "file path"),
    (["--floors=dram"], "all or c2c_rtt"),
    (["--floors"], "all or c2c_rtt"),
]


class BadInput(unittest.TestCase):
    def run_bin(self, args, cwd):
        return subprocess.run([BIN] + args, cwd=cwd, capture_output=True, text=True, timeout=60)

    def test_each_bad_input_is_one_line_exit_2_nothing_written(self):
        for args, words in BAD:
            with self.subTest(args=args), tempfile.TemporaryDirectory() as tmp:
                out = os.path.join(tmp, "r.json")
                extra = [] if any(a.startswith("--benchmark_out=") for a in args) else [f"--benchmark_out={out}"]
                p = self.run_bin(args + extra, tmp)
                self.assertEqual(p.returncode, 2, p.stderr)
                lines = p.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, p.stderr)
                self.assertIn(words, lines[0])
                self.assertTrue(lines[0].startswith("ipcmeter: "), lines[0])
                self.assertEqual(os.listdir(tmp), [], "something was written")
                self.assertEqual(p.stdout, "")

    def test_unwritable_results_path(self):
        with tempfile.TemporaryDirectory() as tmp:
            p = self.run_bin(["--benchmark_out=/nonexistent-dir/r.json", "--benchmark_filter=floor/probe:timer"], tmp)
            self.assertEqual(p.returncode, 2)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
            self.assertIn("cannot write there", p.stderr)

    def test_help(self):
        p = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0)
        self.assertIn("--profile", p.stdout)
        self.assertIn("--benchmark_filter", p.stdout)

    def test_floors_c2c_rtt_measures_the_round_trip_alone(self):
        """--floors=c2c_rtt, as scripts/ab.py's floor probes run: both floors objects say so
        and hold the core-to-core round trip, every other floor null or empty; --describe
        offers the scope, which is how ab.py knows the binary takes it."""
        d = json.loads(subprocess.run([BIN, "--describe"], capture_output=True, text=True, timeout=60,
                                      check=True).stdout)
        self.assertEqual(d["floor_scopes"], ["all", "c2c_rtt"])
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "r.json")
            p = self.run_bin(["--profile", "quick", "--floors=c2c_rtt", "--benchmark_filter=^floor/probe:c2c_rtt(/|$)",
                              f"--benchmark_out={out}"], tmp)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("--floors=c2c_rtt: no other floor measured", p.stdout)
            with open(out) as f:
                m = json.load(f)["ipcmeter"]
        for part in ("floors", "floors_end"):
            floors = m[part]
            self.assertEqual(floors["measured"], "c2c_rtt", part)
            self.assertGreater(floors["c2c_rtt_ns"], 0, part)
            for key in ("memcpy_gbps_cache", "memcpy_gbps_dram", "syscall_ns", "timer_ns"):
                self.assertIsNone(floors[key], (part, key))
            self.assertEqual(floors["c2c_by_placement"], {}, part)
            self.assertEqual(floors["c2c_copy_gbps_by_size"], {}, part)

    def test_list_tests_names_follow_the_contract(self):
        p = subprocess.run([BIN, "--profile", "quick", "--benchmark_list_tests"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        names = p.stdout.split()
        # pingpong and stream rows run once for the row's time: Google Benchmark's name says so
        # (/iterations:1), and the scripts' name parser sets it aside like /manual_time.
        self.assertIn("pingpong/transport:shm_ring/peer:spawn/size:64/wait:spin/iterations:1/manual_time", names)
        self.assertIn("stream/transport:tbb_queue/peer:fork/size:65536/iterations:1/manual_time", names)

    def test_every_listed_name_selects_itself(self):
        """main checks --benchmark_filter against the names it recorded at registration; they
        must be the names Google Benchmark lists (with /iterations:N, /repeats:N, /manual_time),
        or a filter built from the listing is refused as matching nothing (the fault suite's
        was). quick's whole listing, and default's repeated families (their names carry
        /repeats:3) with the rows that run a fixed number of iterations."""
        for profile, keep in (("quick", None), ("default", ("pingpong/transport:pipe/", "stream/transport:shm_ring/",
                                                            "spawn/", "compute/", "pool/", "py_spawn/", "load/"))):
            p = subprocess.run([BIN, "--profile", profile, "--benchmark_list_tests"], capture_output=True, text=True,
                               timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            names = [n for n in p.stdout.split() if keep is None or n.startswith(keep)]
            self.assertTrue(any("/repeats:" in n for n in names) or profile == "quick", profile)
            self.assertTrue(any("/iterations:" in n for n in names), profile)
            pattern = "^(" + "|".join(re.escape(n) for n in names) + ")$"
            q = subprocess.run([BIN, "--profile", profile, "--benchmark_filter=" + pattern, "--benchmark_list_tests"],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(q.returncode, 0, q.stderr[-500:])
            self.assertEqual(q.stdout.split(), names, profile)

    def test_default_repeats_the_rows_describe_names(self):
        """A profile's repetitions reach exactly the rows --describe says: every row of a family
        that is repeated_by_profile, narrowed to its repeated_where values when it has them
        (the CPython rows the report compares), and no row of the others."""
        d = json.loads(subprocess.run([BIN, "--describe"], capture_output=True, text=True, timeout=60,
                                      check=True).stdout)
        reps = d["profiles"]["default"]["repetitions"]
        p = subprocess.run([BIN, "--profile", "default", "--benchmark_list_tests"], capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        seen = {True: set(), False: set()}
        for name in p.stdout.split():
            family = name.split("/")[0]
            f = d["families"][family]
            pairs = dict(seg.split(":", 1) for seg in name.split("/")[1:] if ":" in seg)
            want = f["repeated_by_profile"] and all(pairs.get(k) in v for k, v in f.get("repeated_where", {}).items())
            self.assertEqual(f"/repeats:{reps}/" in name + "/", want, name)
            seen[want].add(family)
        # Both kinds of CPython family exist: narrowed (py_pingpong) and whole (py_spawn), and
        # a narrowed family has rows on both sides.
        self.assertEqual(d["families"]["py_pingpong"]["repeated_where"], {"channel": ["Queue", "Pipe"]})
        self.assertIn("py_pingpong", seen[True] & seen[False])
        self.assertIn("py_spawn", seen[True] - seen[False])
        self.assertIn("fanin", seen[False] - seen[True])


if __name__ == "__main__":
    unittest.main()
