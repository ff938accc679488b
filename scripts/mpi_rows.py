#!/usr/bin/python3
"""Runs ipcmeter's mpi rows under mpirun and merges them into a results file.

usage: scripts/mpi_rows.py RESULTS.json [--hosts HOSTFILE [--remote-only]] [--bin build/ipcmeter]
                           [--mpirun-arg=ARG]... [-- ipcmeter flags]

One mpirun fixes the path MPI takes between its ranks, so the rows are run in two launches:
mpi_sm with `--mca pml ob1 --mca btl self,vader`, mpi_tcp with `--mca pml ob1 --mca btl
self,tcp`, each `mpirun -np 2 --bind-to none BIN --mpi --benchmark_filter=<that transport's
rows>`; rank 0 pins itself and rank 1 as a plain run pins its two sides. Vader's single-copy
mechanism (CMA) is turned off (`btl_vader_single_copy_mechanism none`): inside a container
without ptrace rights it hangs on the first large message; the command is recorded.

With --hosts, a third launch uses that MPI hostfile (its first host is this one, where rank 0
runs and writes; `--map-by node` puts rank 1 on the second) over each path that crosses hosts
(`--describe`'s mpi_crosses_hosts: mpi_tcp), and runs every peer:mpi_remote row: the mpi ones
and tcp's, whose rank 1 connects back to rank 0 over TCP. Its rows replace the local launches'
listed ones; its `ipcmeter.peer_env` (the second host's env) and its network floors (the
`net_*` keys of `floors` and `floors_end`) are copied into RESULTS.json. --remote-only skips
the two local launches. mpirun's own settings for the hosts (an rsh agent, `--mca
btl_tcp_if_include CIDR`) go in with --mpirun-arg=ARG, once per word.

A launch runs only when RESULTS.json lists rows it would run (a filtered run that left them
out gets none). Each row that ran (or now carries a more precise reason) replaces the plain
run's row of the same name in RESULTS.json, which is rewritten atomically;
ipcmeter.mpi_launches records each launch's command, floors, placement, warnings, exit status
and the tail of its stderr. As root, OpenMPI's allow-run-as-root variables are set in mpirun's
environment only.

Faults. A launch gets a time limit derived from what it runs (MPI's start, the floors, each
row's repetitions plus a stopped peer's 10 s); past it, or when this script is interrupted or
fails, the launch's process group and every process under mpirun are killed. mpirun dies with
this script even when it is SIGKILLed (PR_SET_PDEATHSIG). Rank 0 ends a row whose rank 1
stopped answering with that reason, writes its results and ends the job (mpirun then exits 1):
those rows are merged all the same. A launch that wrote no results (rank 1 or rank 0 killed,
mpirun killed) leaves its rows listed, their reason now the launch's. The local launches'
OpenMPI shared-memory segments and session directory live in a private 0700 directory,
/dev/shm/ipcmeter-<pid>-<64 random bits>-mpi, removed on every way out; one whose run is dead
is swept at the start (a launch across hosts keeps OpenMPI's own places: its daemon on the
other host would make and leave this host's path there).

Exit 0 when every launch exited 0 and wrote results, 1 when one did not (RESULTS.json then
holds what the others ran), 2 on bad input, 128+N when this script was ended by signal N
(RESULTS.json is then left as it was).
"""
import argparse
import collections
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ipcmeter import atomic  # noqa: E402
from ipcmeter.children import die_with_parent  # noqa: E402
from ipcmeter.results import read_document  # noqa: E402
from ipcmeter.schema import describe_of  # noqa: E402

# The transport and the --mca btl that selects its path; the names are ipcmeter's
# (`--describe` lists each with its mpi_btl).
def mpi_transports(binary, crossing_hosts=False):
    d = describe_of(binary).raw
    return {name: t["mpi_btl"] for name, t in d["transports"].items()
            if "mpi_btl" in t and (t.get("mpi_crosses_hosts") or not crossing_hosts)}


# Where OpenMPI's files of this script's launches go (see the docstring): named as every
# ipcmeter object is, by the pid of the run that owns it.
SHM_DIR = "/dev/shm"
PRIVATE_DIR = re.compile(r"ipcmeter-(\d+)-[0-9a-f]{16}-mpi")
# A launch's time limit: MPI's start and the floors at its start and end, then for every row
# it may run, each repetition's min time (twice over: a row runs past it) plus room for a
# silent rank 1 (ipcmeter's peer timeout, 10 s, and the row's own set-up). Generous: it only
# bounds a launch that is wedged.
LAUNCH_BASE_S = 180
ROW_SLACK_S = 15
# After SIGTERM, how long mpirun gets to end its ranks before everything of the launch is SIGKILLed.
TERM_GRACE_S = 5
STDERR_TAIL_LINES = 20
# ipcmeter's own lines say why a launch ended (rank 0: "... rank 0 ends the MPI job"), but
# OpenMPI's notices after them can be longer than the tail: MPI_ABORT's and, over tcp, a
# peer's "unexpectedly disconnected" came to more than 20 lines and pushed rank 0's out.
OWN_TAIL_LINES = 5


