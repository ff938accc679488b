"""Tests for scripts/ipcmeter/results.py (the loader) and names.py against the fixtures in tests/fixtures."""

import json
import lzma
import os
import statistics
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from ipcmeter import names, schema  # noqa: E402
from ipcmeter import results as ir  # noqa: E402

FIX = os.path.join(ROOT, "tests", "fixtures")


def fixture(name):
    return os.path.join(FIX, name)


class ParseNameTest(unittest.TestCase):
    # The keys the binary's schema gives each family (the pre-schema table has the same ones).
    KEYS = schema.PRE_SCHEMA

    def test_family_keys_become_fields(self):
        fam, params, extra = names.parse_name(
            "pingpong/transport:shm_ring/peer:fork/size:64/wait:spin/manual_time", self.KEYS)
        self.assertEqual(fam, "pingpong")
        self.assertEqual(params, {"transport": "shm_ring", "peer": "fork", "size": 64, "wait": "spin"})
        self.assertEqual(extra, ["manual_time"])
        self.assertIsInstance(params["size"], int)

    def test_gb_segments_and_aggregate_suffix_ignored(self):
        fam, params, extra = names.parse_name(
            "stream/transport:pipe/peer:thread/size:4096/repeats:3/threads:2/real_time_median",
            self.KEYS)
        self.assertEqual(params, {"transport": "pipe", "peer": "thread", "size": 4096})
        self.assertEqual(extra, ["repeats:3", "threads:2", "real_time", "_median"])
        _, params, extra = names.parse_name("spawn/method:fork/rss_mib:64_cv", self.KEYS)
        self.assertEqual(params, {"method": "fork", "rss_mib": 64})
        self.assertEqual(extra, ["_cv"])

    def test_every_contract_family(self):
        cases = {
            "fanin/transport:pipe/peer:fork/producers:4/consumers:1/size:64": 5,
            "compute/kernel:cpu/peer:thread/workers:8": 3,
            "pool/executor:thread_pool/task_us:10/chunk:1": 3,
            "sync/primitive:barrier/peer:fork/parties:4": 3,
            "state/access:padded/peer:thread/workers:2": 3,
            "floor/probe:c2c_rtt": 1,
        }
        for name, n in cases.items():
            fam, params, extra = names.parse_name(name + "/iterations:100", self.KEYS)
            self.assertEqual(list(params), list(self.KEYS.keys(fam)))
            self.assertEqual(len(params), n)
            self.assertEqual(extra, ["iterations:100"])

    def test_unknown_family_keeps_its_keys(self):
        fam, params, extra = names.parse_name("newfam/alpha:1/beta:x/min_time:0.1", self.KEYS)
        self.assertEqual((fam, params, extra), ("newfam", {"alpha": 1, "beta": "x"}, ["min_time:0.1"]))


class LoadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.full = ir.load(fixture("results-full.json"))
        cls.partial = ir.load(fixture("results-partial.json"))

    def test_metadata(self):
        r = self.full
        self.assertEqual(r.host, "fixture-a")
        self.assertEqual(r.date, "2026-11-20T10:00:00+00:00")
        self.assertEqual(r.profile, "quick")
        self.assertEqual(r.env["logical_cpus"], 4)
        self.assertEqual(r.floors["c2c_rtt_ns"], 120.0)
        self.assertEqual(r.transport_kind("posix_mq"), "queue")
        self.assertIsNone(r.transport_kind("nonesuch"))
        self.assertEqual(set(r.families()), set(r.schema.family_keys))

    def test_repetitions_and_aggregates(self):
        base = "pingpong/transport:shm_ring/peer:thread/size:64/wait:spin"
        reps = self.full.benchmarks()[base]
        self.assertEqual([x.repetition_index for x in reps], [0, 1, 2])
        self.assertTrue(all(x.run_type == "iteration" for x in reps))
        aggs = self.full.aggregates(base)
        self.assertEqual(set(aggs), {"mean", "median", "stddev", "cv"})
        self.assertEqual(aggs["mean"].base_name, base)
        self.assertEqual(self.full.summary("rtt_p50_ns")[base], 150.0)
        self.assertAlmostEqual(self.full.cv("rtt_p50_ns")[base], aggs["cv"].metrics["rtt_p50_ns"])
        # aggregates are not benchmarks of their own
        self.assertFalse(any(k.endswith(("_mean", "_cv")) for k in self.full.benchmarks()))

    def test_metrics_and_time_normalised_to_ns(self):
        base = "pingpong/transport:pipe/peer:thread/size:4096"
        full = self.full.benchmarks()[base][0]
        part = self.partial.benchmarks()[base][0]   # the partial fixture is in microseconds
        self.assertEqual(full.metrics.keys() - {"ratio_to_floor"} >= {"rtt_p50_ns", "real_time_ns",
                                                                      "cpu_time_ns", "iterations"}, True)
        self.assertAlmostEqual(part.metrics["real_time_ns"], full.metrics["real_time_ns"], places=3)
        spawn = self.full.benchmarks()["spawn/method:fork/rss_mib:64"][0]
        self.assertAlmostEqual(spawn.metrics["real_time_ns"], 2 * 720e3, places=1)

    def test_errors_kept(self):
        errors = self.full.errors()
        self.assertIn("spawn/method:forkserver/rss_mib:64", errors)
        self.assertIn("not offered", errors["spawn/method:forkserver/rss_mib:64"])
        self.assertNotIn("spawn/method:forkserver/rss_mib:64", self.full.summary("ready_p50_ns"))
        self.assertIn("spawn/method:forkserver/rss_mib:64", self.full.benchmarks())
        self.assertFalse(self.full.all_errored())
        self.assertTrue(ir.load(fixture("results-all-errored.json")).all_errored())

    def test_noise(self):
        self.assertEqual(self.full.noisy(), [])
        self.assertEqual(list(self.full.noisy_benchmarks()), ["pingpong/transport:pipe/peer:fork/size:64"])
        self.assertEqual(len(self.partial.noisy()), 1)   # the warning; drift already named in it
        self.assertAlmostEqual(self.partial.floor_drift()["c2c_rtt_ns"], 0.35)

    def test_a_real_run(self):
        """What the binary writes, not what make_fixtures.py imitates: the excerpt of the
        reference baseline in results-example.json (ten repetitions with their aggregates,
        /manual_time names, a floor probe, an errored row)."""
        path = fixture("results-example.json")
        r = ir.load(path)
        with open(path) as f:
            doc = json.load(f)
        raw = doc["benchmarks"]
        base = "pingpong/transport:shm_ring/peer:fork/size:64/wait:spin"
        p50s = [b["rtt_p50_ns"] for b in raw
                if b["name"] == base + "/manual_time" and b["run_type"] == "iteration"]
        self.assertEqual(len(p50s), 10)
        self.assertEqual([x.repetition_index for x in r.benchmarks()[base]], list(range(10)))
        self.assertEqual(r.summary("rtt_p50_ns")[base], statistics.median(p50s))
        self.assertEqual(set(r.aggregates(base)), {"mean", "median", "stddev", "cv"})
        self.assertIn("floor/probe:c2c_rtt", r.benchmarks())
        self.assertEqual(list(r.errors()), ["pingpong/transport:posix_mq/peer:thread/size:65536"])
        self.assertIn("posix_mq's limit", r.errors()["pingpong/transport:posix_mq/peer:thread/size:65536"])
        self.assertEqual(r.placement, doc["ipcmeter"]["placement"])
        self.assertEqual(r.env, doc["ipcmeter"]["env"])

    def test_constants(self):
        self.assertEqual(schema.SCHEMA_VERSION, 1)
        s = self.full.schema
        self.assertEqual(s.primary_metrics("pingpong"), ["rtt_p50_ns", "rtt_p99_ns"])
        self.assertIs(s.higher_is_better("compute", "speedup"), True)
        self.assertIs(s.higher_is_better("pingpong", "rtt_p50_ns"), False)


