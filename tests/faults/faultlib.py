"""What the fault-injection suite needs to watch one ipcmeter run: its peers, its named IPC
objects, its results file; and to tell afterwards whether anything was left behind.

Only objects and processes of runs this suite started are looked at (names carry the run's
pid, peers carry parent=<pid>), so other people's runs on a shared machine do not count.
Library module of run_faults.py; not a command.
"""

import json
import os
import re
import stat
import signal
import subprocess
import time

NAME_PREFIX = "ipcmeter-"
SHM_DIR = "/dev/shm"
MQ_DIR = "/dev/mqueue"
PEER_FLAG = b"--ipcmeter-peer"
# How long a process or object may take to go away after its owner was told to end it.
GRACE_S = 3.0
POLL_S = 0.01


def temp_root():
    t = os.environ.get("TMPDIR", "")
    return t if t.startswith("/") else "/tmp"


def object_dirs():
    return [d for d in (SHM_DIR, MQ_DIR, temp_root()) if os.path.isdir(d)]


def objects_of(pid):
    """Paths of named objects whose name carries this run's pid."""
    stem = "%s%d-" % (NAME_PREFIX, pid)
    found = []
    for d in object_dirs():
        try:
            names = os.listdir(d)
        except OSError:
            continue
        found += [os.path.join(d, n) for n in names if n.startswith(stem)]
    return sorted(found)


