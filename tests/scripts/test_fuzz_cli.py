"""Property-based bad input (issue 18) for build/ipcmeter's command line: argument lists
from a grammar of its real flags (ipcmeter --help, bench/cli.cpp) with odd values, plus
random strings.

The property: exit 0 or 2; on 2 exactly one line on stderr, starting "ipcmeter: "; nothing
written in the working directory; no abort or crash output.

NEVER A BENCHMARK RUN: another engineer's measurements must not be disturbed, so every
argument list is checked by a predicate before it is executed (hypothesis `assume`), and
only lists that cannot start a run are executed: those holding --help, -h or --describe
(the binary answers them, or refuses the line, and exits), those whose last
--benchmark_list_tests is on (Google Benchmark lists names and exits; ipcmeter measures no
floors), and those holding an argument that is refused wherever it stands (an unknown flag,
a positional word, a value out of range: parsing stops with exit 2 before anything else).
A list such as `--benchmark_filter=floor` alone WOULD start a run and is never executed.
`--ipcmeter-peer` as the first argument (the binary's internal peer role) is never passed.

The binary is $IPCMETER_BIN, else build/ipcmeter; without one the tests are skipped.
The two failures this file first found (a --benchmark_context value Google Benchmark refused
in its own words; a newline in an argument splitting the refusal) are fixed in the binary and
kept below as fixed cases.
"""
import os
import shutil
import subprocess
import tempfile
import unittest

from tests.scripts.fuzz_support import HealthCheck, assume, given, settings, st, HERE, REPO, BIN  # noqa: F401

N_SAFE_MODES = 80      # lists with --help / -h / --describe / --benchmark_list_tests
N_DEFINITE_ERRORS = 60  # lists holding an argument refused wherever it stands
N_RANDOM = 40           # random strings beside a terminator


def budget(n):
    """n examples, the same ones every run (FUZZ_SCALE / FUZZ_RANDOM as in
    test_fuzz_inputs.py)."""
    return settings(max_examples=max(1, int(n * float(os.environ.get("FUZZ_SCALE", "1")))),
                    deadline=None, derandomize=not os.environ.get("FUZZ_RANDOM"),
                    database=None, suppress_health_check=list(HealthCheck))


# ------------------------------------------------------------------ the grammar

# argv cannot hold NUL, nor lone surrogates (not encodable as a file-system string).
words = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=12)
NUMBERS = ["0", "1", "-1", "3", "1000", "1001", "0.5", "1e-300", "1e99", "3600", "3601",
           "nan", "inf", "-inf", "0x10", " 3", "3 ", "1_000", "99999999999999999999",
           "-0", "+5", "", "abc", "0.5s", "\u0663", "1\n"]
numbers = st.one_of(st.sampled_from(NUMBERS), st.integers().map(str),
                    st.floats().map(repr), words)
REGEXES = ["pingpong", "floor", "all", "-.", "-", "", ".", "(", ")", "[a-", "\\", "a{2,1}",
           "*", "^$", "^nothing-matches-this$", "(?i)x", "[[:alpha:]]", "\u00e9", "a|", "a\nb("]
regexes = st.one_of(st.sampled_from(REGEXES), words)
BOOLS = ["", "true", "false", "1", "0", "yes", "no", "on", "off", "t", "f", "y", "n",
         "TRUE", "maybe", "2", " "]
bools = st.one_of(st.sampled_from(BOOLS), words)
PATHS = ["r.json", "", "out/r.json", "/nonexistent-dir/r.json", ".", "/", "r.json/",
         "/dev/null", "-", "\u00e9.json", "a\nb.json"]
paths = st.one_of(st.sampled_from(PATHS), words)


def flag(name, values, bare=False):
    """--name=value; with bare, sometimes --name alone."""
    s = values.map(lambda v: "--%s=%s" % (name, v))
    return st.one_of(s, st.just("--" + name)) if bare else s


BOOL_FLAGS = ["benchmark_enable_random_interleaving", "benchmark_report_aggregates_only",
              "benchmark_display_aggregates_only", "benchmark_counters_tabular"]