class BadInputTest(unittest.TestCase):
    def assertBad(self, path, *words):
        with self.assertRaises(ir.ResultsError) as cm:
            ir.load(path)
        msg = str(cm.exception)
        self.assertNotIn("\n", msg)
        self.assertIn(path, msg)
        for w in words:
            self.assertIn(w, msg)
        return msg

    def test_fixtures(self):
        self.assertBad(fixture("bad-empty.json"), "empty")
        self.assertBad(fixture("bad-truncated.json"), "invalid JSON at line", "truncated")
        self.assertBad(fixture("bad-not-ipcmeter.json"), "not an ipcmeter results file")
        self.assertBad(fixture("bad-newer-schema.json"), "newer ipcmeter", "schema_version 2")
        self.assertBad(fixture("no-such-file.json"), "no such file")
        self.assertBad(FIX, "directory")

    def _write(self, text):
        fd, path = tempfile.mkstemp(suffix=".json")
        with os.fdopen(fd, "wb") as f:
            f.write(text if isinstance(text, bytes) else text.encode("utf-8"))
        self.addCleanup(os.remove, path)
        return path

    def test_hostile(self):
        self.assertBad(self._write("[" * 100000 + "]" * 100000), "nested too deeply")
        with open(fixture("results-full.json")) as f:
            doc = json.load(f)
        doc["benchmarks"][0]["real_time"] = "__BIG__"
        text = json.dumps(doc)
        self.assertBad(self._write(text.replace('"__BIG__"', "1e999")), "out of range")
        self.assertBad(self._write(text.replace('"__BIG__"', "9" * 5000)), "number")
        self.assertBad(self._write('{"benchmarks": []}'), "not an ipcmeter")
        self.assertBad(self._write('{"ipcmeter": {"schema_version": 1}}'), "benchmarks")
        self.assertBad(self._write('{"benchmarks": [], "ipcmeter": {}}'), "schema_version")
        self.assertBad(self._write('{"benchmarks": [7], "ipcmeter": {"schema_version": 1}}'),
                       "benchmarks[0]")
        self.assertBad(self._write(b"\xff\xfe{}"), "UTF-8")

    def test_xz_compressed(self):
        """gate_trials.py keeps its trials' files xz-compressed: they load as the plain
        file does, and damaged xz data is one line, not a traceback."""
        with open(fixture("results-full.json"), "rb") as f:
            data = lzma.compress(f.read())
        loaded = ir.load(self._write(data))
        self.assertEqual([(r.name, r.metrics) for r in loaded.records],
                         [(r.name, r.metrics) for r in ir.load(fixture("results-full.json")).records])
        self.assertBad(self._write(data[:len(data) // 2]), "damaged xz data")
        self.assertBad(self._write(lzma.compress(b"")), "empty")


if __name__ == "__main__":
    unittest.main()
