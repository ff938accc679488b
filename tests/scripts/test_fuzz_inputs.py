"""Property-based bad input (issue 18) for the Python tools: the loader (scripts/ipcmeter/
results.py, schema.py), report.py, compare.py, ab.py and history.py, fed arbitrary JSON and near-valid
results files made by mutating the fixtures.

The property: a correct output, or exit 2 with exactly one line on stderr; never a
traceback, never a partial or temporary output file (outputs go through atomic.py).

Most examples run in-process (the loader and each command's main(), fast); fewer run each
command as a subprocess, which is what a user sees. Budgets are small and derandomized so
the file is reproducible in CI and runs in a few minutes on 2 slow vCPUs. ab.py is driven
with fake "binaries" (tiny scripts that copy a prepared results file to --benchmark_out),
so no benchmark ever runs. Every failure found here is fixed in scripts/, not skipped.
"""
import collections
import contextlib
import copy
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

from tests.scripts.fuzz_support import HealthCheck, given, settings, st, HERE, REPO  # noqa: F401

SCRIPTS = os.path.join(REPO, "scripts")
FIXTURES = os.path.join(REPO, "tests", "fixtures")
PY = "/usr/bin/python3"

sys.path.insert(0, SCRIPTS)
import compare  # noqa: E402
import history  # noqa: E402
import report  # noqa: E402
from ipcmeter import results as loader  # noqa: E402

# Small fixtures keep each example cheap: one with ipcmeter.schema, some without (those
# are read with the binary's --describe when $IPCMETER_BIN names one, else the table).
FIXTURE_FILES = {
    "schema": "schema/base.json",
    "schema-new": "schema/new.json",
    "single": "compare/single-base.json",
    "single-noise": "compare/single-noise.json",
    "errored": "results-all-errored.json",
    "reps": "compare/base.json",
}


def _read(rel):
    with open(os.path.join(FIXTURES, rel)) as f:
        return json.load(f)


FIX = {k: _read(v) for k, v in FIXTURE_FILES.items()}
VALID_SCHEMA = FIX["schema"]["ipcmeter"]["schema"]

# Budgets: examples per target (each subprocess example costs ~1-8 s on a slow vCPU).
N_LOADER = 800
N_COMPARE_INPROC = 200
N_REPORT_INPROC = 40
N_COMPARE_SUBPROC = 20
N_REPORT_SUBPROC = 4
N_AB_SUBPROC = 8
N_ARBITRARY_SUBPROC = 10
N_HISTORY_INPROC = 40
N_HISTORY_SUBPROC = 4


def budget(n):
    """n examples, the same ones every run. For a longer hunt: FUZZ_SCALE=10 (ten times as
    many) and FUZZ_RANDOM=1 (new examples each run)."""
    return settings(max_examples=max(1, int(n * float(os.environ.get("FUZZ_SCALE", "1")))),
                    deadline=None, derandomize=not os.environ.get("FUZZ_RANDOM"),
                    database=None, suppress_health_check=list(HealthCheck))


# ------------------------------------------------------------------ strategies

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
json_values = st.recursive(
    json_scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=4),
                           st.dictionaries(st.text(max_size=8), kids, max_size=4)),
    max_leaves=12)

NASTY = [None, True, False, 0, -1, -0.0, 1, 0.5, 1e308, -1e308, 5e-324, 1e-320,
         float("nan"), float("inf"), float("-inf"), 10 ** 30, 10 ** 400, -10 ** 400,
         "", "1", "64", "NaN", "ns", "line one\nline two", "\u00e9\u4e2d\U0001F600",
         "\u2028", "\x00", "a" * 300, [], {}, [1, "x"], {"a": 1}, {"c2c_rtt_ns": 1}]
nasty_values = st.one_of(st.sampled_from(NASTY), st.sampled_from(NASTY), st.sampled_from(NASTY),
                         st.integers(), st.floats(),
                         st.text(max_size=16), json_values)

BENCH_FIELDS = ["name", "run_name", "run_type", "aggregate_name", "aggregate_unit",
                "repetition_index", "repetitions", "error_occurred", "error_message",
                "skipped", "skip_message", "time_unit", "real_time", "cpu_time",
                "iterations", "threads", "rtt_p50_ns", "rtt_p99_ns", "bytes_per_second",
                "items_per_second", "c2c_rtt_now_ns", "speedup", "ready_p50_ns"]
