"""The report's CPython section (scripts/ipcmeter/cpython.py) on a hand-made file read through
the real schema (the binary's --describe, stored as the file's ipcmeter.schema, with the
py_* families the issue's table adds where the binary does not describe them yet): the Python
tax on known numbers, a missing or spinning-only analogue said as such, verdicts only beyond
the noise ("no measurable difference" when the interval includes 1, "inconclusive" with one
repetition), errored rows listed with their reason, absent families naming the rows they need."""

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(ROOT, "scripts")
sys.path.insert(0, SCRIPTS)
from ipcmeter import cpython as cp  # noqa: E402
from ipcmeter import results as ir  # noqa: E402
from ipcmeter import rules as rc  # noqa: E402
from ipcmeter import schema as sc  # noqa: E402

BASE = os.path.join(ROOT, "tests", "fixtures", "results-full.json")
PY = "python:3.11.2"
# The table for the CPython families not built yet: keys, and the native family whose
# counters they carry ("as the native family of the same name").
PLANNED = {"py_pool": (["executor", "peer", "task_us", "chunk", "python"], "pool"),
           "py_compute": (["kernel", "peer", "workers", "python"], "compute"),
           "py_sync": (["primitive", "peer", "parties", "python"], "sync"),
           "py_state": (["access", "peer", "workers", "python"], "state")}
ERROR = "Manager() failed: [Errno 24] Too many open files"


def describe():
    """The binary's --describe plus the planned families it does not describe yet."""
    binary, _ = sc.binary_path()
    d = copy.deepcopy(sc.describe_of(binary).raw)
    for fam, (keys, native) in PLANNED.items():
        if fam not in d["families"]:
            nat = d["families"][native]
            counters = dict(nat["counters"], **({"lost_updates": {"higher_is_better": False}}
                                                if fam == "py_state" else {}))
            d["families"][fam] = {"keys": [{"name": k} for k in keys], "counters": counters,
                                  "primary": list(nat["primary"])}
            d["family_order"].append(fam)
    return d


def rows(name, metric, values, error=None, **more):
    """One benchmark: a row per repetition with `metric` = each value (an error row when
    `error`)."""
    out = []
    for i, v in enumerate(values or [0]):
        b = {"name": name + "/manual_time", "run_name": name + "/manual_time", "run_type": "iteration",
             "repetitions": len(values or [0]), "repetition_index": i, "threads": 1, "iterations": 1,
             "real_time": 1000.0, "cpu_time": 1000.0, "time_unit": "ns"}
        if error:
            b.update(error_occurred=True, error_message=error)
        else:
            b.update({metric: v, **more})
        out.append(b)
    return out


def py(fam, params, metric, values, **kw):
    return rows(f"{fam}/{params}/{PY}/iterations:1", metric, values, **kw)


CLEAR_Q = [30000, 31000, 32000, 30500, 31500]       # Queue, fork, 64 B
CLEAR_P = [20000, 20400, 20800, 20200, 20600]       # Pipe, fork, 64 B: clearly faster
SAME_Q = [20000, 26000, 23000, 21000, 25000]        # Queue, spawn, 64 B
SAME_P = [21000, 25500, 22500, 24000, 20500]        # Pipe, spawn, 64 B: overlapping
NATIVE_PIPE = [5000, 5100, 5200]


