"""Bad input to the scripts (report.py, compare.py, ab.py): malformed arguments and hostile
results files. Each must give one line on stderr naming the problem, exit 2, no traceback,
and write nothing. (ipcmeter's own flags are in cli_bad_input.py.)"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SCRIPTS = os.path.join(REPO, "scripts")
GOOD = os.path.join(REPO, "tests", "fixtures", "results-full.json")
PY = "/usr/bin/python3"
# Deeper than any JSON parser's recursion limit.
DEEP = 200_000


def good():
    with open(GOOD) as f:
        return json.load(f)


def with_first_benchmark(**fields):
    d = good()
    d["benchmarks"][0].update(fields)
    return json.dumps(d)


def with_meta(**fields):
    d = good()
    d["ipcmeter"].update(fields)
    return json.dumps(d)


def truncated():
    text = json.dumps(good())
    return text[: len(text) // 2]


# name -> file content (str or bytes): results files no tool may choke on.
HOSTILE = {
    "truncated.json": truncated(),
    "empty.json": "",
    "whitespace.json": "  \n\t ",
    "deep-array.json": "[" * DEEP + "]" * DEEP,
    "deep-object.json": '{"benchmarks": [], "ipcmeter": ' + '{"a": ' * DEEP + "1" + "}" * DEEP + "}",
    "huge-float.json": with_first_benchmark(real_time="HUGE").replace('"HUGE"', "1e999999"),
    "huge-int.json": with_first_benchmark(real_time="HUGE").replace('"HUGE"', "9" * 100_000),
    "nan-token.json": with_first_benchmark(real_time="X").replace('"X"', "NaN").replace("NaN", "Infinity", 1),
    "not-utf8.json": b"\xff\xfe\x00garbage\x80\x81",
    "top-array.json": "[1, 2, 3]",
    "top-string.json": '"benchmarks"',
    "benchmarks-not-list.json": json.dumps({"benchmarks": {"a": 1}, "ipcmeter": {"schema_version": 1}}),
    "no-ipcmeter.json": json.dumps({"benchmarks": []}),
    "schema-string.json": with_meta(schema_version="1"),
    "schema-future.json": with_meta(schema_version=99),
    "schema-negative.json": with_meta(schema_version=-1),
    "schema-bool.json": with_meta(schema_version=True),
    "benchmark-not-object.json": json.dumps({"benchmarks": ["x"], "ipcmeter": {"schema_version": 1}}),
    "benchmark-no-name.json": with_first_benchmark(name=None),
    "unknown-time-unit.json": with_first_benchmark(time_unit="fortnights"),
}

# A valid file whose benchmark list starts with a deeply nested entry.
HOSTILE["deep-in-benchmark.json"] = json.dumps(good()).replace(
    '"benchmarks": [', '"benchmarks": [' + "[" * DEEP + "]" * DEEP + ", ", 1)


class BadInputMatrix(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="badinput-")
        self.files = {}
        for name, content in HOSTILE.items():
            path = os.path.join(self.tmp, name)
            with open(path, "wb") as f:
                f.write(content if isinstance(content, bytes) else content.encode())
            self.files[name] = path
        self.good = os.path.join(self.tmp, "good.json")
        shutil.copy(GOOD, self.good)
        self.a_file = os.path.join(self.tmp, "plain-file")
        with open(self.a_file, "w") as f:
            f.write("x")
        self.before = self.snapshot()

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def snapshot(self):
        out = {}
        for root, dirs, files in os.walk(self.tmp):
            for n in dirs + files:
                p = os.path.join(root, n)
                out[p] = os.path.getsize(p) if os.path.isfile(p) else -1
        return out

    def run_script(self, script, args):
        return subprocess.run([PY, os.path.join(SCRIPTS, script)] + args, cwd=self.tmp, capture_output=True,
                              text=True, timeout=120)

    def assert_refused(self, script, args, words=None):
        p = self.run_script(script, args)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(p.returncode, 2, "%s %s: exit %d, stderr %r" % (script, args, p.returncode, p.stderr[-500:]))
        self.assertNotIn("Traceback", p.stderr)
        self.assertEqual(len(lines), 1, "%s %s: stderr is not one line: %r" % (script, args, p.stderr[-800:]))
        self.assertTrue(lines[0].startswith(script + ": ") or lines[0].startswith(script[:-3]), lines[0])
        if words:
            self.assertIn(words, lines[0])
        self.assertEqual(self.snapshot(), self.before, "%s %s wrote something" % (script, args))

    def out(self, name="out"):
        return os.path.join(self.tmp, name)

    # ------------------------------------------------------------ hostile files

    def test_report_refuses_every_hostile_file(self):
        for name, path in self.files.items():
            with self.subTest(file=name):
                self.assert_refused("report.py", [path, "-o", self.out()], name)

    def test_compare_refuses_every_hostile_file_on_either_side(self):
        for name, path in self.files.items():
            with self.subTest(file=name, side="new"):
                self.assert_refused("compare.py", [self.good, path], name)
        for name in ("truncated.json", "deep-array.json", "huge-int.json", "not-utf8.json"):
            with self.subTest(file=name, side="base"):
                self.assert_refused("compare.py", [self.files[name], self.good], name)

    def test_missing_file_and_directory(self):
        self.assert_refused("report.py", [self.out("nope.json"), "-o", self.out()], "no such file")
        self.assert_refused("report.py", [self.tmp, "-o", self.out()], "directory")
        self.assert_refused("compare.py", [self.good, self.out("nope.json")], "no such file")

    # ------------------------------------------------------------ values

    def test_report_bad_values(self):
        self.assert_refused("report.py", [self.good, "-o", self.out(), "--rss-mib", "-1"], "--rss-mib")
        self.assert_refused("report.py", [self.good, "-o", self.out(), "--rss-mib", "0"], "--rss-mib")
        self.assert_refused("report.py", [self.good, "-o", self.out(), "--rss-mib", "nan"], "--rss-mib")
        self.assert_refused("report.py", [self.good, "-o", self.out(), "--rss-mib", "1e999"], "--rss-mib")
        self.assert_refused("report.py", [self.good, "-o", self.a_file], "not a directory")

    def test_compare_bad_values(self):
        for v in ("-5", "0", "1e400", "nan"):
            with self.subTest(threshold=v):
                self.assert_refused("compare.py", [self.good, self.good, "--threshold", v], "--threshold")
        for v in ("2", "-0.1", "0"):
            with self.subTest(alpha=v):
                self.assert_refused("compare.py", [self.good, self.good, "--alpha", v], "--alpha")
        self.assert_refused("compare.py", [self.good, self.good, "--single-run-band", "-1"], "--single-run-band")
        self.assert_refused("compare.py", [self.good, self.good, "--markdown", self.out("no/such/dir/x.md")],
                            "--markdown")
        self.assert_refused("compare.py", [self.good, self.good, "--json", self.tmp], "--json")

    def test_ab_bad_values(self):
        ok = ["--baseline", "/bin/true", "--candidate", "/bin/true", "--out-dir", self.out("ab")]
        self.assert_refused("ab.py", ok + ["--rounds", "0"], "--rounds")
        self.assert_refused("ab.py", ok + ["--rounds", "-3"], "--rounds")
        self.assert_refused("ab.py", ok + ["--repetitions", "0"], "--repetitions")
        self.assert_refused("ab.py", ok + ["--timeout", "-1"], "--timeout")
        self.assert_refused("ab.py", ok + ["--filter", "[unclosed"], "--filter")
        self.assert_refused("ab.py", ok + ["--candidate-args", 'unbalanced "quote'], "--candidate-args")
        self.assert_refused("ab.py", ok + ["--threshold", "-5"], "--threshold")
        self.assert_refused("ab.py", ["--baseline", self.out("no-such-bin"), "--candidate", "/bin/true",
                                      "--out-dir", self.out("ab")], "--baseline")
        self.assert_refused("ab.py", ["--baseline", "/bin/true", "--candidate", "/bin/true",
                                      "--out-dir", self.a_file], "--out-dir")

    # ------------------------------------------------------------ argument syntax
    # Wrong types, unknown flags and missing arguments are refused by argparse, which prints
    # its usage (several lines) before the error line: the contract asks for one line.

    def test_argument_syntax_errors_are_one_line(self):
        cases = [
            ("report.py", [self.good, "-o", self.out(), "--rss-mib", "lots"]),
            ("report.py", [self.good]),
            ("compare.py", [self.good, self.good, "--threshold", "abc"]),
            ("compare.py", [self.good]),
            ("compare.py", [self.good, self.good, "--bogus"]),
            ("ab.py", ["--baseline", "/bin/true", "--candidate", "/bin/true", "--rounds", "1.5"]),
            ("ab.py", ["--candidate", "/bin/true"]),
        ]
        for script, args in cases:
            with self.subTest(script=script, args=args):
                self.assert_refused(script, args)


if __name__ == "__main__":
    unittest.main()