META_FIELDS = ["schema_version", "schema", "env", "floors", "floors_end", "placement",
               "transports", "warnings", "profile", "ab"]
FLOOR_FIELDS = ["c2c_rtt_ns", "c2c_definition", "memcpy_gbps_cache", "memcpy_gbps_by_size",
                "syscall_ns"]
ENV_FIELDS = ["cpu_model", "cpu_signature", "microcode", "cpuidle", "cpus", "online_cpus",
              "kernel", "build_type", "hostname", "compiler"]
AB_FIELDS = ["pairing_id", "role", "rounds", "repetitions_per_round", "round_floors",
             "floor_probes", "round_files"]
NAMES = ["", "/", "//", "_mean", "pingpong", "pingpong/", "pingpong//size:",
         "pingpong/transport:shm_ring/size:abc/manual_time",
         "pingpong/transport:shm_ring/transport:pipe", "floor/probe:c2c_rtt",
         "floor/probe:c2c_rtt_median", "stream/size:99999999999999999999999",
         "compute/kernel:\u00e9/workers:\u0661\u0662", "fanin/producers:-1/consumers:0",
         "x" * 2000, "a\nb", "spawn/rss_mib:1_000/manual_time_cv", ":", "/:/:/"]
names = st.one_of(st.sampled_from(NAMES), st.text(max_size=40))


def _slots(node, out):
    """Every (container, key) below node."""
    if isinstance(node, dict):
        for k in list(node):
            out.append((node, k))
            _slots(node[k], out)
    elif isinstance(node, list):
        for i in range(len(node)):
            out.append((node, i))
            _slots(node[i], out)
    return out


def _meta(doc):
    m = doc.get("ipcmeter") if isinstance(doc, dict) else None
    return m if isinstance(m, dict) else None


def _benches(doc):
    b = doc.get("benchmarks") if isinstance(doc, dict) else None
    return [e for e in b if isinstance(e, dict)] if isinstance(b, list) else []


def op_replace_anywhere(draw, doc):
    region = draw(st.sampled_from(["all", "meta", "bench", "context"]))
    root = doc
    if region == "meta" and _meta(doc) is not None:
        root = _meta(doc)
    elif region == "bench" and isinstance(doc.get("benchmarks"), list):
        root = doc["benchmarks"]
    elif region == "context" and isinstance(doc.get("context"), dict):
        root = doc["context"]
    slots = _slots(root, [])
    if not slots:
        return
    container, key = slots[draw(st.integers(0, len(slots) - 1))]
    what = draw(st.sampled_from(["replace", "replace", "delete", "rename"]))
    if what == "replace":
        container[key] = draw(nasty_values)
    elif isinstance(container, dict):
        value = container.pop(key)
        if what == "rename":
            container[draw(st.text(max_size=10))] = value
    else:
        del container[key]


def op_bench_field(draw, doc):
    benches = _benches(doc)
    if benches:
        e = benches[draw(st.integers(0, len(benches) - 1))]
        field = draw(st.sampled_from(BENCH_FIELDS))
        if draw(st.booleans()) or field not in e:
            e[field] = draw(nasty_values)
        else:
            del e[field]


def op_bench_name(draw, doc):
    benches = _benches(doc)
    if benches:
        e = benches[draw(st.integers(0, len(benches) - 1))]
        e["name"] = draw(names)
        if draw(st.booleans()):
            e["run_type"] = "aggregate"
            e["aggregate_name"] = draw(st.sampled_from(["mean", "median", "cv", "stddev", ""]))


def op_bench_error(draw, doc):
    """Make some or all benchmarks errored, with odd messages."""
    benches = _benches(doc)
    every = draw(st.booleans())
    for e in benches:
        if every or draw(st.booleans()):
            e["error_occurred"] = True
            e["error_message"] = draw(st.sampled_from(["line one\nline two", "", None, 5,
                                                       "\u2028x"]) | st.text(max_size=10))


