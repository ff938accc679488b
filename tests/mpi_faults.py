#!/usr/bin/python3
"""The mpi rows struck, run as users run them (scripts/mpi_rows.py on a plain run's results):
rank 1 SIGKILLed and SIGSTOPped mid-row, rank 0 SIGINTed and SIGKILLed, mpirun SIGKILLed, and
"ipcmeter" as the user started it, mpi_rows.py, SIGINTed and SIGKILLed. After each: the launch
ended within a bound, no rank, mpirun or orted of it is left, nothing new in /dev/shm
(ipcmeter-*, vader_segment*) once mpi_rows.py is gone, and when rank 0 wrote its results the
struck row and every later mpi row of that launch carry their reason.

usage: tests/mpi_faults.py BUILD/ipcmeter
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

BINARY = None
MPI_ROWS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "mpi_rows.py")
SHM_DIR = "/dev/shm"
# Rank 0 gives up on a silent rank 1 after this (IPCMETER_PEER_TIMEOUT_S, the suite's hook).
PEER_TIMEOUT_S = 2
# Rows long enough that a strike lands inside one; the strike comes once rank 1 has spent this
# much CPU time, which it spends only in rows (between them it sleeps).
ROW_MIN_TIME = "1.0"
ROWS_STARTED_TICKS = 30
# From the strike to mpi_rows.py's exit: the peer timeout, MPI_Abort, the floors at the end.
STRIKE_BOUND_S = 30
# Until the ranks exist, and for the processes of a killed mpi_rows.py to go.
START_BOUND_S = 60
GONE_BOUND_S = 10
POLL_S = 0.05


def proc_stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_ticks(pid):
    s = proc_stat(pid)
    return int(s[11]) + int(s[12]) if s else 0


def under(root):
    """Every process below `root`."""
    children = {}
    for pid in os.listdir("/proc"):
        s = proc_stat(pid) if pid.isdigit() else None
        if s:
            children.setdefault(int(s[1]), []).append(int(pid))
    found, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            found.append(c)
            todo.append(c)
    return found


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def rank_of(pid):
    """The MPI rank of an ipcmeter --mpi process, or None."""
    argv = cmdline(pid)
    if not argv or argv[0] != BINARY.encode() or b"--mpi" not in argv:
        return None
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = dict(e.split(b"=", 1) for e in f.read().split(b"\0") if b"=" in e)
    except OSError:
        return None
    r = env.get(b"OMPI_COMM_WORLD_RANK")
    return int(r) if r is not None else None


def is_launch_process(pid):
    argv = cmdline(pid)
    if not argv or not argv[0]:
        return False
    name = os.path.basename(argv[0].decode(errors="replace"))
    return name in ("mpirun", "orterun", "orted") or (argv[0] == BINARY.encode() and b"--mpi" in argv)


def shm_entries():
    return {n for n in os.listdir(SHM_DIR) if n.startswith(("ipcmeter-", "vader_segment"))}


def owner_pid(name):
    """The pid in an ipcmeter-<pid>-… name, or None (OpenMPI's vader_segment.* names none)."""
    parts = name.split("-")
    return int(parts[1]) if name.startswith("ipcmeter-") and len(parts) > 2 and parts[1].isdigit() else None


def env_for_test():
    env = dict(os.environ)
    env["IPCMETER_PEER_TIMEOUT_S"] = str(PEER_TIMEOUT_S)
    return env


class Struck:
    """One mpi_rows.py run struck once: what it left and what it wrote."""

    def __init__(self, plain, workdir, target, sig):
        self.results = os.path.join(workdir, "r.json")
        shutil.copyfile(plain, self.results)
        with open(self.results, "rb") as f:
            self.before = f.read()
        self.shm_before = shm_entries()
        self.err_path = os.path.join(workdir, "mpi_rows.err")
        cmd = ["/usr/bin/python3", MPI_ROWS, self.results, "--bin", BINARY, "--",
               "--profile", "quick", f"--benchmark_min_time={ROW_MIN_TIME}"]
        with open(self.err_path, "wb") as err:
            p = subprocess.Popen(cmd, env=env_for_test(), stdout=subprocess.DEVNULL, stderr=err)
        self.seen = set()
        ranks = self.wait_for_rows(p)
        victim = {"rank0": ranks.get(0), "rank1": ranks.get(1), "mpi_rows": p.pid,
                  "mpirun": next((c for c in under(p.pid) if os.path.basename(
                      cmdline(c)[0].decode(errors="replace")) in ("mpirun", "orterun")), None)}[target]
        assert victim, f"no {target} to strike"
        os.kill(victim, sig)
        self.struck_at = time.monotonic()
        if target == "mpi_rows" and sig == signal.SIGKILL:
            p.wait(STRIKE_BOUND_S)
            self.wait_gone(GONE_BOUND_S)
        else:
            try:
                p.wait(STRIKE_BOUND_S)
            finally:
                if p.poll() is None:
                    for pid in [p.pid] + under(p.pid):
                        os.kill(pid, signal.SIGKILL)
                    p.wait()
        self.seconds = time.monotonic() - self.struck_at
        self.returncode = p.returncode
        with open(self.err_path, errors="replace") as f:
            self.stderr = f.read()
        self.left = [pid for pid in self.seen if is_launch_process(pid)]
        # Other runs on the machine make ipcmeter objects too: only those named by a process of
        # this launch count (vader's segments name no pid; this launch's go in its private directory).
        self.seen.add(p.pid)
        self.shm_new = {n for n in shm_entries() - self.shm_before
                        if owner_pid(n) in self.seen or n.startswith("vader_segment")}

    def wait_for_rows(self, p):
        """Until rank 1 has spent ROWS_STARTED_TICKS of CPU: the rows are running."""
        give_up = time.monotonic() + START_BOUND_S
        ranks = {}
        while time.monotonic() < give_up and p.poll() is None:
            for pid in under(p.pid):
                self.seen.add(pid)
                r = rank_of(pid)
                if r is not None:
                    ranks[r] = pid
            if 1 in ranks and 0 in ranks and cpu_ticks(ranks[1]) >= ROWS_STARTED_TICKS:
                return ranks
            time.sleep(POLL_S)
        raise AssertionError(f"the rows did not start within {START_BOUND_S} s (mpi_rows.py exit {p.poll()})")

    def wait_gone(self, bound):
        give_up = time.monotonic() + bound
        while time.monotonic() < give_up and any(is_launch_process(pid) for pid in self.seen):
            time.sleep(POLL_S)

    def document(self):
        with open(self.results) as f:
            return json.load(f)


class MpiFaults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mpi_faults-")
        cls.plain = {}
        # Plain runs that list one path's mpi rows each, so mpi_rows.py makes that one launch.
        for transport in ("mpi_sm", "mpi_tcp"):
            out = os.path.join(cls.tmp, f"plain-{transport}.json")
            subprocess.run([BINARY, "--profile", "quick", "--benchmark_min_time=0.01",
                            f"--benchmark_filter=^(pingpong|stream)/transport:{transport}/peer:mpi_local/",
                            f"--benchmark_out={out}"], check=True, capture_output=True, timeout=120)
            cls.plain[transport] = out

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def strike(self, target, sig, transport="mpi_sm"):
        work = tempfile.mkdtemp(dir=self.tmp)
        s = Struck(self.plain[transport], work, target, sig)
        print(f"\n  {target} {signal.Signals(sig).name} ({transport}): mpi_rows.py exit {s.returncode} "
              f"{s.seconds:.1f} s after the strike", file=sys.stderr)
        self.assertLess(s.seconds, STRIKE_BOUND_S, s.stderr[-3000:])
        self.assertEqual(s.left, [], "processes of the launch left running")
        self.assertEqual(s.shm_new, set(), "left in /dev/shm")
        return s

    def local_rows(self, d, transport):
        return [b for b in d["benchmarks"] if f"/transport:{transport}/peer:mpi_local/" in b["name"]]

    def assert_rows_carry_launch_reason(self, s, transport="mpi_sm"):
        self.assertEqual(s.returncode, 1, s.stderr[-3000:])
        d = s.document()
        for b in self.local_rows(d, transport):
            self.assertTrue(b.get("error_occurred"), b["name"])
            self.assertRegex(b["error_message"], rf"^{transport}: its mpirun launch \(local\) exited with status \d+ "
                                                 r"and wrote no results")
        launch = d["ipcmeter"]["mpi_launches"][-1]
        self.assertNotEqual(launch["exit_status"], 0)
        self.assertEqual(launch["rows"], [])
        self.assertIsInstance(launch["stderr_tail"], list)

    def assert_peer_lost(self, s, transport):
        # Rank 0 wrote its results: the struck row says why, every later one names it.
        self.assertEqual(s.returncode, 1, s.stderr[-3000:])
        d = s.document()
        rows = self.local_rows(d, transport)
        struck = [i for i, b in enumerate(rows) if "stopped answering" in b.get("error_message", "")
                  and "earlier row" not in b["error_message"]]
        self.assertEqual(len(struck), 1, [b.get("error_message") for b in rows])
        self.assertIn(f"the MPI peer (rank 1) stopped answering for {PEER_TIMEOUT_S} s", rows[struck[0]]["error_message"])
        for b in rows[struck[0] + 1:]:
            self.assertTrue(b.get("error_occurred"), b["name"])
            self.assertIn("in an earlier row, " + rows[struck[0]]["name"].split("/manual_time")[0], b["error_message"])
        for b in rows[:struck[0]]:
            self.assertFalse(b.get("error_occurred"), b.get("error_message"))
        launch = d["ipcmeter"]["mpi_launches"][-1]
        self.assertEqual(launch["exit_status"], 1)
        # Rank 0's own line: OpenMPI's MPI_ABORT notice is not always printed (under ctest its
        # show_help failed to unpack: "ORTE_ERROR_LOG: Data unpack would read past end of buffer").
        self.assertTrue(any("rank 0 ends the MPI job (MPI_Abort)" in line for line in launch["stderr_tail"]),
                        launch["stderr_tail"])

    def test_rank1_sigstop_sm(self):
        self.assert_peer_lost(self.strike("rank1", signal.SIGSTOP), "mpi_sm")

    def test_rank1_sigstop_tcp(self):
        self.assert_peer_lost(self.strike("rank1", signal.SIGSTOP, "mpi_tcp"), "mpi_tcp")

    def test_rank1_sigkill(self):
        # mpirun ends the job when a rank dies (without --enable-recovery, see README).
        self.assert_rows_carry_launch_reason(self.strike("rank1", signal.SIGKILL))

    def test_rank0_sigint(self):
        self.assert_rows_carry_launch_reason(self.strike("rank0", signal.SIGINT))

    def test_rank0_sigkill(self):
        self.assert_rows_carry_launch_reason(self.strike("rank0", signal.SIGKILL))

    def test_mpirun_sigkill(self):
        self.assert_rows_carry_launch_reason(self.strike("mpirun", signal.SIGKILL))

    def test_mpi_rows_sigint(self):
        s = self.strike("mpi_rows", signal.SIGINT)
        self.assertEqual(s.returncode, 128 + signal.SIGINT, s.stderr[-3000:])
        with open(s.results, "rb") as f:
            self.assertEqual(f.read(), s.before, "RESULTS.json changed by an interrupted mpi_rows.py")

    def test_mpi_rows_sigkill(self):
        # Nothing of the launch outlives mpi_rows.py (mpirun dies with it); its private directory
        # is left, and the next mpi_rows.py sweeps it.
        work = tempfile.mkdtemp(dir=self.tmp)
        s = Struck(self.plain["mpi_sm"], work, "mpi_rows", signal.SIGKILL)
        print(f"\n  mpi_rows SIGKILL (mpi_sm): the launch's processes gone {s.seconds:.1f} s after the strike",
              file=sys.stderr)
        self.assertEqual(s.returncode, -signal.SIGKILL)
        self.assertEqual(s.left, [], "processes of the launch outlived mpi_rows.py")
        left = {n for n in s.shm_new if not n.startswith("vader_segment")}
        self.assertEqual(len(left), 1, s.shm_new)
        self.assertRegex(next(iter(left)), r"^ipcmeter-\d+-[0-9a-f]{16}-mpi$")
        empty = os.path.join(work, "empty.json")
        d = json.loads(s.before)
        d["benchmarks"] = []
        with open(empty, "w") as f:
            json.dump(d, f)
        p = subprocess.run(["/usr/bin/python3", MPI_ROWS, empty, "--bin", BINARY], capture_output=True, text=True,
                           timeout=60)
        self.assertIn("left by a run that is no longer alive", p.stderr)
        self.assertEqual(shm_entries() - s.shm_before, set())


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    BINARY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
