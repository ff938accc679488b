"""Tests of scripts/ipcmeter/ as a package: every module imports, the commands share its one
loader, name parser, atomic writer and bad-input rule, and the atomic writer leaves either
the whole new output or the old one."""

import importlib
import os
import pkgutil
import re
import shutil
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(ROOT, "scripts")
sys.path.insert(0, SCRIPTS)

import ab  # noqa: E402
import compare  # noqa: E402
import gate_trials  # noqa: E402
import ipcmeter  # noqa: E402
import report  # noqa: E402
from ipcmeter import atomic, cli, names, plots, results, schema  # noqa: E402

COMMANDS = {"report.py": report, "compare.py": compare, "ab.py": ab,
            "gate_trials.py": gate_trials}


def package_modules():
    return sorted(m.name for m in pkgutil.walk_packages(ipcmeter.__path__, "ipcmeter."))


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


class Package(unittest.TestCase):
    def test_every_module_imports(self):
        found = package_modules()
        for name in ("ipcmeter.schema", "ipcmeter.names", "ipcmeter.results",
                     "ipcmeter.atomic", "ipcmeter.plots.common", "ipcmeter.writers.html"):
            self.assertIn(name, found)
        for name in found:
            with self.subTest(module=name):
                importlib.import_module(name)

    def test_every_plot_module_is_registered_and_complete(self):
        on_disk = {m.name for m in pkgutil.iter_modules(plots.__path__)} - {"common"}
        self.assertEqual(on_disk, set(plots.PLOTS))
        # A plot draws a family some binary describes: one of the frozen pre-schema table, or
        # one added since, which only the build's --describe knows (load).
        known = set(schema.PRE_SCHEMA.family_keys)
        no_binary = None
        try:
            known |= set(schema.describe_of(schema.binary_path()[0]).family_keys)
        except schema.SchemaError as e:
            no_binary = str(e)
        for name in plots.PLOTS:
            mod = plots.MODULES[name]
            with self.subTest(plot=name):
                self.assertTrue(mod.TITLE and mod.CAPTION)
                self.assertTrue(callable(mod.plot))
                # Without a binary to describe them, the families added since the frozen
                # table cannot be checked: skipped with the reason, not failed.
                if mod.FAMILY not in known and no_binary:
                    self.skipTest("family %r: no binary to describe it (%s); build it or set "
                                  "IPCMETER_BIN" % (mod.FAMILY, no_binary))
                self.assertIn(mod.FAMILY, known)

    def test_pre_schema_table_is_whole(self):
        pre = schema.PRE_SCHEMA
        self.assertEqual(set(pre.primary), set(pre.family_keys))
        self.assertTrue(pre.higher_is_better("stream", "bytes_per_second"))
        self.assertTrue(pre.higher_is_better("stream", "ratio_to_floor"))
        self.assertFalse(pre.higher_is_better("pingpong", "ratio_to_floor"))
        self.assertFalse(pre.higher_is_better("pingpong", "rtt_p50_ns"))
        # undescribed counters: a rate by name, else a time
        self.assertTrue(pre.higher_is_better("sync", "messages_per_second"))
        self.assertFalse(pre.higher_is_better("sync", "cpu_time_ns"))

    def test_no_module_longer_than_600_lines(self):
        for dirpath, _, files in os.walk(SCRIPTS):
            for f in files:
                if f.endswith(".py"):
                    path = os.path.join(dirpath, f)
                    with self.subTest(file=os.path.relpath(path, ROOT)):
                        self.assertLessEqual(read(path).count("\n"), 600)