def op_bench_list(draw, doc):
    b = doc.get("benchmarks")
    if not isinstance(b, list):
        return
    what = draw(st.sampled_from(["empty", "duplicate", "keep-some", "junk-entry"]))
    if what == "empty":
        doc["benchmarks"] = []
    elif what == "duplicate" and b:
        i = draw(st.integers(0, len(b) - 1))
        b.insert(i, copy.deepcopy(b[i]))
    elif what == "keep-some" and b:
        k = draw(st.integers(1, len(b)))
        doc["benchmarks"] = b[:k]
    else:
        b.insert(draw(st.integers(0, len(b))), draw(nasty_values))


NUMBERS = [0, 0.0, -0.0, -1, -1e-9, 1e-300, 5e-324, 1e308, -1e308, 1.7e308, 10 ** 300,
           float("nan"), 1, 2 ** 63, 123456789.123]


def op_metric_values(draw, doc):
    """One benchmark's metric, in every repetition and aggregate, set to odd numbers (zero,
    negative, subnormal, huge; the time unit sometimes scaled so that ns overflow)."""
    benches = _benches(doc)
    if not benches:
        return
    name = benches[draw(st.integers(0, len(benches) - 1))].get("run_name")
    metric = draw(st.sampled_from(["real_time", "cpu_time", "rtt_p50_ns", "rtt_p99_ns",
                                   "bytes_per_second", "items_per_second", "speedup",
                                   "ready_p50_ns", "iterations", "floor_c2c_rtt_ns"]))
    same = draw(st.booleans())
    value = draw(st.sampled_from(NUMBERS) | st.floats(allow_nan=False, allow_infinity=False))
    for e in benches:
        if e.get("run_name") == name:
            e[metric] = value if same else draw(st.sampled_from(NUMBERS) | st.floats(
                allow_nan=False, allow_infinity=False))
            if metric in ("real_time", "cpu_time") and draw(st.booleans()):
                e["time_unit"] = draw(st.sampled_from(["s", "ms", "us"]))


def op_meta_field(draw, doc):
    meta = _meta(doc)
    if meta is None:
        return
    field = draw(st.sampled_from(META_FIELDS))
    if draw(st.integers(0, 3)) == 0:
        meta.pop(field, None)
    else:
        meta[field] = draw(nasty_values)


def op_floors(draw, doc):
    meta = _meta(doc)
    if meta is None:
        return
    which = draw(st.sampled_from(["floors", "floors_end"]))
    floors = meta.get(which)
    if not isinstance(floors, dict):
        floors = meta[which] = {}
    field = draw(st.sampled_from(FLOOR_FIELDS))
    if field == "memcpy_gbps_by_size" and draw(st.booleans()):
        floors[field] = {draw(st.sampled_from(["64", "4096", "x", ""])): draw(nasty_values)}
    else:
        floors[field] = draw(st.sampled_from(NUMBERS) | nasty_values)


def op_env(draw, doc):
    meta = _meta(doc)
    if meta is None:
        return
    env = meta.get("env")
    if not isinstance(env, dict):
        env = meta["env"] = {}
    env[draw(st.sampled_from(ENV_FIELDS))] = draw(nasty_values)


def op_schema(draw, doc):
    """Corrupt ipcmeter.schema (a copy of a valid one when the file has none)."""
    meta = _meta(doc)
    if meta is None:
        return
    if not isinstance(meta.get("schema"), dict) or draw(st.integers(0, 4)) == 0:
        meta["schema"] = copy.deepcopy(VALID_SCHEMA)
    slots = _slots(meta["schema"], [])
    for _ in range(draw(st.integers(1, 3))):
        if not slots:
            break
        container, key = slots[draw(st.integers(0, len(slots) - 1))]
        if draw(st.booleans()):
            container[key] = draw(nasty_values)
        elif isinstance(container, dict):
            container.pop(key, None)
        elif key < len(container):
            del container[key]
        slots = _slots(meta["schema"], [])


def op_ab(draw, doc):
    """An ipcmeter.ab section (as ab.py writes), with a corrupted field."""
    meta = _meta(doc)
    if meta is None:
        return
    ab = {"pairing_id": "p1", "role": "baseline", "rounds": 2, "repetitions_per_round": 1,
          "round_floors": [{"c2c_rtt_ns": 100}, {"c2c_rtt_ns": 110}],
          "floor_probes": {"round_probes_ns": [[100, 101, 102], [100, 300, 101]]}}
    ab[draw(st.sampled_from(AB_FIELDS))] = draw(nasty_values)
    meta["ab"] = ab


