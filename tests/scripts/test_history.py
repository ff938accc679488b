"""scripts/history.py: trends across revisions with change points (issue 17, part 3).

The series are built here from a fixture's ipcmeter.schema (so the primary metrics are the
schema's, not a list of this test's) with a known injected step and seeded noise: the step is
found at its revision with its size; pure noise, over several seeds, gives no step."""
import copy
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SCRIPTS = os.path.join(REPO, "scripts")
FIXTURES = os.path.join(REPO, "tests", "fixtures")
PY = "/usr/bin/python3"
sys.path.insert(0, SCRIPTS)
from ipcmeter import history as hi  # noqa: E402
from ipcmeter.results import load  # noqa: E402

with open(os.path.join(FIXTURES, "schema", "base.json")) as f:
    TEMPLATE = json.load(f)
SCHEMA = TEMPLATE["ipcmeter"]["schema"]
# Benchmarks of the fixture's families, each with the family's primary metrics (the schema's).
BENCHES = {"pingpong/transport:shm_ring/peer:thread/size:64/wait:spin": "pingpong",
           "pingpong/transport:pipe/peer:fork/size:64": "pingpong",
           "stream/transport:pipe/peer:fork/size:4096/wait:block": "stream"}
LEVEL = {"rtt_p50_ns": 500.0, "rtt_p99_ns": 900.0, "bytes_per_second": 2e9,
         "items_per_second": 5e5}
START = datetime.datetime(2026, 11, 1, 12, 0, tzinfo=datetime.timezone.utc)


def primary(family):
    return SCHEMA["families"][family]["primary"]


def make_run(revision_index, factor, rng, noise=0.03, reps=3, host="ci-1",
             cpu="Fixture CPU 4000", commit_date=True, revision=True, run_date=None,
             kernel="6.1.0-fixture"):
    """One results file of revision `revision_index`: every primary metric at its level times
    `factor` (a dict benchmark -> factor, or one number), with a run-level noise (what moves
    between CI jobs) and a smaller one per repetition."""
    doc = copy.deepcopy(TEMPLATE)
    when = START + datetime.timedelta(hours=6 * revision_index)
    doc["context"]["date"] = (run_date or when + datetime.timedelta(minutes=30)).isoformat()
    env = doc["ipcmeter"]["env"]
    env.update(hostname=host, cpu_model=cpu, kernel=kernel)
    env["git_revision"] = "%012x" % (0xabc000 + revision_index) if revision else None
    if commit_date:
        env["commit_date"] = when.isoformat()
    else:
        env.pop("commit_date", None)
    benches = []
    for base, family in BENCHES.items():
        f = factor.get(base, 1.0) if isinstance(factor, dict) else factor
        run_noise = {m: rng.normal(0, noise) for m in primary(family)}
        for rep in range(reps):
            e = {"name": base + "/manual_time", "run_name": base + "/manual_time",
                 "run_type": "iteration", "repetitions": reps, "repetition_index": rep,
                 "threads": 1, "iterations": 1000, "real_time": 500.0, "cpu_time": 400.0,
                 "time_unit": "ns"}
            for m in primary(family):
                e[m] = LEVEL[m] * f * float(np.exp(run_noise[m] + rng.normal(0, noise / 3)))
            benches.append(e)
    doc["benchmarks"] = benches
    return doc


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="history-test-")

    def tearDown(self):
        import shutil
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, docs, prefix="r"):
        paths = []
        for i, doc in enumerate(docs):
            path = os.path.join(self.tmp, "%s%02d.json" % (prefix, i))
            with open(path, "w") as f:
                json.dump(doc, f)
            paths.append(path)
        return paths

    def history(self, paths, **kw):
        return hi.build([load(p) for p in paths], **kw)

    def run_cli(self, args):
        p = subprocess.run([PY, os.path.join(SCRIPTS, "history.py")] + args, cwd=self.tmp,
                           capture_output=True, text=True, timeout=600)
        return p.returncode, p.stdout, p.stderr


def series_steps(h):
    return {(s.machine.label, s.benchmark, s.metric): s.steps for s in h.series}