one_flag = st.one_of(
    st.tuples(st.just("--profile"), st.one_of(st.sampled_from(
        ["quick", "default", "full", "bogus", "", "QUICK", "--help"]), words)).map(list),
    flag("profile", st.one_of(st.sampled_from(["quick", "default", "full", "huge", ""]), words)).map(lambda a: [a]),
    st.just(["--profile"]),
    flag("calibration_delay_ns", numbers, bare=True).map(lambda a: [a]),
    flag("calibration_delay_filter", regexes, bare=True).map(lambda a: [a]),
    flag("benchmark_filter", regexes, bare=True).map(lambda a: [a]),
    flag("benchmark_repetitions", numbers, bare=True).map(lambda a: [a]),
    flag("benchmark_min_time", numbers, bare=True).map(lambda a: [a]),
    flag("benchmark_min_warmup_time", numbers, bare=True).map(lambda a: [a]),
    flag("benchmark_out", paths, bare=True).map(lambda a: [a]),
    flag("benchmark_out_format", st.sampled_from(["console", "json", "csv", "xml", "JSON", ""]) | words,
         bare=True).map(lambda a: [a]),
    flag("benchmark_format", st.sampled_from(["console", "json", "csv", "yaml", ""]) | words,
         bare=True).map(lambda a: [a]),
    flag("benchmark_time_unit", st.sampled_from(["ns", "us", "ms", "s", "fortnights", "NS", ""]) | words,
         bare=True).map(lambda a: [a]),
    flag("benchmark_color", st.sampled_from(["auto", "true", "false", "purple", "", "yes"]) | words,
         bare=True).map(lambda a: [a]),
    st.sampled_from(BOOL_FLAGS).flatmap(lambda f: flag(f, bools, bare=True)).map(lambda a: [a]),
    flag("benchmark_context", st.sampled_from(["", "a=b", "a=b,c=d", "foo", "=", ",", "a=",
                                               "=b", "a=b,", "a=b=c"]) | words,
         bare=True).map(lambda a: [a]),
    flag("benchmark_perf_counters", st.sampled_from(["", "CYCLES", "x,y"]) | words).map(lambda a: [a]),
    flag("v", numbers, bare=True).map(lambda a: [a]),
    st.sampled_from(["--benchmark_bogus=1", "--no-such-flag", "-x", "positional", "", "-",
                     "--", "--=", "---profile", "--describe=x", "--describe=", "--Help",
                     "--benchmark_", "--benchmark_list_tests=maybe", "-hv"]).map(lambda a: [a]),
    words.map(lambda a: [a]),
)

TERMINATORS = ["--help", "-h", "--describe", "--benchmark_list_tests",
               "--benchmark_list_tests=true", "--benchmark_list_tests=1"]


@st.composite
def argvs(draw, terminator=True, parts=one_flag, max_parts=4):
    out = []
    for part in draw(st.lists(parts, max_size=max_parts)):
        out += part
    if terminator:
        out.insert(draw(st.integers(0, len(out))), draw(st.sampled_from(TERMINATORS)))
    return out


# ------------------------------------------------------------------ the predicate

# Arguments refused wherever they stand in the list: parse_command_line stops at the first
# error, and none of these can be taken as the value of --profile (the only flag that takes
# the next argument) and be accepted there.
DEFINITELY_BAD = ["--no-such-flag", "positional", "--benchmark_bogus=1",
                  "--benchmark_repetitions=0", "--benchmark_repetitions=1001",
                  "--benchmark_repetitions=many", "--benchmark_min_time=-1",
                  "--benchmark_min_time=0.5s", "--benchmark_out_format=xml",
                  "--benchmark_format=yaml", "--benchmark_time_unit=fortnights",
                  "--benchmark_list_tests=maybe", "--benchmark_color=purple",
                  "--calibration_delay_ns=-5", "--calibration_delay_filter=(",
                  "--benchmark_filter=[unclosed", "--benchmark_out=", "--describe=x",
                  "--profile=bogus", "-x"]


def last_list_tests(argv):
    """The value of the last --benchmark_list_tests ("" when bare), or None."""
    value = None
    for a in argv:
        if a == "--benchmark_list_tests":
            value = ""
        elif a.startswith("--benchmark_list_tests="):
            value = a.split("=", 1)[1]
    return value


def cannot_run(argv):
    """True only for a list that cannot start a benchmark run (see the docstring)."""
    if not argv or argv[0] == "--ipcmeter-peer" or "--ipcmeter-peer" in argv:
        return False
    if any(a in ("--help", "-h", "--describe") for a in argv):
        return True
    if last_list_tests(argv) in ("", "true", "1"):   # on for ipcmeter and for Google Benchmark
        return True
    return any(a in DEFINITELY_BAD for a in argv)