OPS = [op_replace_anywhere, op_bench_field, op_bench_field, op_bench_name, op_bench_error,
       op_bench_list, op_meta_field, op_floors, op_floors, op_env, op_schema, op_ab,
       op_metric_values, op_metric_values, op_metric_values]


def encode(draw, doc):
    """doc as file bytes, sometimes damaged at the byte level."""
    text = json.dumps(doc, ensure_ascii=draw(st.booleans()), allow_nan=True)
    data = text.encode("utf-8", "surrogatepass")
    how = draw(st.sampled_from(["plain"] * 6 + ["truncate", "bad-bytes", "bom", "nul"]))
    if how == "truncate":
        data = data[:draw(st.integers(0, len(data)))]
    elif how == "bad-bytes":
        i = draw(st.integers(0, len(data)))
        data = data[:i] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x81"])) + data[i:]
    elif how == "bom":
        data = b"\xef\xbb\xbf" + data
    elif how == "nul":
        data = data + b"\x00"
    return data


@st.composite
def near_valid(draw, fixtures=("schema", "schema-new", "single", "single-noise", "errored")):
    doc = copy.deepcopy(FIX[draw(st.sampled_from(fixtures))])
    for _ in range(draw(st.integers(1, 3))):
        draw(st.sampled_from(OPS))(draw, doc)
    return encode(draw, doc)


@st.composite
def arbitrary_json(draw):
    if draw(st.booleans()):
        doc = draw(json_values)
    else:  # shaped enough to get past the first checks
        doc = {"benchmarks": draw(st.lists(json_values, max_size=3)),
               "ipcmeter": draw(st.dictionaries(st.sampled_from(META_FIELDS), json_values,
                                                max_size=4))}
        doc["ipcmeter"].setdefault("schema_version", draw(st.sampled_from([1, 1, 2, 0, "1"])))
    return json.dumps(doc, allow_nan=True).encode("utf-8", "surrogatepass")


results_bytes = st.one_of(near_valid(), near_valid(), near_valid(), arbitrary_json())

DATES = ["2026-11-01T10:00:00+00:00", "2026-11-01T10:00:00Z", "2026-11-01", "2026-13-45T99:00",
         "yesterday", "", None, 5, "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"]


def op_history_fields(draw, doc):
    """What only history.py reads: the revision, its commit date and the run's date."""
    meta = _meta(doc)
    env = meta.get("env") if meta is not None else None
    if isinstance(env, dict):
        env["commit_date"] = draw(st.sampled_from(DATES) | nasty_values)
        if draw(st.booleans()):
            env["git_revision"] = draw(st.sampled_from(["abc", "abc-dirty", "", None, 7])
                                       | st.text(max_size=8))
    if isinstance(doc.get("context"), dict) and draw(st.booleans()):
        doc["context"]["date"] = draw(st.sampled_from(DATES) | nasty_values)


@st.composite
def history_valid(draw, fixtures=("schema", "schema-new", "single", "reps", "errored")):
    doc = copy.deepcopy(FIX[draw(st.sampled_from(fixtures))])
    op_history_fields(draw, doc)
    for _ in range(draw(st.integers(0, 2))):
        draw(st.sampled_from(OPS))(draw, doc)
    return encode(draw, doc)


# ------------------------------------------------------------------ checks

def one_line(text):
    """The lines of stderr, split only at newlines (what a terminal shows)."""
    return text.rstrip("\n").split("\n") if text.strip() else []


def leftovers(root):
    """Temporary files atomic.py would leave behind on a crash."""
    out = []
    for d, dirs, files in os.walk(root):
        out += [os.path.join(d, n) for n in dirs + files if ".tmp-" in n]
    return out


def exercise(res):
    """Everything the commands ask of a loaded file; none of it may raise."""
    res.families()
    for base, recs in res.benchmarks().items():
        res.aggregates(base)
    res.errors()
    res.all_errored()
    for fam in res.families():
        for metric in res.schema.primary_metrics(fam):
            res.summary(metric)
            res.cv(metric)
            res.schema.higher_is_better(fam, metric)
    res.summary("real_time_ns")
    res.floor_drift()
    res.c2c_floor_ns()
    res.c2c_definition()
    res.noisy()
    res.noisy_benchmarks()
    res.label
    res.context


OUTCOMES = collections.Counter()   # (test, exit code) -> examples; FUZZ_STATS=1 prints it