def proc_state(pid):
    """The one-letter state from /proc/<pid>/stat, or None when the pid is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces: the state follows the last ')'.
    return data[data.rindex(b")") + 2:data.rindex(b")") + 3].decode()


def ppid_of(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    return int(data[data.rindex(b")") + 2:].split()[1])


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def children_of(pid):
    """Direct children of a process (every thread's), from /proc/<pid>/task/*/children."""
    kids = []
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return kids
    for t in tasks:
        try:
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                kids += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return sorted(set(kids))


def peers_naming(parent):
    """Spawned peers whose argv says parent=<pid>, wherever they were reparented to."""
    want = b"parent=%d" % parent
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        argv = cmdline(int(entry))
        if PEER_FLAG in argv and want in argv:
            out.append(int(entry))
    return out


def alive(pid):
    """True for a running or stopped process, and for a zombie (it is not gone yet)."""
    return proc_state(pid) is not None


def wait_gone(pids, timeout=GRACE_S):
    """Waits for every pid to vanish; returns those still there (zombies included)."""
    until = time.monotonic() + timeout
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < until:
        time.sleep(POLL_S)
        left = [p for p in left if alive(p)]
    return left


def describe_pid(pid):
    state = proc_state(pid)
    argv = b" ".join(cmdline(pid)[:3]).decode(errors="replace")
    return "pid %d (state %s, ppid %s) %s" % (pid, state, ppid_of(pid), argv)


class Run:
    """One ipcmeter run: started, watched, signalled; remembers every peer it saw."""

    def __init__(self, binary, args, env_extra=None, cwd=None):
        env = dict(os.environ)
        env.update(env_extra or {})
        self.binary = os.path.realpath(binary)
        self.proc = subprocess.Popen([binary] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, env=env, cwd=cwd)
        self.pid = self.proc.pid
        self.seen_children = set()
        self.stdout = self.stderr = ""
        self.returncode = None

    def children(self):
        kids = children_of(self.pid)
        self.seen_children.update(kids)
        return kids

    def running(self):
        return self.proc.poll() is None

    def is_peer(self, pid):
        """A child running ipcmeter's own image (a forked or spawned peer), not a daemon the run
        started for a transport (iceoryx's RouDi) nor an interpreter of the py_* rows."""
        try:
            return os.path.realpath("/proc/%d/exe" % pid) == self.binary
        except OSError:
            return False

    def wait_child(self, alive_for, timeout, exclude=()):
        """The first peer of the run that has existed for at least `alive_for` seconds (a peer
        in a long measuring call, not one of Google Benchmark's short first calls), or None."""
        first_seen = {}
        until = time.monotonic() + timeout
        while time.monotonic() < until and self.running():
            now = time.monotonic()
            for c in self.children():
                if c in exclude or proc_state(c) in (None, "Z") or not self.is_peer(c):
                    continue
                first_seen.setdefault(c, now)
                if now - first_seen[c] >= alive_for:
                    return c
            time.sleep(POLL_S)
        return None

    def signal(self, sig):
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def finish(self, timeout):
        """Waits for the run to end (killing it after `timeout`); returns its exit code."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            err += b"\n[fault suite: run killed after %gs]" % timeout
        self.stdout = out.decode(errors="replace")
        self.stderr = err.decode(errors="replace")
        self.returncode = self.proc.returncode
        return self.returncode

    def leftovers(self):
        """(objects, processes) this run left: named objects with its pid, peers naming it,
        children it was seen with that still exist (zombies count)."""
        pids = set(self.seen_children) | set(peers_naming(self.pid))
        procs = wait_gone(sorted(pids))
        if alive(self.pid):
            procs.append(self.pid)
        objs = objects_of(self.pid)
        if objs:
            # A slow tear-down is not a leak; give the objects the same grace as processes.
            until = time.monotonic() + GRACE_S
            while objs and time.monotonic() < until:
                time.sleep(POLL_S)
                objs = objects_of(self.pid)
        return objs, [describe_pid(p) for p in procs]

    def kill_everything(self):
        """After a failed case: make sure nothing of this run survives into the next case."""
        for p in set(self.seen_children) | set(peers_naming(self.pid)) | {self.pid}:
            try:
                os.kill(p, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.returncode is None:
            self.finish(10)
        for path in objects_of(self.pid):
            remove_object(path)


def fill_leaving(directory, free_bytes=512):
    """Fills the (tiny tmpfs) directory with a file named "filler" until the disk is full, then
    gives back free_bytes: a temporary file still opens there, results do not fit."""
    filler = os.path.join(directory, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 1024)
    except OSError:
        pass
    os.close(fd)
    os.truncate(filler, os.path.getsize(filler) - free_bytes)


def remove_object(path):
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            for n in os.listdir(path):
                os.unlink(os.path.join(path, n))
            os.rmdir(path)
        else:
            os.unlink(path)
    except OSError:
        pass


def load_results(path):
    """(results dict or None, problem or None): None/None when the file is absent."""
    if not os.path.exists(path):
        return None, None
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8")), None
    except (ValueError, UnicodeDecodeError, OSError) as e:
        return None, "results file %s is not valid JSON: %s" % (path, e)


def benchmarks_by_name(results):
    """full benchmark name -> benchmark entry."""
    out = {}
    for b in (results or {}).get("benchmarks", []):
        out[b.get("name")] = b
    return out


def unsafe_objects(paths, pid):
    """Problems with a live run's named objects: each must be this user's, mode 0600 (a
    directory 0700 holding only 0600 FIFOs), not a symlink, and named with 64 random bits."""
    # (.lock: the lock file iceoryx makes beside a runtime's socket, named after it.)
    name_rx = re.compile(r"^%s%d-[0-9a-f]{16}-[a-z0-9_]+(\.lock)?$" % (NAME_PREFIX, pid))
    problems = []
    for path in paths:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        name = os.path.basename(path)
        if not name_rx.match(name):
            problems.append("%s: name without 64 random bits" % path)
        if stat.S_ISLNK(st.st_mode):
            problems.append("%s: a symlink" % path)
        if st.st_uid != os.geteuid():
            problems.append("%s: owned by uid %d" % (path, st.st_uid))
        want = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
        if stat.S_IMODE(st.st_mode) != want:
            problems.append("%s: mode %o, expected %o" % (path, stat.S_IMODE(st.st_mode), want))
        if stat.S_ISDIR(st.st_mode):
            for n in os.listdir(path):
                try:
                    inner = os.lstat(os.path.join(path, n))
                except FileNotFoundError:
                    continue
                if not stat.S_ISFIFO(inner.st_mode) or stat.S_IMODE(inner.st_mode) != 0o600:
                    problems.append("%s/%s: not a 0600 FIFO (mode %o)" % (path, n, inner.st_mode))
    return problems
