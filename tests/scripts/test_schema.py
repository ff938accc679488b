"""The scripts judge by the schema: the results file's ipcmeter.schema, else the binary's
--describe, else (pre-schema files, no binary) the frozen pre-schema table.

Fixtures: tests/fixtures/schema/*.json (make_fixtures.py schema_fixtures()): one pingpong and
one stream row, 5 tight repetitions; NEW has every counter 20% higher than BASE, facts
included. Their schema is test data, not the binary's, so a verdict that follows it shows
the file was read.
"""

import contextlib
import io
import json
import os
import stat
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import compare  # noqa: E402
from ipcmeter import results as ir  # noqa: E402
from ipcmeter import schema  # noqa: E402

FIX = os.path.join(ROOT, "tests", "fixtures", "schema")
BASE, NEW, NEWER = (os.path.join(FIX, f) for f in ("base.json", "new.json", "new-newer-build.json"))
PP = "pingpong/transport:shm_ring/peer:thread/size:64/wait:spin"
ST = "stream/transport:pipe/peer:fork/size:4096/wait:block"
BASELINE = os.path.join(ROOT, "results", "baselines", "reference-quick.json")


def judge(*argv):
    """(exit code, report dict or None, stderr) of compare.main in process."""
    with tempfile.TemporaryDirectory() as tmp:
        out_json = os.path.join(tmp, "c.json")
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            try:
                code = compare.main([str(a) for a in argv] + ["--json", out_json])
            except SystemExit as e:
                code = e.code
        report = None
        if os.path.exists(out_json):
            with open(out_json) as f:
                report = json.load(f)
    return code, report, err.getvalue()


def verdicts(report):
    return {(r["benchmark"], r["metric"]): r["verdict"] for r in report["comparisons"]}


def read(path):
    with open(path) as f:
        return json.load(f)