def tally(test, code):
    OUTCOMES[(test, code)] += 1


def tearDownModule():
    if os.environ.get("FUZZ_STATS"):
        for (test, code), n in sorted(OUTCOMES.items(), key=str):
            print("fuzz stats: %-45s exit %-5s %4d examples" % (test, code, n), file=sys.stderr)


def strict_json(text, context):
    """Parse text as standard JSON: NaN and Infinity, which Python writes but JSON lacks,
    are refused."""
    def bad(token):
        raise AssertionError("%s: output JSON holds %s" % (context, token))
    return json.loads(text, parse_constant=bad)


class FuzzBase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fuzz-inputs-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def fresh(self, name):
        d = os.path.join(self.tmp, name)
        shutil.rmtree(d, ignore_errors=True)
        os.mkdir(d)
        return d

    def run_main(self, main, argv):
        """main(argv) in-process: (exit code, stdout, stderr); exceptions propagate."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as e:
                code = e.code
        return code, out.getvalue(), err.getvalue()

    def run_script(self, script, args, cwd):
        p = subprocess.run([PY, os.path.join(SCRIPTS, script)] + args, cwd=cwd,
                           capture_output=True, timeout=300)
        return (p.returncode, p.stdout.decode("utf-8", "replace"),
                p.stderr.decode("utf-8", "replace"))

    def assert_refusal(self, prog, code, err, allowed, context):
        tally("%s %s" % (self._testMethodName, context), code)
        self.assertNotIn("Traceback", err, context)
        self.assertIn(code, allowed, "%s: exit %r, stderr %r" % (context, code, err[-800:]))
        if code == 2:
            lines = one_line(err)
            self.assertEqual(len(lines), 1, "%s: stderr is not one line: %r" % (context, err[-800:]))
            self.assertTrue(lines[0].startswith(prog + ": "), "%s: %r" % (context, lines[0]))

    def assert_compare_outputs(self, code, work, md, js, context):
        self.assertEqual(leftovers(work), [], context)
        if code == 2:
            self.assertFalse(os.path.exists(md) or os.path.exists(js),
                             "%s: exit 2 but an output was written" % context)
        else:
            with open(js) as f:
                doc = strict_json(f.read(), context)
            self.assertEqual(doc.get("exit_code", code), code, context)
            with open(md) as f:
                self.assertTrue(f.read().strip(), context)

    def assert_report_outputs(self, code, out, context):
        self.assertEqual(leftovers(os.path.dirname(out)), [], context)
        if code == 2:
            self.assertFalse(os.path.exists(out), "%s: exit 2 but %s was written" % (context, out))
        else:
            with open(os.path.join(out, "report.html"), encoding="utf-8") as f:
                self.assertTrue(f.read().endswith("</html>\n"), context)
            with open(os.path.join(out, "summary.md"), encoding="utf-8") as f:
                self.assertTrue(f.read().strip(), context)

    def assert_history_outputs(self, code, out, context):
        self.assertEqual(leftovers(os.path.dirname(out)), [], context)
        if code == 2:
            self.assertFalse(os.path.exists(out), "%s: exit 2 but %s was written" % (context, out))
        else:
            self.assertEqual(sorted(os.listdir(out)),
                             ["history.html", "history.json", "history.md"], context)
            with open(os.path.join(out, "history.html"), encoding="utf-8") as f:
                self.assertTrue(f.read().endswith("</html>\n"), context)
            with open(os.path.join(out, "history.json"), encoding="utf-8") as f:
                strict_json(f.read(), context)


# ------------------------------------------------------------------ in-process

class LoaderFuzz(FuzzBase):
    @budget(N_LOADER)
    @given(results_bytes)
    def test_loader_loads_or_refuses_in_one_line(self, data):
        path = self.write("r.json", data)
        try:
            res = loader.load(path)
        except loader.ResultsError as e:
            tally("loader", "error")
            msg = str(e)
            self.assertEqual(len(one_line(msg)), 1, repr(msg))
            self.assertTrue(msg.startswith(path + ": "), msg)
            return
        tally("loader", "loaded")
        exercise(res)


class CompareInProcessFuzz(FuzzBase):
    @budget(N_COMPARE_INPROC)
    @given(st.data(), st.sampled_from(["single", "schema", "reps"]), st.booleans(),
           st.sampled_from([[], ["--normalize-floors"], ["--allow-env-mismatch"],
                            ["--metric", "rtt_p99_ns"], ["--unpaired"]]))
    def test_compare_judges_or_refuses(self, data, base_name, new_is_base, extra):
        # Mostly a damaged copy of the file it is compared with, so the judging code runs.
        new = data.draw(st.one_of(near_valid((base_name,)), near_valid((base_name,)),
                                  results_bytes))
        work = self.fresh("w")
        good = self.write("good.json", json.dumps(FIX[base_name]).encode())
        bad = self.write("bad.json", new)
        a, b = (bad, good) if new_is_base else (good, bad)
        md, js = os.path.join(work, "c.md"), os.path.join(work, "c.json")
        code, out, err = self.run_main(compare.main, [a, b, "--markdown", md, "--json", js] + extra)
        ctx = "compare %s" % extra
        self.assert_refusal("compare.py", code, err, (0, 1, 2, 3), ctx)
        self.assert_compare_outputs(code, work, md, js, ctx)

    @budget(N_COMPARE_INPROC // 2)
    @given(results_bytes, results_bytes)
    def test_compare_two_damaged_files(self, one, two):
        work = self.fresh("w")
        a, b = self.write("a.json", one), self.write("b.json", two)
        md, js = os.path.join(work, "c.md"), os.path.join(work, "c.json")
        code, out, err = self.run_main(compare.main, [a, b, "--markdown", md, "--json", js,
                                                      "--allow-env-mismatch"])
        self.assert_refusal("compare.py", code, err, (0, 1, 2, 3), "compare two")
        self.assert_compare_outputs(code, work, md, js, "compare two")


class ReportInProcessFuzz(FuzzBase):
    @budget(N_REPORT_INPROC)
    @given(st.one_of(near_valid(("single", "schema")), near_valid(("single", "schema")),
                     near_valid(("errored", "reps")), arbitrary_json()),
           st.sampled_from([[], ["--rss-mib", "64"]]))
    def test_report_writes_whole_or_refuses(self, data, extra):
        path = self.write("r.json", data)
        out = os.path.join(self.fresh("w"), "report")
        code, _, err = self.run_main(report.main, [path, "-o", out] + extra)
        self.assert_refusal("report.py", code, err, (0, 2), "report")
        self.assert_report_outputs(code, out, "report")


    def test_report_with_nothing_positive_to_plot(self):
        """Found by FUZZ_RANDOM: every time zero (or negative) made matplotlib raise on a
        log axis (a traceback); now the plot is skipped with its reason."""
        for value in (0, -5.0):
            doc = copy.deepcopy(FIX["single"])
            for e in doc["benchmarks"]:
                for k in list(e):
                    if k.endswith("_ns") or k in ("real_time", "cpu_time", "bytes_per_second",
                                                  "items_per_second"):
                        e[k] = value
            path = self.write("r.json", json.dumps(doc).encode())
            out = os.path.join(self.fresh("w"), "report")
            code, _, err = self.run_main(report.main, [path, "-o", out])
            self.assert_refusal("report.py", code, err, (0,), "report %g" % value)
            self.assert_report_outputs(code, out, "report %g" % value)
            with open(os.path.join(out, "summary.md"), encoding="utf-8") as f:
                self.assertIn("cannot be drawn", f.read())


class HistoryInProcessFuzz(FuzzBase):
    @budget(N_HISTORY_INPROC)
    @given(st.one_of(history_valid(), history_valid(), near_valid(("single", "reps")),
                     arbitrary_json()),
           st.booleans(), st.sampled_from([[], ["--group-by", "hardware"]]))
    def test_history_writes_whole_or_refuses(self, data, with_good, extra):
        # Beside an intact file, so that the damaged one meets a series it must join or not.
        paths = [self.write("r.json", data)]
        if with_good:
            paths.append(self.write("good.json", json.dumps(FIX["reps"]).encode()))
        out = os.path.join(self.fresh("w"), "history")
        code, _, err = self.run_main(history.main, paths + ["-o", out] + extra)
        self.assert_refusal("history.py", code, err, (0, 2), "history")
        self.assert_history_outputs(code, out, "history")


# ------------------------------------------------------------------ subprocesses

class CommandsFuzz(FuzzBase):
    @budget(N_COMPARE_SUBPROC)
    @given(st.one_of(near_valid(("single",)), near_valid(("single",)), results_bytes),
           st.booleans())
    def test_compare_command(self, data, bad_is_base):
        work = self.fresh("w")
        good = self.write("good.json", json.dumps(FIX["single"]).encode())
        bad = self.write("bad.json", data)
        a, b = (bad, good) if bad_is_base else (good, bad)
        md, js = os.path.join(work, "c.md"), os.path.join(work, "c.json")
        code, _, err = self.run_script("compare.py", [a, b, "--markdown", md, "--json", js], work)
        self.assert_refusal("compare.py", code, err, (0, 1, 2, 3), "compare.py")
        self.assert_compare_outputs(code, work, md, js, "compare.py")

    @budget(N_ARBITRARY_SUBPROC)
    @given(arbitrary_json())
    def test_compare_command_arbitrary_json(self, data):
        work = self.fresh("w")
        a = self.write("a.json", data)
        md, js = os.path.join(work, "c.md"), os.path.join(work, "c.json")
        code, _, err = self.run_script("compare.py", [a, a, "--markdown", md, "--json", js], work)
        self.assert_refusal("compare.py", code, err, (0, 1, 2, 3), "compare.py")
        self.assert_compare_outputs(code, work, md, js, "compare.py")

    @budget(N_REPORT_SUBPROC)
    @given(st.one_of(near_valid(("single", "errored")), arbitrary_json()))
    def test_report_command(self, data):
        work = self.fresh("w")
        path = self.write("r.json", data)
        out = os.path.join(work, "report")
        code, _, err = self.run_script("report.py", [path, "-o", out], work)
        self.assert_refusal("report.py", code, err, (0, 2), "report.py")
        self.assert_report_outputs(code, out, "report.py")


    @budget(N_HISTORY_SUBPROC)
    @given(st.one_of(history_valid(), arbitrary_json()))
    def test_history_command(self, data):
        work = self.fresh("w")
        path = self.write("r.json", data)
        out = os.path.join(work, "history")
        code, _, err = self.run_script("history.py", [path, "-o", out], work)
        self.assert_refusal("history.py", code, err, (0, 2), "history.py")
        self.assert_history_outputs(code, out, "history.py")


FAKE_BIN = """#!/usr/bin/python3
# A stand-in for ipcmeter: copies its prepared results file to --benchmark_out.
import shutil, sys
for a in sys.argv[1:]:
    if a.startswith("--benchmark_out="):
        shutil.copyfile(sys.argv[0] + ".json", a.split("=", 1)[1])