class InjectedStep(Base):
    def test_step_at_revision_7_of_12_found_with_its_size(self):
        """+30% at revision 7 (index 6) of 12, 3% noise, every benchmark and metric."""
        for seed in (1, 2, 3):
            rng = np.random.default_rng(seed)
            docs = [make_run(i, 1.3 if i >= 6 else 1.0, rng) for i in range(12)]
            # Shuffled on the command line: the order comes from the commit dates.
            paths = self.write(docs[::-1], prefix="s%d-" % seed)
            h = self.history(paths)
            self.assertEqual(len(h.machines), 1)
            self.assertEqual(len(h.series), sum(len(primary(f)) for f in BENCHES.values()))
            for key, steps in series_steps(h).items():
                with self.subTest(seed=seed, series=key):
                    self.assertEqual(len(steps), 1, steps)
                    st = steps[0]
                    self.assertEqual(st["revision"], "%012x" % (0xabc000 + 6))
                    self.assertEqual(st["previous_revision"], "%012x" % (0xabc000 + 5))
                    # Levels are medians of 6 revisions with 3% noise each: +-7 points is 3 sigma.
                    self.assertAlmostEqual(st["size_pct"], 30.0, delta=7.0)
                    self.assertGreaterEqual(st["confidence"], 0.95)

    def test_direction_names_regression_and_improvement(self):
        """Latency up is a regression, throughput up an improvement (the schema says which)."""
        rng = np.random.default_rng(7)
        h = self.history(self.write([make_run(i, 1.3 if i >= 6 else 1.0, rng)
                                     for i in range(12)]))
        for s in h.series:
            self.assertEqual(s.steps[0]["kind"],
                             "improvement" if s.metric.endswith("_per_second") else "regression",
                             s.metric)

    def test_step_in_one_benchmark_only(self):
        bench = "pingpong/transport:pipe/peer:fork/size:64"
        rng = np.random.default_rng(11)
        h = self.history(self.write([make_run(i, {bench: 0.7} if i >= 4 else 1.0, rng)
                                     for i in range(12)]))
        for s in h.series:
            if s.benchmark == bench:
                self.assertEqual([st["point"] for st in s.steps], [4])
                self.assertAlmostEqual(s.steps[0]["size_pct"], -30.0, delta=5.0)
            else:
                self.assertEqual(s.steps, [], s.benchmark)

    def test_two_steps(self):
        rng = np.random.default_rng(5)
        factor = [1.0] * 5 + [1.4] * 5 + [1.0] * 5
        h = self.history(self.write([make_run(i, f, rng) for i, f in enumerate(factor)]))
        for s in h.series:
            self.assertEqual([st["point"] for st in s.steps], [5, 10], s.metric)


class PureNoise(Base):
    def test_no_step_in_noise(self):
        for seed in range(6):
            rng = np.random.default_rng(100 + seed)
            h = self.history(self.write([make_run(i, 1.0, rng) for i in range(12)],
                                        prefix="n%d-" % seed))
            with self.subTest(seed=seed):
                self.assertEqual(h.steps(), [])
                for s in h.series:
                    self.assertEqual(len(s.levels), 1)

    def test_no_step_in_noisy_single_repetitions(self):
        """The quick profile's one repetition per run: 5% run noise, 20 revisions."""
        for seed in range(4):
            rng = np.random.default_rng(200 + seed)
            h = self.history(self.write([make_run(i, 1.0, rng, noise=0.05, reps=1)
                                         for i in range(20)], prefix="q%d-" % seed))
            with self.subTest(seed=seed):
                self.assertEqual(h.steps(), [])

    def test_one_outlier_revision_is_not_a_step(self):
        rng = np.random.default_rng(9)
        h = self.history(self.write([make_run(i, 2.0 if i == 5 else 1.0, rng)
                                     for i in range(12)]))
        self.assertEqual(h.steps(), [])