def write(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def fake_binary(tmp, describe=None, exit_code=0):
    """An executable that answers --describe with `describe` (or fails with exit_code)."""
    path = os.path.join(tmp, "ipcmeter")
    body = "#!/bin/sh\nexit %d\n" % exit_code
    if describe is not None:
        answer = write(os.path.join(tmp, "describe.json"), describe)
        body = "#!/bin/sh\n[ \"$1\" = --describe ] || exit 9\ncat '%s'\n" % answer
    with open(path, "w") as f:
        f.write(body)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


class FileSchema(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def test_the_files_schema_is_the_one_used(self):
        r = ir.load(BASE)
        self.assertEqual(r.schema.source, "file")
        self.assertEqual(judge(BASE, NEW)[1]["new"]["schema"], "file")
        self.assertEqual(r.schema.primary_metrics("stream"), ["bytes_per_second", "items_per_second"])

    def test_primary_metrics_judged_by_their_direction(self):
        code, report, _ = judge(BASE, NEW)
        self.assertEqual(code, 1)
        self.assertEqual(verdicts(report), {
            (PP, "rtt_p50_ns"): "regressed", (PP, "rtt_p99_ns"): "regressed",
            (ST, "bytes_per_second"): "improved", (ST, "items_per_second"): "improved"})

    def test_a_metric_the_schema_marks_higher_is_better_is_judged_so(self):
        # rtt_p50_ns is a latency, but the file's schema is what the scripts go by.
        docs = []
        for src in (BASE, NEW):
            doc = read(src)
            doc["ipcmeter"]["schema"]["families"]["pingpong"]["counters"]["rtt_p50_ns"][
                "higher_is_better"] = True
            docs.append(write(os.path.join(self.tmp, os.path.basename(src)), doc))
        code, report, _ = judge(*docs)
        v = verdicts(report)
        self.assertEqual(v[(PP, "rtt_p50_ns")], "improved")
        self.assertEqual(v[(PP, "rtt_p99_ns")], "regressed")

    def test_ratio_to_floor_direction_is_per_family(self):
        code, report, _ = judge(BASE, NEW, "--metric", "ratio_to_floor")
        self.assertEqual(verdicts(report), {(PP, "ratio_to_floor"): "regressed",
                                            (ST, "ratio_to_floor"): "improved"})
        s = ir.load(BASE).schema
        self.assertIs(s.higher_is_better("pingpong", "ratio_to_floor"), False)
        self.assertIs(s.higher_is_better("stream", "ratio_to_floor"), True)

    def test_facts_are_not_judged(self):
        # window_msgs and floor_c2c_rtt_ns rose 20%: facts about the row, never a verdict.
        code, report, _ = judge(BASE, NEW, "--metric", "ratio_to_floor", "--metric", "window_msgs",
                                "--metric", "floor_c2c_rtt_ns")
        self.assertEqual(set(verdicts(report)), {(PP, "ratio_to_floor"), (ST, "ratio_to_floor")})
        kinds = {(nc["benchmark"], nc.get("metric")): nc["kind"] for nc in report["not_compared"]}
        # (each family describes its own facts; the other's, absent from its rows, are no row)
        self.assertEqual(kinds, {(PP, "floor_c2c_rtt_ns"): "not_a_measure",
                                 (ST, "window_msgs"): "not_a_measure"})
        # Facts alone: nothing to judge, said as such.
        code, report, err = judge(BASE, NEW, "--metric", "window_msgs")
        self.assertEqual((code, report), (2, None))
        self.assertIn("window_msgs is a fact of the row", err)
        self.assertIsNone(ir.load(BASE).schema.higher_is_better("stream", "window_msgs"))

    def test_a_malformed_schema_is_bad_input(self):
        doc = read(NEW)
        doc["ipcmeter"]["schema"]["families"]["stream"]["counters"]["window_msgs"][
            "higher_is_better"] = "sometimes"
        bad = write(os.path.join(self.tmp, "bad.json"), doc)
        code, report, err = judge(BASE, bad)
        self.assertEqual((code, report), (2, None))
        self.assertEqual(len(err.strip().splitlines()), 1)
        self.assertIn("ipcmeter.schema", err)
        self.assertIn("window_msgs", err)

    def test_a_newer_describe_version_is_refused(self):
        doc = read(NEW)
        doc["ipcmeter"]["schema"]["describe_version"] = 2
        code, report, err = judge(BASE, write(os.path.join(self.tmp, "v2.json"), doc))
        self.assertEqual((code, report), (2, None))
        self.assertIn("newer ipcmeter", err)

    def test_a_file_with_a_schema_never_asks_the_binary(self):
        broken = fake_binary(self.tmp, exit_code=1)
        code, report, err = judge(BASE, NEW, "--ipcmeter-bin", broken)
        self.assertEqual(code, 1, err)


class SchemasDisagree(unittest.TestCase):
    """NEW's schema decides what is judged and which way (gate.py's docstring)."""

    @classmethod
    def setUpClass(cls):
        cls.code, cls.report, cls.err = judge(BASE, NEWER)
        cls.ratio = judge(BASE, NEWER, "--metric", "ratio_to_floor")[1]

    def test_a_metric_newly_primary_is_new_not_missing(self):
        self.assertEqual(self.report["missing_metrics"], [])
        self.assertEqual(self.report["new_metrics"], [{"benchmark": PP, "metric": "rtt_p90_ns"}])

    def test_a_metric_no_longer_primary_is_not_judged(self):
        self.assertEqual(set(verdicts(self.report)), {(PP, "rtt_p50_ns"), (PP, "rtt_p99_ns"),
                                                      (ST, "bytes_per_second")})

    def test_news_direction_applies(self):
        # NEW calls pingpong's ratio_to_floor higher-is-better; BASE lower.
        self.assertEqual(verdicts(self.ratio), {(PP, "ratio_to_floor"): "improved",
                                                (ST, "ratio_to_floor"): "improved"})

    def test_the_differences_are_noted(self):
        notes = [n for n in self.report["notes"] if n.startswith("schemas differ")]
        self.assertEqual(len(notes), 3, notes)
        text = " | ".join(notes)
        self.assertIn("pingpong primary metrics rtt_p50_ns,rtt_p99_ns in BASE, "
                      "rtt_p50_ns,rtt_p99_ns,rtt_p90_ns in NEW", text)
        self.assertIn("pingpong ratio_to_floor: higher_is_better false in BASE, true in NEW", text)
        self.assertIn("stream primary metrics", text)

    def test_one_schema_notes_nothing(self):
        _, report, _ = judge(BASE, NEW)
        self.assertEqual([n for n in report["notes"] if n.startswith("schemas differ")], [])


class PreSchemaFiles(unittest.TestCase):
    """Files without ipcmeter.schema are read with the binary's --describe."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.saved_env = os.environ.pop("IPCMETER_BIN", None)
        self.saved_default = schema.DEFAULT_BINARY
        schema.DEFAULT_BINARY = os.path.join(self.tmp, "no-such-build", "ipcmeter")
        self.pre = []
        for src in (BASE, NEW):
            doc = read(src)
            self.describe = doc["ipcmeter"].pop("schema")
            self.pre.append(write(os.path.join(self.tmp, "pre-" + os.path.basename(src)), doc))

    def tearDown(self):
        schema.DEFAULT_BINARY = self.saved_default
        schema.use_binary(None)
        if self.saved_env is not None:
            os.environ["IPCMETER_BIN"] = self.saved_env

    def test_the_binarys_description_is_used(self):
        # The binary says rtt_p50_ns is higher-is-better: the verdict follows it.
        self.describe["families"]["pingpong"]["counters"]["rtt_p50_ns"]["higher_is_better"] = True
        binary = fake_binary(self.tmp, self.describe)
        code, report, err = judge(*self.pre, "--ipcmeter-bin", binary)
        self.assertEqual(verdicts(report)[(PP, "rtt_p50_ns")], "improved", err)
        self.assertEqual(report["new"]["schema"], "binary " + binary)
        self.assertEqual([n for n in report["notes"] if "pre-schema" in n], [])
        schema.use_binary(binary)
        self.assertEqual(ir.load(self.pre[0]).schema.source, "binary " + binary)

    def test_ipcmeter_bin_from_the_environment(self):
        self.describe["families"]["stream"]["primary"] = ["items_per_second"]
        os.environ["IPCMETER_BIN"] = fake_binary(self.tmp, self.describe)
        try:
            code, report, err = judge(*self.pre)
        finally:
            del os.environ["IPCMETER_BIN"]
        self.assertEqual({k for k in verdicts(report) if k[0] == ST}, {(ST, "items_per_second")})

    def test_a_named_binary_that_cannot_describe_is_bad_input(self):
        code, report, err = judge(*self.pre, "--ipcmeter-bin", fake_binary(self.tmp, exit_code=3))
        self.assertEqual((code, report), (2, None))
        self.assertEqual(len(err.strip().splitlines()), 1)
        self.assertIn("--describe exited 3", err)

    def test_without_any_binary_the_pre_schema_table(self):
        r = ir.load(self.pre[0])
        self.assertIs(r.schema, schema.PRE_SCHEMA)
        code, report, _ = judge(*self.pre)
        self.assertEqual(report["base"]["schema"], "pre-schema table")
        self.assertEqual(len([n for n in report["notes"] if "pre-schema table" in n]), 2)
        self.assertEqual(verdicts(report)[(PP, "rtt_p50_ns")], "regressed")
        self.assertEqual(verdicts(report)[(ST, "bytes_per_second")], "improved")


class ReportReadsTheSchema(unittest.TestCase):
    def run_report(self, *argv):
        import report
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = report.main([str(a) for a in argv])
        return code, err.getvalue()

    def test_a_file_with_a_schema(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "r")
            self.assertEqual(self.run_report(NEW, "-o", out)[0], 0)
            self.assertTrue(os.path.exists(os.path.join(out, "report.html")))

    def test_a_pre_schema_file_and_a_binary_that_cannot_describe(self):
        with tempfile.TemporaryDirectory() as tmp:
            pre = read(BASE)
            del pre["ipcmeter"]["schema"]
            out = os.path.join(tmp, "r")
            code, err = self.run_report(write(os.path.join(tmp, "pre.json"), pre), "-o", out,
                                        "--ipcmeter-bin", fake_binary(tmp, exit_code=1))
            schema.use_binary(None)
            self.assertEqual(code, 2)
            self.assertFalse(os.path.exists(out))
            self.assertEqual(len(err.strip().splitlines()), 1)
            self.assertIn("no ipcmeter.schema in the file", err)


class AbPassesTheBinaryOn(unittest.TestCase):
    def test_ipcmeter_bin_reaches_compare(self):
        import ab
        argv = ab.compare_argv(ab.build_parser().parse_args(
            ["--baseline", "a", "--candidate", "b", "--ipcmeter-bin", "/x/ipcmeter"]),
            "A.json", "B.json", tempfile.gettempdir())
        self.assertEqual(argv[argv.index("--ipcmeter-bin") + 1], "/x/ipcmeter")
        self.assertEqual(compare.build_parser().parse_args(argv).ipcmeter_bin, "/x/ipcmeter")


class TheRealBinary(unittest.TestCase):
    BINARY = os.environ.get("IPCMETER_BIN") or schema.DEFAULT_BINARY

    @unittest.skipUnless(os.access(BINARY, os.X_OK), "no ipcmeter build (ctest sets IPCMETER_BIN)")
    def test_the_committed_baseline_is_described_by_the_binary(self):
        self.assertNotIn("schema", read(BASELINE)["ipcmeter"])
        r = ir.load(BASELINE)
        self.assertTrue(r.schema.source.startswith("binary "), r.schema.source)
        # The pre-schema table judges the metrics it names the way the binary does (the
        # binary may add primaries; a direction of an old counter does not flip).
        for fam, metrics in schema.PRE_SCHEMA.primary.items():
            for m in metrics:
                self.assertIs(r.schema.higher_is_better(fam, m),
                              schema.PRE_SCHEMA.higher_is_better(fam, m), (fam, m))
        self.assertIs(r.schema.higher_is_better("stream", "ratio_to_floor"), True)
        self.assertIs(r.schema.higher_is_better("pingpong", "ratio_to_floor"), False)
        self.assertIs(r.schema.higher_is_better("compute", "speedup_min"), True)
        self.assertIsNone(r.schema.higher_is_better("pool", "tasks"))


if __name__ == "__main__":
    unittest.main()