def definitely_refused(argv):
    return any(a in DEFINITELY_BAD for a in argv)


CRASH_MARKS = ("Traceback", "terminate called", "Aborted", "Segmentation fault",
               "Assertion", "core dumped", "AddressSanitizer", "IPCM_CHECK")


@unittest.skipUnless(os.path.isfile(BIN) and os.access(BIN, os.X_OK),
                     "no ipcmeter binary at %s (build it, or set IPCMETER_BIN)" % BIN)
class CommandLineFuzz(unittest.TestCase):
    def setUp(self):
        self.cwd = tempfile.mkdtemp(prefix="fuzz-cli-")

    def tearDown(self):
        shutil.rmtree(self.cwd, ignore_errors=True)

    def run_bin(self, argv):
        self.assertTrue(cannot_run(argv), "refusing to execute %r: it could start a run" % argv)
        for name in os.listdir(self.cwd):
            path = os.path.join(self.cwd, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        p = subprocess.run([BIN] + argv, cwd=self.cwd, capture_output=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        return (p.returncode, p.stdout.decode("utf-8", "replace"),
                p.stderr.decode("utf-8", "replace"))

    def check(self, argv, expect_refusal=False):
        code, out, err = self.run_bin(argv)
        ctx = "ipcmeter %r: exit %d, stderr %r" % (argv, code, err[-600:])
        for mark in CRASH_MARKS:
            self.assertNotIn(mark, err, ctx)
        self.assertEqual(os.listdir(self.cwd), [], "%s: wrote in the working directory" % ctx)
        self.assertIn(code, (0, 2), ctx)
        if code == 2:
            lines = err.rstrip("\n").split("\n")
            self.assertEqual(len(lines), 1, "%s: stderr is not one line" % ctx)
            self.assertTrue(lines[0].startswith("ipcmeter: "), ctx)
            self.assertEqual(out, "", "%s: refused but wrote to stdout" % ctx)
        else:
            self.assertFalse(expect_refusal, "%s: a bad argument was accepted" % ctx)
            self.assertTrue(out.strip(), "%s: exit 0 with nothing on stdout" % ctx)

    @budget(N_SAFE_MODES)
    @given(argvs())
    def test_flags_beside_help_describe_or_list(self, argv):
        assume(cannot_run(argv))
        self.check(argv, expect_refusal=definitely_refused(argv))

    @budget(N_DEFINITE_ERRORS)
    @given(argvs(terminator=False), st.sampled_from(DEFINITELY_BAD), st.integers(0, 8))
    def test_a_bad_argument_anywhere_is_refused(self, argv, bad, where):
        argv = list(argv)
        argv.insert(min(where, len(argv)), bad)
        assume(cannot_run(argv))
        self.check(argv, expect_refusal=True)

    @budget(N_RANDOM)
    @given(argvs(parts=st.lists(words, min_size=1, max_size=2), max_parts=3))
    def test_random_strings(self, argv):
        assume(cannot_run(argv))
        self.check(argv, expect_refusal=definitely_refused(argv))

    def test_predicate_never_lets_a_run_through(self):
        """Lists that would start a run are never executed."""
        for argv in (["--benchmark_filter=floor"], [], ["--profile", "quick"],
                     ["--benchmark_list_tests=false"],
                     ["--benchmark_list_tests=true", "--benchmark_list_tests=false"],
                     ["--benchmark_list_tests=TRUE"], ["--ipcmeter-peer", "--help"],
                     ["--benchmark_filter=^nothing-matches-this$", "--benchmark_filter=floor"]):
            self.assertFalse(cannot_run(argv), argv)

    def test_found_failures_stay_fixed(self):
        """What this file found first: refused on one line, in ipcmeter's words."""
        for argv, words in ((["--benchmark_context=foo", "--benchmark_list_tests=true"], "KEY=VALUE"),
                            (["--benchmark_context=a=b,c", "--benchmark_context=d", "--help"], "KEY=VALUE"),
                            (["--profile=a\nb", "--benchmark_list_tests=true"], "a\\nb"),
                            (["x\ny", "--help"], "x\\ny")):
            code, out, err = self.run_bin(argv)
            self.assertEqual(code, 2, (argv, err))
            self.assertEqual(len(err.rstrip("\n").split("\n")), 1, (argv, err))
            self.assertTrue(err.startswith("ipcmeter: "), (argv, err))
            self.assertIn(words, err, (argv, err))


if __name__ == "__main__":
    unittest.main()
