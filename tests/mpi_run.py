#!/usr/bin/python3
"""The mpi rows, functionally: under mpirun they run over both of MPI's paths with sane
counters, a plain run lists them with the reason, bad launches are refused with one line,
and no rank is left running.

usage: tests/mpi_run.py BUILD/ipcmeter
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

BINARY = None
SIZE = 64
MIN_TIME = "0.02"
TIMEOUT = 240


def child_env():
    env = dict(os.environ)
    if os.geteuid() == 0:
        # Only in the launch's environment: OpenMPI refuses root otherwise.
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    return env


def ranks_alive():
    """ipcmeter processes started with --mpi (ranks of any launch this test made)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0] == BINARY.encode() and b"--mpi" in argv:
            found.append(pid)
    return found


# Runs argv[1:] as the rank, rank 0 half a second late.
RANK0_LATE = ("import os, sys, time\n"
              "if os.environ.get('OMPI_COMM_WORLD_RANK') == '0': time.sleep(0.5)\n"
              "os.execv(sys.argv[1], sys.argv[1:])")


def describe():
    return json.loads(subprocess.run([BINARY, "--describe"], check=True, capture_output=True, text=True).stdout)


class MpiRows(unittest.TestCase):
    def run_mpi(self, transport, out, extra_mpirun=(), np=2, rank0_late=False, extra_args=()):
        btl = describe()["transports"][transport]["mpi_btl"].split()
        # rank0_late: rank 0 reaches ipcmeter half a second after the others, so a rank that
        # fails first has mpirun end the job before rank 0 can speak (how CI once lost its line).
        late = [sys.executable, "-c", RANK0_LATE] if rank0_late else []
        cmd = (["mpirun", "-np", str(np), "--oversubscribe", "--bind-to", "none"] + btl +
               ["--mca", "btl_vader_single_copy_mechanism", "none"] + list(extra_mpirun) + late +
               [BINARY, "--mpi", "--profile", "quick", f"--benchmark_min_time={MIN_TIME}",
                f"--benchmark_filter=^(pingpong|stream)/transport:mpi_(sm|tcp)/peer:mpi_.*/size:{SIZE}/",
                f"--benchmark_out={out}", "--benchmark_out_format=json"] + list(extra_args))
        return subprocess.run(cmd, env=child_env(), capture_output=True, text=True, timeout=TIMEOUT)

    def check_path(self, transport, other):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "r.json")
            p = self.run_mpi(transport, out)
            self.assertEqual(p.returncode, 0, p.stderr[-3000:])
            with open(out) as f:
                d = json.load(f)
        self.assertEqual(ranks_alive(), [], "an ipcmeter --mpi rank is still running")
        schema = d["ipcmeter"]["schema"]
        rows = {b["name"].split("/manual_time")[0]: b for b in d["benchmarks"]}
        for fam in ("pingpong", "stream"):
            ran = rows[f"{fam}/transport:{transport}/peer:mpi_local/size:{SIZE}"]
            self.assertFalse(ran.get("error_occurred"), ran.get("error_message"))
            required = [c for c, v in schema["families"][fam]["counters"].items() if v["required"]]
            for c in required:
                self.assertIn(c, ran, f"{ran['name']} lacks {c}")
                self.assertGreater(ran[c], 0, f"{ran['name']}: {c}")
            if fam == "pingpong":
                ps = [ran[c] for c in ("rtt_p50_ns", "rtt_p90_ns", "rtt_p99_ns", "rtt_p999_ns", "rtt_max_ns")]
                self.assertEqual(ps, sorted(ps))
                self.assertGreater(ran["iterations"], 0)
            # The other path cannot run in this launch, and says which launch it needs.
            refused = rows[f"{fam}/transport:{other}/peer:mpi_local/size:{SIZE}"]
            self.assertTrue(refused.get("error_occurred"))
            self.assertRegex(refused["error_message"], r"this launch uses the .* path.*--mca btl self,")
            # Both ranks on this host: mpi_remote is listed with why (shared memory never crosses hosts).
            remote = rows[f"{fam}/transport:{transport}/peer:mpi_remote/size:{SIZE}"]
            self.assertTrue(remote.get("error_occurred"))
            crosses = describe()["transports"][transport]["mpi_crosses_hosts"]
            self.assertIn("mpi_remote needs it on a second host" if crosses else "reaches ranks on this host only",
                          remote["error_message"])

    def test_sm_path(self):
        self.check_path("mpi_sm", "mpi_tcp")

    def test_tcp_path(self):
        self.check_path("mpi_tcp", "mpi_sm")

    def test_plain_run_lists_mpi_rows_with_reason(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "r.json")
            p = subprocess.run([BINARY, "--profile", "quick", "--benchmark_min_time=0.01",
                                "--benchmark_filter=/peer:mpi_|/transport:mpi_", f"--benchmark_out={out}"],
                               capture_output=True, text=True, timeout=TIMEOUT)
            self.assertEqual(p.returncode, 0, p.stderr[-2000:])
            with open(out) as f:
                d = json.load(f)
        names = [b["name"] for b in d["benchmarks"]]
        sizes = d["ipcmeter"]["schema"]["profiles"]["quick"]["sizes"]
        for fam in ("pingpong", "stream"):
            for t in ("mpi_sm", "mpi_tcp"):
                for peer in ("mpi_local", "mpi_remote"):
                    for size in sizes:
                        self.assertIn(f"{fam}/transport:{t}/peer:{peer}/size:{size}/manual_time", names)
        for b in d["benchmarks"]:
            self.assertTrue(b.get("error_occurred"), b["name"])
            if re.search(r"transport:mpi_\w+/peer:mpi_local/", b["name"]):
                self.assertIn("needs mpirun -np 2 build/ipcmeter --mpi", b["error_message"])
            elif "/peer:mpi_" in b["name"]:
                self.assertRegex(b["error_message"], r"cannot reach a mpi_\w+ peer|--hosts HOSTFILE")
            else:
                self.assertIn("reaches MPI ranks only", b["error_message"])

    def test_mpi_without_mpirun_is_refused(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("OMPI_")}
        p = subprocess.run([BINARY, "--mpi", "--benchmark_list_tests"], capture_output=True, text=True, env=env,
                           timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr.count("\n"), 1, p.stderr)
        self.assertIn("not started by mpirun", p.stderr)
        self.assertEqual(p.stdout, "")

    def test_three_ranks_refused(self):
        for rank0_late in (False, True):
            with self.subTest(rank0_late=rank0_late), tempfile.TemporaryDirectory() as tmp:
                out = os.path.join(tmp, "r.json")
                p = self.run_mpi("mpi_sm", out, np=3, rank0_late=rank0_late)
                self.assertNotEqual(p.returncode, 0)
                self.assertIn("--mpi needs exactly two ranks", p.stderr)
                self.assertEqual(p.stderr.count("needs exactly two ranks"), 1, p.stderr)
                self.assertFalse(os.path.exists(out))
            self.assertEqual(ranks_alive(), [])

    def test_bad_flag_is_said_once(self):
        # Every rank parses the same argv; rank 0 alone says what is wrong, one line.
        for rank0_late in (False, True):
            with self.subTest(rank0_late=rank0_late), tempfile.TemporaryDirectory() as tmp:
                out = os.path.join(tmp, "r.json")
                p = self.run_mpi("mpi_sm", out, rank0_late=rank0_late, extra_args=["--no-such-flag"])
                self.assertNotEqual(p.returncode, 0)
                said = [line for line in p.stderr.splitlines() if line.startswith("ipcmeter: ")]
                self.assertEqual(said, ["ipcmeter: unknown flag --no-such-flag (see --help)"], p.stderr)
                self.assertFalse(os.path.exists(out))
            self.assertEqual(ranks_alive(), [])


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    BINARY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