class OneOfEach(unittest.TestCase):
    """The commands use the package's one copy of each shared helper."""

    def test_one_loader_and_one_parser_of_names(self):
        for prog, mod in COMMANDS.items():
            with self.subTest(command=prog):
                self.assertIs(mod.load, results.load)
                self.assertIs(mod.ResultsError, results.ResultsError)
        self.assertIs(results.parse_name, names.parse_name)
        self.assertIs(results.base_name_of, names.base_name_of)

    def test_one_argument_parser_rule(self):
        self.assertIs(report.ArgumentParser, cli.ArgumentParser)
        for mod in (compare, ab, gate_trials):
            with self.subTest(command=mod.PROG):
                self.assertIsInstance(mod.build_parser(), cli.ArgumentParser)

    def test_one_atomic_writer(self):
        self.assertIs(compare.atomic, atomic)
        self.assertIs(ab.atomic, atomic)
        self.assertIs(report.atomic, atomic)
        self.assertIs(gate_trials.write_json, atomic.write_json)

    def test_no_copies_in_the_sources(self):
        """Writing files, parsing names and reading results stay in their one module each;
        nothing outside the loader touches its private names."""
        owners = {r"\bmkstemp\(|\bmkdtemp\(|\bos\.replace\(|\bos\.rename\(": {"atomic.py"},
                  r"^def (parse_name|base_name_of|strip_aggregate)\b": {"names.py"},
                  # gate_trials.py and trial_store.py read trials' plans and records,
                  # schema.py the binary's --describe; none reads results files.
                  r"\bjson\.loads?\(": {"results.py", "gate_trials.py", "trial_store.py",
                                          "schema.py"},
                  r"^class ArgumentParser\b": {"cli.py"},
                  # A child that dies with its script is armed in one place.
                  r"\bprctl\(": {"children.py"}}
        for dirpath, _, files in os.walk(SCRIPTS):
            for f in files:
                if not f.endswith(".py"):
                    continue
                path = os.path.join(dirpath, f)
                text = read(path)
                rel = os.path.relpath(path, SCRIPTS)
                for pattern, owner in owners.items():
                    if f in owner:
                        continue
                    with self.subTest(file=rel, pattern=pattern):
                        self.assertIsNone(re.search(pattern, text, re.M))
                with self.subTest(file=rel, what="private loader names"):
                    self.assertIsNone(re.search(r"\b(ir|results)\._[a-z]", text))


class AtomicWrites(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def write(self, name, text):
        with open(self.path(name), "w", encoding="utf-8") as f:
            f.write(text)

    def test_files_text_and_bytes(self):
        atomic.write_files({self.path("a.md"): "ä\n", self.path("b.bin"): b"\x00\xff"})
        self.assertEqual(read(self.path("a.md")), "ä\n")
        with open(self.path("b.bin"), "rb") as f:
            self.assertEqual(f.read(), b"\x00\xff")
        self.assertEqual(sorted(os.listdir(self.tmp)), ["a.md", "b.bin"])

    def test_a_failure_changes_no_file_and_leaves_no_temporary(self):
        self.write("a.md", "old a")
        # The second output cannot be written (not text, not bytes): the first must not
        # have replaced its old copy either.
        with self.assertRaises(TypeError):
            atomic.write_files({self.path("a.md"): "new a", self.path("b.md"): 12345})
        self.assertEqual(read(self.path("a.md")), "old a")
        self.assertEqual(os.listdir(self.tmp), ["a.md"])

    def test_a_missing_directory_changes_no_file(self):
        self.write("a.md", "old a")
        with self.assertRaises(OSError):
            atomic.write_files({self.path("a.md"): "new a", self.path("no", "b.md"): "b"})
        self.assertEqual(read(self.path("a.md")), "old a")
        self.assertEqual(os.listdir(self.tmp), ["a.md"])

    def test_json(self):
        atomic.write_json(self.path("x.json"), {"a": [1]})
        self.assertEqual(read(self.path("x.json")), '{\n "a": [\n  1\n ]\n}\n')

    def test_dir_created_whole(self):
        out = self.path("report")
        atomic.write_dir(out, {"report.html": b"<p>", "summary.md": b"#"})
        self.assertEqual(sorted(os.listdir(out)), ["report.html", "summary.md"])
        self.assertEqual(os.listdir(self.tmp), ["report"])

    def test_dir_replaced_and_stale_files_removed(self):
        out = self.path("report")
        atomic.write_dir(out, {"report.html": b"old", "a.png": b"old", "keep.txt": b"mine"})
        atomic.write_dir(out, {"report.html": b"new"}, stale=["a.png", "b.png"])
        self.assertEqual(sorted(os.listdir(out)), ["keep.txt", "report.html"])
        self.assertEqual(read(os.path.join(out, "report.html")), "new")
        self.assertEqual(os.listdir(self.tmp), ["report"])

    def test_dir_failure_keeps_the_old_report(self):
        out = self.path("report")
        atomic.write_dir(out, {"report.html": b"old"})
        with self.assertRaises(OSError):
            atomic.write_dir(out, {"report.html": b"new", "no/such.png": b"x"})
        self.assertEqual(read(os.path.join(out, "report.html")), "old")
        self.assertEqual(os.listdir(self.tmp), ["report"])

    def test_output_path_problem(self):
        self.assertIsNone(atomic.output_path_problem(self.path("x.md"), "--markdown"))
        self.assertEqual(atomic.output_path_problem(self.tmp, "--json"),
                         "--json %s: is a directory" % self.tmp)
        self.assertIn("does not exist",
                      atomic.output_path_problem(self.path("no", "x.md"), "--markdown"))


if __name__ == "__main__":
    unittest.main()