class StderrTail:
    """A launch's last STDERR_TAIL_LINES lines of stderr, with the last OWN_TAIL_LINES of
    ipcmeter's own lines kept even when later lines pushed them out; in the order written."""

    def __init__(self):
        self.last = collections.deque(maxlen=STDERR_TAIL_LINES)
        self.own = collections.deque(maxlen=OWN_TAIL_LINES)
        self.count = 0

    def add(self, line):
        self.last.append((self.count, line))
        if line.startswith("ipcmeter"):
            self.own.append((self.count, line))
        self.count += 1

    def lines(self):
        return [line for _, line in sorted(set(self.last) | set(self.own))]


def child_env():
    env = dict(os.environ)
    if os.geteuid() == 0:
        # OpenMPI refuses root unless told; only for this launch, never exported further.
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    return env


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_dirs():
    """Removes the private directories of runs of this script that are dead (SIGKILLed):
    only this user's real directories, never through a symlink."""
    for name in os.listdir(SHM_DIR):
        m = PRIVATE_DIR.fullmatch(name)
        if not m or pid_alive(int(m.group(1))):
            continue
        path = os.path.join(SHM_DIR, name)
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid():
            shutil.rmtree(path, ignore_errors=True)
            print(f"mpi_rows.py: removed {path}, left by a run that is no longer alive", file=sys.stderr)


def make_private_dir():
    path = os.path.join(SHM_DIR, f"ipcmeter-{os.getpid()}-{secrets.token_hex(8)}-mpi")
    os.mkdir(path, 0o700)
    return path


def launch_limit_s(binary, flags, n_rows):
    """The launch's time limit from what it runs: the profile's (or the flags') min time and
    repetitions over `n_rows` rows."""
    profile, min_time, reps = "default", None, None
    for i, f in enumerate(flags):
        if f == "--profile" and i + 1 < len(flags):
            profile = flags[i + 1]
        elif f.startswith("--profile="):
            profile = f.split("=", 1)[1]
        elif f.startswith("--benchmark_min_time="):
            v = f.split("=", 1)[1]
            # A count of iterations ("100x") takes no time to speak of.
            min_time = 1.0 if v.endswith("x") else float(v.rstrip("s") or 0)
        elif f.startswith("--benchmark_repetitions="):
            reps = int(f.split("=", 1)[1])
    p = describe_of(binary).raw["profiles"].get(profile, {})
    min_time = p.get("min_time_s", 1.0) if min_time is None else min_time
    reps = max(reps or p.get("repetitions", 1), 1)
    return LAUNCH_BASE_S + n_rows * reps * (2 * min_time + ROW_SLACK_S)


# How often the processes under mpirun are noted while it runs: its ranks outlive a killed
# mpirun for a while, reparented, and are then found only by what was noted.
WATCH_S = 0.5