"""

PROGRESS = re.compile(r"^ab\.py: (\[\d+/\d+\] |results in |no focus rounds: )")


class AbFuzz(FuzzBase):
    def fake(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(FAKE_BIN)
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
        with open(path + ".json", "wb") as f:
            f.write(data)
        return path

    @budget(N_AB_SUBPROC)
    @given(results_bytes, st.booleans(), st.integers(1, 2), st.integers(1, 2))
    def test_ab_with_fake_builds(self, data, damage_baseline, rounds, reps):
        good = json.dumps(FIX["single"]).encode()
        a = self.fake("fake-a", data if damage_baseline else good)
        b = self.fake("fake-b", good if damage_baseline else data)
        work = self.fresh("w")
        out = os.path.join(work, "ab")
        code, _, err = self.run_script(
            "ab.py", ["--baseline", a, "--candidate", b, "--rounds", str(rounds),
                      "--repetitions", str(reps), "--out-dir", out], work)
        tally("ab.py", code)
        self.assertNotIn("Traceback", err)
        self.assertIn(code, (0, 1, 2, 3), err[-800:])
        self.assertEqual(leftovers(work), [])
        if code == 2:
            # Progress lines come first; the refusal itself is one line.
            lines = [ln for ln in one_line(err) if not PROGRESS.match(ln)]
            self.assertEqual(len(lines), 1, err[-800:])
            self.assertTrue(lines[0].startswith(("ab.py: ", "compare.py: ")), lines[0])
        else:
            for name in ("baseline.json", "candidate.json", "compare.json"):
                with open(os.path.join(out, name)) as f:
                    strict_json(f.read(), name)


if __name__ == "__main__":
    unittest.main()