class Machines(Base):
    def test_two_machines_are_separate_lines(self):
        """Machine B is 2x slower throughout: mixed, that would look like steps."""
        rng = np.random.default_rng(3)
        docs = []
        for i in range(10):
            docs.append(make_run(i, 1.0, rng, host="ci-a"))
            docs.append(make_run(i, 2.0, rng, host="ci-b", cpu="Other CPU 9000"))
        h = self.history(self.write(docs))
        self.assertEqual(len(h.machines), 2)
        self.assertEqual(h.steps(), [])
        for m in h.machines:
            self.assertEqual(len(m.revisions), 10)
        per_bench = {}
        for s in h.series:
            per_bench.setdefault((s.benchmark, s.metric), []).append(s)
        for key, ss in per_bench.items():
            self.assertEqual(len(ss), 2, key)
            a, b = sorted(ss, key=lambda s: s.points[0].median)
            ratio = b.points[0].median / a.points[0].median
            self.assertAlmostEqual(ratio, 2.0, delta=0.3)

    def test_same_hardware_other_hostname(self):
        """--group-by host keeps them apart; hardware joins CI runners renamed every job."""
        rng = np.random.default_rng(4)
        paths = self.write([make_run(i, 1.0, rng, host="runner-%d" % i) for i in range(6)])
        self.assertEqual(len(self.history(paths, group_by="host").machines), 6)
        joined = self.history(paths, group_by="hardware")
        self.assertEqual(len(joined.machines), 1)
        self.assertEqual(len(joined.machines[0].revisions), 6)

    def test_kernel_change_is_marked(self):
        rng = np.random.default_rng(6)
        docs = [make_run(i, 1.3 if i >= 6 else 1.0, rng,
                         kernel="6.1" if i < 6 else "6.5") for i in range(12)]
        h = self.history(self.write(docs))
        self.assertEqual(len(h.machines), 1)
        st = h.series[0].steps[0]
        self.assertEqual(st["env_change"], ["kernel 6.1 -> 6.5"])

    def test_silicon_change_under_one_model_name_is_marked_a_first_record_is_not(self):
        """Files older than env.cpu_signature lack it: no change there. A host of other
        silicon under the same model name (as "AMD EPYC" under KVM) is marked where it came."""
        rng = np.random.default_rng(7)
        zen5 = {"vendor": "AuthenticAMD", "family": 26, "model": 2, "stepping": 1}
        docs = [make_run(i, 1.3 if i >= 8 else 1.0, rng) for i in range(12)]
        for i, doc in enumerate(docs[4:], start=4):
            doc["ipcmeter"]["env"]["cpu_signature"] = zen5 if i >= 8 else dict(zen5, family=25)
        h = self.history(self.write(docs))
        self.assertEqual(len(h.machines), 1)
        changes = h.machines[0].env_changes
        self.assertEqual(list(changes.values()),
                         [["cpu_signature vendor: AuthenticAMD; family: 25; model: 2; "
                           "stepping: 1 -> vendor: AuthenticAMD; family: 26; model: 2; "
                           "stepping: 1"]])
        self.assertEqual(h.series[0].steps[0]["env_change"], changes[h.series[0].steps[0]["revision"]])


