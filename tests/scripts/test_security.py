"""Another local user against ipcmeter's outputs (docs/security.md): the scripts' atomic
writer and report directory in a shared directory with planted symlinks, and the binary's
results file and FIFO directory. As root, "another user" is uid 65534 (nobody): objects are
handed to it with lchown. Each test stages the attack and checks that it fails."""

import os
import stat
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from ipcmeter import atomic  # noqa: E402

BIN = os.path.abspath(os.environ.get("IPCMETER_BIN") or os.path.join(ROOT, "build", "ipcmeter"))
OTHER_UID = 65534
IS_ROOT = os.geteuid() == 0


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


class SharedDir(unittest.TestCase):
    """A sticky world-writable directory like /tmp, and a victim file elsewhere."""

    def setUp(self):
        self.shared = tempfile.mkdtemp(prefix="ipcm-sectest-shared-")
        os.chmod(self.shared, 0o1777)
        self.victim_dir = tempfile.mkdtemp(prefix="ipcm-sectest-victim-")
        self.precious = os.path.join(self.victim_dir, "precious")
        with open(self.precious, "w", encoding="utf-8") as f:
            f.write("keep me")

    def tearDown(self):
        subprocess.run(["rm", "-rf", self.shared, self.victim_dir], check=False)

    def plant(self, name, target=None):
        path = os.path.join(self.shared, name)
        os.symlink(target or self.precious, path)
        if IS_ROOT:
            os.lchown(path, OTHER_UID, OTHER_UID)
        return path

    def assert_victim_intact(self):
        self.assertEqual(read(self.precious), "keep me")
        self.assertEqual(sorted(os.listdir(self.victim_dir)), ["precious"])


class AtomicWriter(SharedDir):
    def test_symlink_at_target_is_replaced_not_followed(self):
        target = self.plant("out.json")
        atomic.write_files({target: "{}\n"})
        self.assertFalse(os.path.islink(target))
        self.assertEqual(read(target), "{}\n")
        self.assert_victim_intact()

    def test_file_mode_follows_umask(self):
        for mask in (0o022, 0o077):
            old = os.umask(mask)
            try:
                path = os.path.join(self.shared, "m%o.json" % mask)
                atomic.write_files({path: "{}"})
            finally:
                os.umask(old)
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o666 & ~mask)

    @unittest.skipUnless(IS_ROOT, "needs root to make a symlink of another user")
    def test_report_dir_symlink_of_another_user_is_refused(self):
        # report.py -o /tmp/report with /tmp/report planted as a symlink to the victim's
        # directory: the report and the removal of stale plots would land there.
        out = self.plant("report", self.victim_dir)
        with self.assertRaises(PermissionError) as e:
            atomic.write_dir(out, {"report.html": b"x", "precious": b"overwritten"},
                             stale=["precious"])
        self.assertIn("another user", str(e.exception))
        self.assert_victim_intact()

    @unittest.skipUnless(IS_ROOT, "needs root to make a directory of another user")
    def test_report_dir_of_another_user_is_refused(self):
        out = os.path.join(self.shared, "theirs")
        os.mkdir(out, 0o777)
        os.chown(out, OTHER_UID, OTHER_UID)
        with self.assertRaises(PermissionError):
            atomic.write_dir(out, {"report.html": b"x"})
        self.assertEqual(os.listdir(out), [])

    def test_new_report_dir_gets_umask_mode(self):
        out = os.path.join(self.shared, "fresh")
        old = os.umask(0o022)
        try:
            atomic.write_dir(out, {"report.html": b"x"})
        finally:
            os.umask(old)
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o755)


def run_binary(args, env=None, preexec=None):
    return subprocess.run([BIN] + args, capture_output=True, text=True, timeout=300,
                          env=env, preexec_fn=preexec)


@unittest.skipUnless(IS_ROOT, "another user's symlink needs root to hand it to uid 65534")
class ScriptsOutDir(SharedDir):
    """ab.py and gate_trials.py write logs under --out-dir: another user's symlink there must
    be refused before anything is run or written (one line, exit 2)."""

    def run_script(self, argv):
        return subprocess.run([sys.executable] + argv, capture_output=True, text=True, timeout=120)

    def check_refused(self, r, planted):
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("another user", r.stderr)
        self.assertIn(planted, r.stderr)
        self.assert_victim_intact()

    def test_ab_refuses_another_users_symlink(self):
        planted = self.plant("ab-out", self.victim_dir)
        r = self.run_script([os.path.join(ROOT, "scripts", "ab.py"), "--baseline", BIN, "--candidate", BIN,
                             "--rounds", "2", "--out-dir", planted])
        self.check_refused(r, planted)

    def test_gate_trials_refuses_another_users_symlink(self):
        planted = self.plant("trials-out", self.victim_dir)
        r = self.run_script([os.path.join(ROOT, "scripts", "gate_trials.py"), "aa", "--bin", BIN,
                             "--trials", "1", "--out-dir", planted])
        self.check_refused(r, planted)


@unittest.skipUnless(os.access(BIN, os.X_OK), "no ipcmeter binary (set IPCMETER_BIN)")
class Binary(SharedDir):
    # One cheap benchmark: the results file's path is what is under test, not the figure.
    FILTER = "--benchmark_filter=^floor/probe:timer"

    # The name a pid alone would give ("<out>.tmp-<pid>", what the binary used before
    # create_results_temp) prepared as a symlink to the victim: it must be neither followed
    # nor taken for the results file.
    def test_results_temp_name_cannot_be_prepared(self):
        out = os.path.join(self.shared, "r.json")

        def plant_at_own_pid():
            # exec keeps the pid: the name the binary will use, prepared before it runs.
            self.plant("r.json.tmp-%d" % os.getpid())

        r = run_binary([self.FILTER, "--benchmark_min_time=0.001", "--benchmark_out=" + out],
                       preexec=plant_at_own_pid)
        self.assert_victim_intact()
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_fifo_rows_refuse_a_temp_dir_others_can_rename_in(self):
        open_dir = tempfile.mkdtemp(prefix="ipcm-sectest-open-")
        os.chmod(open_dir, 0o777)
        try:
            out = os.path.join(self.shared, "fifo.json")
            env = dict(os.environ, TMPDIR=open_dir)
            r = run_binary(["--benchmark_filter=^pingpong/transport:fifo/peer:thread/size:64(/|$)",
                            "--benchmark_min_time=0.001", "--benchmark_out=" + out], env=env)
            self.assertIn("writable by other users and not sticky", r.stdout + r.stderr)
            # Nothing of ours was made there for another user to swap.
            self.assertEqual([n for n in os.listdir(open_dir) if n.startswith("ipcmeter-")], [])
        finally:
            subprocess.run(["rm", "-rf", open_dir], check=False)


if __name__ == "__main__":
    unittest.main()