def benchmarks():
    b = []
    b += py("py_pingpong", "channel:Queue/peer:fork/size:64", "rtt_p50_ns", CLEAR_Q)
    b += py("py_pingpong", "channel:Pipe/peer:fork/size:64", "rtt_p50_ns", CLEAR_P)
    b += py("py_pingpong", "channel:Queue/peer:spawn/size:64", "rtt_p50_ns", SAME_Q)
    b += py("py_pingpong", "channel:Pipe/peer:spawn/size:64", "rtt_p50_ns", SAME_P)
    b += py("py_pingpong", "channel:Queue/peer:fork/size:65536", "rtt_p50_ns", [90000])
    b += py("py_pingpong", "channel:Pipe/peer:fork/size:65536", "rtt_p50_ns", [60000])
    b += py("py_pingpong", "channel:shared_memory/peer:fork/size:64", "rtt_p50_ns", [12000, 12100, 12200])
    b += py("py_pingpong", "channel:Manager_Queue/peer:fork/size:64", "rtt_p50_ns", [200000])
    b += py("py_pingpong", "channel:Pipe_bytes/peer:spawn/size:64", "rtt_p50_ns", [8000, 8100, 8200, 7900])
    b += py("py_pingpong", "channel:Pipe_simplex/peer:fork/size:64", "rtt_p50_ns", [], error=ERROR)
    b += py("py_stream", "channel:Queue/peer:fork/size:64", "bytes_per_second", [40000 * 64, 41000 * 64, 42000 * 64])
    b += rows("pingpong/transport:pipe/peer:fork/size:64", "rtt_p50_ns", NATIVE_PIPE)
    b += rows("pingpong/transport:pipe/peer:fork/size:65536", "rtt_p50_ns", [15000])
    # socketpair at spawn equals Pipe_bytes within the noise; none at fork (Pipe's analogue).
    b += rows("pingpong/transport:socketpair/peer:spawn/size:64", "rtt_p50_ns", [8050, 7950, 8150, 8000])
    b += rows("pingpong/transport:shm_ring/peer:fork/size:64/wait:spin", "rtt_p50_ns", [180, 181, 182])
    b += rows("pingpong/transport:shm_ring/peer:fork/size:64/wait:block", "rtt_p50_ns", [4000, 4000, 4000])
    b += rows("stream/transport:pipe/peer:fork/size:64", "bytes_per_second", [400000 * 64, 410000 * 64, 420000 * 64])
    for peer, ready in (("fork", [5e6, 5.1e6, 5.2e6]), ("spawn", [40e6, 41e6, 42e6]),
                        ("forkserver", [9e6, 9.1e6, 9.2e6])):
        b += py("py_spawn", f"peer:{peer}/rss_mib:1", "ready_p50_ns", ready)
    for method, ready in (("fork", [90e3, 91e3, 92e3]), ("posix_spawn_self", [400e3, 410e3, 420e3]),
                          ("fork_exec_self", [900e3, 910e3, 920e3]), ("forkserver", [300e3, 300e3, 300e3])):
        b += rows(f"spawn/method:{method}/rss_mib:1/iterations:1", "ready_p50_ns", ready)
    # The GIL: pure Python threads do not speed up, processes do, up to the 4 CPUs.
    for peer, by_w in (("thread", {1: [1, 1, 1], 2: [0.98, 1.0, 0.99], 4: [0.97, 0.98, 0.99]}),
                       ("fork", {1: [1, 1, 1], 2: [1.90, 1.95, 1.92], 4: [3.6, 3.7, 3.65],
                                 8: [3.62, 3.66, 3.7]})):
        for w, v in by_w.items():
            b += py("py_compute", f"kernel:pure/peer:{peer}/workers:{w}", "speedup", v)
    # Tasks of 10 µs: the 5% line is 500 ns; chunk 16 is the first measurably under it.
    for chunk, over in ((1, [5000, 5100, 5200]), (4, [480, 520, 500]), (16, [300, 310, 320]),
                        (64, [100, 110, 120])):
        b += py("py_pool", f"executor:Pool_map/peer:fork/task_us:10/chunk:{chunk}", "overhead_ns_per_task", over)
    b += rows("pool/executor:process_pool_pipe/task_us:10/chunk:16", "overhead_ns_per_task", [30, 31, 32])
    b += py("py_state", "access:Manager_Value/peer:fork/workers:2", "ns_per_op", [50000, 51000, 52000])
    b += rows("state/access:proxy/peer:fork/workers:2", "ns_per_op", [10000, 10000, 10000])
    return b


class CPythonSectionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        binary, _ = sc.binary_path()
        if not os.access(binary, os.X_OK):
            raise unittest.SkipTest(f"needs the binary's --describe ({binary}; set IPCMETER_BIN)")
        cls.tmp = tempfile.mkdtemp()
        with open(BASE) as f:
            d = json.load(f)
        d["benchmarks"] = benchmarks()
        d["ipcmeter"]["schema"] = describe()
        d["ipcmeter"]["env"]["logical_cpus"] = 4
        d["ipcmeter"]["python"] = [
            {"path": "/usr/bin/python3", "name": "3.11.2", "executable": "/usr/bin/python3.11",
             "version": "3.11.2", "implementation": "CPython", "gil_enabled": True, "timer_ns": 45.0,
             "error": None},
            {"path": "/opt/none/python3", "name": "none", "error": "no such file"}]
        cls.path = os.path.join(cls.tmp, "py.json")
        with open(cls.path, "w") as f:
            json.dump(d, f)
        cls.r = ir.load(cls.path)
        cls.section = cp.cpython_section(cls.r)
        _, facts = cp.tax_table(cls.r)
        cls.facts = {f["python"]: f for f in facts}
        cls.table = {row[0]: row for row in cls.section["tax"][1:]}
        cls.answers = dict(cls.section["answers"])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def base(self, fam, params):
        return f"{fam}/{params}/{PY}"

    def test_tax_on_known_numbers(self):
        q = self.base("py_pingpong", "channel:Queue/peer:fork/size:64")
        self.assertEqual(self.facts[q]["native"], "pingpong/transport:pipe/peer:fork/size:64")
        self.assertAlmostEqual(self.facts[q]["ratio"], 31000 / 5100)
        self.assertTrue(self.table[q][4].startswith("6.08× (95% interval "), self.table[q][4])
        # A stream's tax is the native rate over the Python rate.
        s = self.base("py_stream", "channel:Queue/peer:fork/size:64")
        self.assertAlmostEqual(self.facts[s]["ratio"], 410000 / 41000)
        self.assertIn("native rate ÷ Python rate", self.table[s][4])
        # Weighed by the first primary metric of py_stream in the file's schema.
        self.assertTrue(self.table[s][1].startswith("bytes_per_second 2.62 MB/s"), self.table[s][1])

    def test_analogues_of_the_same_kind(self):
        shm = self.base("py_pingpong", "channel:shared_memory/peer:fork/size:64")
        self.assertEqual(self.facts[shm]["native"], "pingpong/transport:shm_ring/peer:fork/size:64/wait:block")
        self.assertAlmostEqual(self.facts[shm]["ratio"], 12100 / 4000)
        for peer, method in (("fork", "fork"), ("spawn", "posix_spawn_self"), ("forkserver", "forkserver")):
            self.assertEqual(self.facts[self.base("py_spawn", f"peer:{peer}/rss_mib:1")]["native"],
                             f"spawn/method:{method}/rss_mib:1")
        self.assertAlmostEqual(self.facts[self.base("py_spawn", "peer:spawn/rss_mib:1")]["ratio"], 41e6 / 410e3)
        self.assertEqual(self.facts[self.base("py_pool", "executor:Pool_map/peer:fork/task_us:10/chunk:16")]["native"],
                         "pool/executor:process_pool_pipe/task_us:10/chunk:16")
        self.assertAlmostEqual(self.facts[self.base("py_state", "access:Manager_Value/peer:fork/workers:2")]["ratio"],
                               5.1)
        self.assertIn("posix_spawn_self", " ".join(self.section["notes"]))

    def test_missing_analogue_says_so(self):
        pipe = self.base("py_pingpong", "channel:Pipe/peer:fork/size:64")
        self.assertEqual(self.table[pipe][2:], ["missing: no pingpong/transport:socketpair/peer:fork/size:64 "
                                                "row in this run", "—", "—"])
        mq = self.base("py_pingpong", "channel:Manager_Queue/peer:fork/size:64")
        self.assertTrue(self.table[mq][2].startswith("none: a proxy to a manager process"))
        # Chunk 4 has no native pool row at all.
        p4 = self.base("py_pool", "executor:Pool_map/peer:fork/task_us:10/chunk:4")
        self.assertIn("no pool/executor:process_pool_pipe/task_us:10/chunk:4 row", self.table[p4][2])

    def test_tax_within_the_noise_is_no_measurable_difference(self):
        pb = self.base("py_pingpong", "channel:Pipe_bytes/peer:spawn/size:64")
        self.assertIn("no measurable difference", self.table[pb][4])
        # One repetition: a ratio, no interval, and no claim of a difference.
        q = self.base("py_pingpong", "channel:Queue/peer:fork/size:65536")
        self.assertEqual(self.table[q][4], "6.00× (n=1 vs n=1: no interval; a spread needs 3 repetitions of each)")

    def test_queue_or_pipe_only_beyond_the_noise(self):
        lines = self.answers["Queue or Pipe?"]
        fork64 = next(x for x in lines if x.startswith("Between fork processes at 64 B"))
        self.assertIn("-> use Pipe, 1.52× faster than Queue (95% interval", fork64)
        spawn64 = next(x for x in lines if x.startswith("Between spawn processes at 64 B"))
        self.assertIn("-> no measurable difference (ratio", spawn64)
        c = rc.Comparison(rc.Option("Pipe", SAME_P), rc.Option("Queue", SAME_Q), False)
        self.assertLessEqual(c.ci[0], 1.0)
        self.assertGreaterEqual(c.ci[1], 1.0)
        fork64k = next(x for x in lines if x.startswith("Between fork processes at 64 KiB"))
        self.assertIn("-> inconclusive (n=1 vs n=1", fork64k)
        self.assertIn(rc.DECIDE_HINT, fork64k)
        self.assertNotIn("use ", fork64k)

    def test_start_method(self):
        (line,) = self.answers["Which start method at your memory size?"]
        self.assertTrue(line.startswith("At 1 MiB parent memory, Process.start() -> the child's first "
                                        "message: fork, 5.10 ms"), line)
        self.assertTrue(line.endswith("-> use fork."), line)
        (at,) = cp.start_method(self.r, 4096)
        self.assertIn("outside the measured range", at)

    def test_the_gil(self):
        lines = self.answers["Threads or processes for CPU-bound pure Python (the GIL)?"]
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].startswith("CPU-bound pure Python (the GIL held) — pure: processes scale "
                                            "better here: threads 0.98× (median of n=3"), lines[0])
        self.assertIn("with 4 workers on 4 CPUs", lines[0])

    def test_how_many_processes(self):
        (line,) = self.answers["How many processes on this many cores?"]
        self.assertTrue(line.startswith("pure, fork processes on 4 CPUs: 4 workers, speedup 3.65× "), line)
        self.assertIn("more add no measurable speedup (the highest, 8 workers: 3.66×", line)

    def test_chunksize(self):
        (line,) = self.answers["What chunksize makes Pool.map's overhead negligible?"]
        self.assertTrue(line.startswith("Pool.map, fork workers, tasks of 10 µs: chunksize 16 is the "
                                        "smallest measured that makes the overhead negligible: 310 ns"), line)

    def test_errored_rows_listed_with_their_reason(self):
        self.assertEqual(self.section["errors"],
                         [f"{self.base('py_pingpong', 'channel:Pipe_simplex/peer:fork/size:64')}: {ERROR}"])
        self.assertNotIn(self.base("py_pingpong", "channel:Pipe_simplex/peer:fork/size:64"), self.table)

    def test_interpreters_head_the_section(self):
        self.assertEqual(self.section["interpreters"],
                         ["3.11.2: /usr/bin/python3.11 (CPython 3.11.2, GIL enabled, perf_counter_ns costs 45.0 ns)",
                          "none: /opt/none/python3: cannot run: no such file"])

    def test_absent_family_names_the_rows_it_needs(self):
        d = ir.load(self.path)
        d.records = [x for x in d.records if x.family != "py_pool"]
        (line,) = cp.pool_chunksize(d)
        self.assertEqual(line, "no py_pool rows in this run: this answer needs py_pool rows of executor "
                               "Pool_map at several chunk values for one task_us")

    def test_no_python_rows_no_section(self):
        d = ir.load(self.path)
        d.records = [x for x in d.records if not x.family.startswith("py_")]
        d.meta = {k: v for k, v in d.meta.items() if k != "python"}
        self.assertIsNone(cp.cpython_section(d))

    def test_report_has_the_section(self):
        out = os.path.join(self.tmp, "rep")
        p = subprocess.run([sys.executable, os.path.join(SCRIPTS, "report.py"), self.path, "-o", out],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(out, "summary.md"), encoding="utf-8") as f:
            md = f.read()
        with open(os.path.join(out, "report.html"), encoding="utf-8") as f:
            page = f.read()
        for text in ("## CPython — ", "### The Python tax", "### Python rows that cannot run", ERROR):
            self.assertIn(text, md)
        for text in ("<h2>CPython — ", "<h3>Queue or Pipe?</h3>", "Too many open files"):
            self.assertIn(text, page)


if __name__ == "__main__":
    unittest.main()