class Ordering(Base):
    def test_without_commit_date_ordered_by_run_date(self):
        rng = np.random.default_rng(8)
        docs = [make_run(i, 1.3 if i >= 6 else 1.0, rng, commit_date=False)
                for i in range(12)]
        h = self.history(self.write(docs[::-1]))
        self.assertEqual(h.revision_order, ["%012x" % (0xabc000 + i) for i in range(12)])
        for s in h.series:
            self.assertEqual(s.steps[0]["revision"], "%012x" % (0xabc000 + 6))

    def test_commit_date_wins_over_run_date(self):
        """Revision 0 re-run last (its run date is the newest) stays first."""
        rng = np.random.default_rng(8)
        late = START + datetime.timedelta(days=30)
        docs = [make_run(i, 1.0, rng, run_date=late if i == 0 else None) for i in range(5)]
        h = self.history(self.write(docs))
        self.assertEqual(h.revision_order[0], "%012x" % 0xabc000)

    def test_files_of_one_revision_are_pooled(self):
        rng = np.random.default_rng(8)
        docs = [make_run(i // 2, 1.0, rng) for i in range(8)]
        h = self.history(self.write(docs))
        self.assertEqual(len(h.revision_order), 4)
        self.assertTrue(all(len(p.values) == 6 for s in h.series for p in s.points))

    def test_without_revision_each_run_is_a_point(self):
        rng = np.random.default_rng(8)
        docs = [make_run(i, 1.0, rng, revision=False, commit_date=False) for i in range(4)]
        h = self.history(self.write(docs))
        self.assertEqual(len(h.revision_order), 4)
        self.assertTrue(all(r.startswith("run 2026-11-") for r in h.revision_order))


class GitDates(Base):
    """Files written before env.commit_date: --git REPO looks the revisions' dates up."""

    def make_repo(self, n):
        repo = os.path.join(self.tmp, "repo")
        os.mkdir(repo)
        env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
                   GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
        subprocess.run(["git", "init", "-q", repo], check=True, env=env)
        revs = []
        for i in range(n):
            when = (START + datetime.timedelta(days=i)).isoformat()
            subprocess.run(["git", "-C", repo, "commit", "-q", "--allow-empty", "-m", str(i)],
                           check=True, env=dict(env, GIT_COMMITTER_DATE=when,
                                                GIT_AUTHOR_DATE=when))
            revs.append(subprocess.run(["git", "-C", repo, "rev-parse", "--short=12", "HEAD"],
                                       check=True, capture_output=True, text=True,
                                       env=env).stdout.strip())
        return repo, revs

    def test_git_orders_files_benchmarked_late(self):
        repo, revs = self.make_repo(5)
        rng = np.random.default_rng(2)
        late = START + datetime.timedelta(days=60)
        docs = []
        for i, rev in enumerate(revs):
            # Benchmarked newest first: by run date the order would be reversed.
            doc = make_run(i, 1.0, rng, commit_date=False,
                           run_date=late - datetime.timedelta(hours=i))
            doc["ipcmeter"]["env"]["git_revision"] = rev
            docs.append(doc)
        paths = self.write(docs)
        self.assertEqual(self.history(paths).revision_order, revs[::-1])
        h = self.history(paths, git_dir=repo)
        self.assertEqual(h.revision_order, revs)
        self.assertIsNone(h.ordering_note())

    def test_mixed_dated_and_undated_files_are_flagged(self):
        rng = np.random.default_rng(2)
        docs = [make_run(i, 1.0, rng, commit_date=i >= 2) for i in range(4)]
        h = self.history(self.write(docs))
        self.assertIn("2 of 4 revisions have no commit date", h.ordering_note())

    def test_not_a_repository(self):
        rng = np.random.default_rng(2)
        paths = self.write([make_run(i, 1.0, rng) for i in range(2)])
        out = os.path.join(self.tmp, "out")
        code, _, err = self.run_cli(paths + ["-o", out, "--git", self.tmp])
        self.assertEqual(code, 2, err)
        self.assertIn("not a git repository", err)
        self.assertFalse(os.path.exists(out))


class Command(Base):
    def test_writes_the_three_files(self):
        rng = np.random.default_rng(1)
        paths = self.write([make_run(i, 1.3 if i >= 6 else 1.0, rng) for i in range(12)])
        out = os.path.join(self.tmp, "out")
        code, stdout, err = self.run_cli(paths + ["-o", out])
        self.assertEqual(code, 0, err)
        self.assertEqual(sorted(os.listdir(out)), ["history.html", "history.json", "history.md"])
        with open(os.path.join(out, "history.json")) as f:
            doc = json.loads(f.read(), parse_constant=lambda c: self.fail("JSON holds " + c))
        self.assertEqual(len(doc["steps"]), len(doc["series"]))
        self.assertTrue(all(st["revision"] == "%012x" % (0xabc000 + 6) for st in doc["steps"]))
        self.assertEqual(len(doc["machines"]), 1)
        with open(os.path.join(out, "history.html"), encoding="utf-8") as f:
            page = f.read()
        self.assertTrue(page.endswith("</html>\n"))
        self.assertIn("data:image/png;base64,", page)
        self.assertNotIn("http://", page.replace("http://www.w3.org", ""))
        with open(os.path.join(out, "history.md"), encoding="utf-8") as f:
            self.assertIn("+30", f.read())

    def test_bad_input_one_line_exit_2_nothing_written(self):
        rng = np.random.default_rng(1)
        good = self.write([make_run(i, 1.0, rng) for i in range(3)])
        bad_json = os.path.join(self.tmp, "bad.json")
        with open(bad_json, "w") as f:
            f.write("{\"benchmarks\": [")
        undated = copy.deepcopy(TEMPLATE)
        undated["context"].pop("date")
        undated["ipcmeter"]["env"].pop("commit_date", None)
        undated_path = self.write([undated], prefix="undated")[0]
        cases = [
            (good + [bad_json], "truncated"),
            (good + [os.path.join(self.tmp, "missing.json")], "no such file"),
            (good + [undated_path], "neither env.commit_date nor context.date"),
            (good + [good[0]], "given twice"),
            (good + ["--alpha", "2"], "--alpha"),
            (good + ["--min-step", "-1"], "--min-step"),
            (good + ["--group-by", "rack"], "invalid choice"),
            (good, "required"),   # no -o
        ]
        for args, words in cases:
            with self.subTest(words=words):
                out = os.path.join(self.tmp, "out-bad")
                argv = args + (["-o", out] if words != "required" else [])
                code, stdout, err = self.run_cli(argv)
                self.assertEqual(code, 2, err)
                lines = err.strip().split("\n")
                self.assertEqual(len(lines), 1, err)
                self.assertTrue(lines[0].startswith("history.py: "), lines[0])
                self.assertIn(words, lines[0])
                self.assertFalse(os.path.exists(out), "something was written")
                self.assertEqual([n for n in os.listdir(self.tmp) if ".tmp-" in n], [])

    def test_output_is_a_file(self):
        rng = np.random.default_rng(1)
        good = self.write([make_run(i, 1.0, rng) for i in range(2)])
        out = os.path.join(self.tmp, "afile")
        with open(out, "w") as f:
            f.write("keep")
        code, _, err = self.run_cli(good + ["-o", out])
        self.assertEqual(code, 2)
        self.assertIn("not a directory", err)
        with open(out) as f:
            self.assertEqual(f.read(), "keep")

    def test_help(self):
        code, out, _ = self.run_cli(["--help"])
        self.assertEqual(code, 0)
        self.assertIn("--group-by", out)


class CiRecipe(unittest.TestCase):
    """The workflow keeps a results file per main-branch commit, and docs/history.md builds
    the page from them with flags history.py has."""

    def test_workflow_keeps_a_file_per_commit(self):
        with open(os.path.join(REPO, ".github", "workflows", "ipcmeter-gate.yml")) as f:
            text = f.read()
        self.assertRegex(text, r"push:\s*\n\s*branches: \[main\]")
        job = text[text.index("  history-point:"):]
        self.assertIn("github.event_name == 'push'", job)
        # Its own repetitions (the noise band), not the gate's one per round.
        self.assertIn("--benchmark_repetitions=\"$HISTORY_REPETITIONS\"", job)
        self.assertRegex(text, r'\n  HISTORY_REPETITIONS: "([3-9]|\d\d+)"')
        self.assertIn("name: ipcmeter-history-${{ github.sha }}", job)

    def test_documented_command_uses_existing_flags(self):
        import history
        with open(os.path.join(REPO, "docs", "history.md")) as f:
            text = f.read()
        known = set(history.build_parser()._option_string_actions)
        blocks = re.findall(r"```\n(.*?)```", text, re.S)
        commands = [c for b in blocks for c in b.replace("\\\n", " ").splitlines()
                    if "scripts/history.py" in c]
        self.assertGreaterEqual(len(commands), 2)
        for command in commands:
            flags = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", command))
            self.assertEqual(flags - known, set(), command)


if __name__ == "__main__":
    unittest.main()