def descendants(root):
    """{pid: start time} of every process under `root` (mpirun's ranks and daemons), from /proc;
    the start time tells a process from a later one that reuses its pid."""
    children, started = collections.defaultdict(list), {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                # The command may hold spaces and parentheses: the fields follow the last ')'.
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children[int(fields[1])].append(int(pid))
        started[int(pid)] = fields[19]
    found, todo = {}, [root]
    while todo:
        for c in children.get(todo.pop(), []):
            found[c] = started[c]
            todo.append(c)
    return found


def start_time(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def end_launch(proc, noted):
    """SIGTERM to the launch's process group (mpirun then ends its ranks itself), then SIGKILL
    to the group and to every process ever noted under mpirun that still lives."""
    if proc.poll() is None:
        noted.update(descendants(proc.pid))
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(TERM_GRACE_S)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
    alive = [pid for pid, t in noted.items() if start_time(pid) == t]
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    give_up = time.monotonic() + TERM_GRACE_S
    while alive and time.monotonic() < give_up:
        time.sleep(0.01)
        alive = [pid for pid in alive if start_time(pid) == noted[pid] and not zombie(pid)]


def zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def launch(binary, transport, btl_args, hosts, mpirun_args, flags, out, private, n_rows):
    """Runs one mpirun; returns a record: the command, its exit status (128+N for signal N),
    whether it hit its time limit, and the last lines of its stderr (passed through as it comes)."""
    cmd = ["mpirun", "-np", "2", "--bind-to", "none"]
    row_filter = launch_filter(transport, hosts)
    if hosts:
        cmd += ["--hostfile", hosts, "--map-by", "node"]
    cmd += btl_args.split()
    cmd += ["--mca", "btl_vader_single_copy_mechanism", "none"]
    # Vader's segments and mpirun's session directory in the launch's private directory, so
    # none is left in /dev/shm or /tmp whatever ends the launch. Not across hosts: OpenMPI
    # applies orte_tmpdir_base on every host (orte_local_tmpdir_base is refused in the ranks),
    # and the other host's daemon would make this host's path there and leave it.
    if not hosts:
        cmd += ["--mca", "btl_vader_backing_directory", private, "--mca", "orte_tmpdir_base", private]
    cmd += mpirun_args
    # The filter and the output are this launch's own; the rest (profile, min time) is passed on.
    passed = [f for f in flags if not f.startswith(("--benchmark_filter", "--benchmark_out"))]
    cmd += [binary, "--mpi"] + passed + [f"--benchmark_filter={row_filter}",
                                         f"--benchmark_out={out}", "--benchmark_out_format=json"]
    limit = launch_limit_s(binary, passed, n_rows)
    print("+ " + " ".join(cmd), file=sys.stderr)
    tail = StderrTail()
    proc = subprocess.Popen(cmd, env=child_env(), stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True,
                            # SIGKILL: no launch outlives this script (its ranks die with mpirun).
                            preexec_fn=die_with_parent(signal.SIGKILL))

    def tee():
        for line in proc.stderr:
            sys.stderr.buffer.write(line)
            sys.stderr.buffer.flush()
            tail.add(line.decode(errors="replace").rstrip("\n"))

    reader = threading.Thread(target=tee, daemon=True)
    reader.start()
    timed_out = False
    noted = {}
    give_up = time.monotonic() + limit
    try:
        while proc.poll() is None:
            if time.monotonic() > give_up:
                timed_out = True
                print(f"mpi_rows.py: the {transport} launch ran past its limit of {limit:.0f} s; ending it",
                      file=sys.stderr)
                break
            noted.update(descendants(proc.pid))
            try:
                proc.wait(WATCH_S)
            except subprocess.TimeoutExpired:
                pass
    finally:
        # Also on an interrupt or an error here: nothing of the launch outlives this function.
        end_launch(proc, noted)
        reader.join(TERM_GRACE_S)
    rc = proc.returncode
    return {"command": cmd, "exit_status": 128 - rc if rc < 0 else rc, "timed_out": timed_out,
            "stderr_tail": tail.lines(), "limit_s": limit}


def launch_filter(transport, hosts):
    # Across hosts every peer:mpi_remote row runs (tcp's too, and the listed ones' reasons
    # come from the launch that has a remote rank); on one host this transport's mpi rows.
    if hosts:
        return "^(pingpong|stream)/transport:[^/]+/peer:mpi_remote/"
    return f"^(pingpong|stream)/transport:{transport}/peer:mpi_"


def launch_record(rec, m=None, rows=()):
    mi = (m or {}).get("ipcmeter", {})
    return {"command": rec["command"], "rows": sorted(rows), "floors": mi.get("floors"),
            "placement": mi.get("placement"), "warnings": mi.get("warnings", []),
            "hostname": mi.get("env", {}).get("hostname"), "exit_status": rec["exit_status"],
            "stderr_tail": rec["stderr_tail"]}


def failure_reason(rec):
    if rec["timed_out"]:
        how = f"ran past its limit of {rec['limit_s']:.0f} s and was killed"
    else:
        how = f"exited with status {rec['exit_status']} and wrote no results"
    last = next((line.strip() for line in reversed(rec["stderr_tail"]) if line.strip() and set(line.strip()) != {"-"}), "")
    return f"{rec['transport']}: its mpirun launch ({rec['where']}) {how}" + (f"; last stderr line: {last}" if last else "")


def merge(results, runs):
    d = read_document(results)
    launches = d["ipcmeter"].setdefault("mpi_launches", [])
    for rec in runs:
        path = rec["out"]
        if not os.path.isfile(path):
            # No results: the rows this launch would have run stay listed, with its reason.
            why = failure_reason(rec)
            pattern = re.compile(rec["filter"])
            for b in d["benchmarks"]:
                if pattern.search(b["name"]) and b.get("error_occurred"):
                    b["error_message"] = why
            launches.append(launch_record(rec))
            continue
        m = read_document(path)
        # Each row (with its repetitions and aggregates) takes the place of the listed one of
        # the same name, so the families keep their order; a row the plain run lacked goes last.
        new = {}
        for b in m["benchmarks"]:
            new.setdefault(b.get("run_name", b["name"]), []).append(b)
        names = set(new)
        merged = []
        for b in d["benchmarks"]:
            name = b.get("run_name", b["name"])
            if name in new:
                merged += new.pop(name)
            elif name not in names:
                merged.append(b)
        d["benchmarks"] = merged + [b for rows in new.values() for b in rows]
        mi = m["ipcmeter"]
        launches.append(launch_record(rec, m, names))
        # A launch across hosts: the second host's env and the network floors between the two.
        if mi.get("peer_env") is not None:
            d["ipcmeter"]["peer_env"] = mi["peer_env"]
        for key in ("floors", "floors_end"):
            net = {k: v for k, v in (mi.get(key) or {}).items() if k.startswith("net_")}
            if net and isinstance(d["ipcmeter"].get(key), dict):
                d["ipcmeter"][key].update(net)
    atomic.write_json(results, d)


def exit_on_signal(sig, _frame):
    # SIGTERM and SIGHUP end this script as SIGINT does: through every `finally` (the
    # launch is ended, the private directory removed).
    raise SystemExit(128 + sig)


def main():
    argv = sys.argv[1:]
    flags = []
    if "--" in argv:
        at = argv.index("--")
        argv, flags = argv[:at], argv[at + 1:]
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], usage=__doc__.split("\n\n")[1])
    ap.add_argument("results")
    ap.add_argument("--hosts")
    ap.add_argument("--bin", default="build/ipcmeter")
    ap.add_argument("--remote-only", action="store_true")
    ap.add_argument("--mpirun-arg", action="append", default=[])
    a = ap.parse_args(argv)
    if a.remote_only and not a.hosts:
        print("mpi_rows.py: --remote-only needs --hosts HOSTFILE", file=sys.stderr)
        sys.exit(2)
    for path, what in ((a.results, "RESULTS.json"), (a.bin, "--bin")):
        if not os.path.isfile(path):
            print(f"mpi_rows.py: {what} {path}: no such file", file=sys.stderr)
            sys.exit(2)
    if a.hosts and not os.path.isfile(a.hosts):
        print(f"mpi_rows.py: --hosts {a.hosts}: no such file", file=sys.stderr)
        sys.exit(2)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, exit_on_signal)
    sweep_stale_dirs()
    listed = [b["name"] for b in read_document(a.results).get("benchmarks", []) if "/transport:mpi_" in b["name"] or "/peer:mpi_" in b["name"]]
    if not listed:
        print(f"mpi_rows.py: {a.results} lists no mpi rows (filtered out); nothing to run", file=sys.stderr)
        return
    runs = []
    private = None
    try:
        private = make_private_dir()
        # The local launches first, so the launch across hosts has the last word on mpi_remote rows.
        plan = [] if a.remote_only else [(t, btl, None) for t, btl in mpi_transports(a.bin).items()]
        if a.hosts:
            plan += [(t, btl, a.hosts) for t, btl in mpi_transports(a.bin, crossing_hosts=True).items()]
        for transport, btl, hosts in plan:
            where = "hosts" if hosts else "local"
            pattern = re.compile(launch_filter(transport, hosts))
            n_rows = sum(1 for name in listed if pattern.search(name))
            if n_rows == 0:
                continue
            own = os.path.join(private, f"{transport}-{where}")
            os.mkdir(own, 0o700)
            out = os.path.join(private, f"{transport}-{where}.json")
            rec = launch(a.bin, transport, btl, hosts, a.mpirun_arg, flags, out, own, n_rows)
            rec.update(transport=transport, where=where, out=out, filter=pattern.pattern)
            rec["failed"] = rec["exit_status"] != 0 or not os.path.isfile(out)
            if rec["failed"]:
                wrote = "its rows are merged with their reasons" if os.path.isfile(out) else "its rows stay listed"
                print(f"mpi_rows.py: the {transport} launch ({where}) failed (exit {rec['exit_status']}); {wrote}",
                      file=sys.stderr)
            runs.append(rec)
        merge(a.results, runs)
    except KeyboardInterrupt:
        print(f"mpi_rows.py: interrupted; {a.results} left as it was", file=sys.stderr)
        sys.exit(128 + signal.SIGINT)
    finally:
        if private:
            shutil.rmtree(private, ignore_errors=True)
    print(f"mpi rows merged into {a.results}", file=sys.stderr)
    if any(r["failed"] for r in runs):
        sys.exit(1)


if __name__ == "__main__":
    main()
