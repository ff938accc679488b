#!/usr/bin/python3
"""Soak: the quick profile in a loop, faults injected at random moments, leaks checked after
every iteration.

  soak.py BIN [--minutes N] [--seed S] [--profile P] [--json FILE] [--peer-timeout-s N] [-v]

Each iteration is one `BIN --profile P` run (quick by default) with a random plan, drawn
from --seed (the moments are fractions of how long whole runs took so far, so a replay on a
machine as busy strikes the same places):
  peer_kill, peer_stop   0-3 strikes at random moments: SIGKILL or SIGSTOP a live child of
                         the run (a peer, a pool worker, the forkserver). A stopped peer must be
                         ended by ipcmeter's watchdog (IPCMETER_PEER_TIMEOUT_S shortens it);
  and one way the run ends:
  none                   it runs to the end: exit 0, results valid JSON;
  sigint                 SIGINT to ipcmeter at a random moment: it ends, an existing results
                         file is untouched;
  sigkill                SIGKILL to ipcmeter: its orphans end by themselves, and the next
                         ipcmeter start sweeps its named objects and its temporary results
                         file (checked with a short run writing the same target);
  results_full           results on a 64 KiB tmpfs with 512 bytes free: exit 1 with one line
                         naming the file, the old file untouched, no temporary file left.

After every iteration: no process of the run (zombies included), nothing named
ipcmeter-<run pid>- in /dev/shm, /dev/mqueue or the temp directory (FIFO directories live
there), no temporary file beside the results. Across iterations: ipcmeter's peak RSS (VmHWM,
sampled) of whole runs first vs last, and the machine's Shmem (/proc/meminfo) before vs after.

Prints one line per iteration and a summary; --json writes the same as JSON. Exit 0 only
when every iteration passed. Needs root for the full-disk tmpfs (listed as skipped
otherwise). Not part of .ci/run: it is meant to run for an hour.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import faultlib as fl  # noqa: E402

PROG = "soak.py"
ENDINGS = ("none", "sigint", "sigkill", "results_full")
# A run whose log has not grown for this long is hung (ipcmeter prints a line per row and a
# progress line; on a loaded machine a whole quick run takes minutes, so the run's length is
# no measure).
HANG_S = 180
# Faults land while the profile runs: between this many seconds after the start and the end
# of the run as the whole runs so far lasted (their median; a first guess before any), so a
# loaded machine that stretches the runs does not leave their later families unstruck.
STRIKE_FROM_S = 0.5
FIRST_GUESS_RUN_S = 60.0
# The short run after a SIGKILLed one, whose start must sweep the dead run's objects.
SWEEP_RUN = ["--benchmark_filter=^floor/probe:timer$", "--benchmark_min_time=0.01"]
SAMPLE_S = 0.05
TINY_TMPFS = "size=64k"
OLD_RESULTS = b'{"old": "results from an earlier run"}\n'


def meminfo_kib(field):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def vm_hwm_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def descendants(pid):
    """Every live descendant of a process (children of children too)."""
    out, todo = [], [pid]
    while todo:
        for c in fl.children_of(todo.pop()):
            if c not in out:
                out.append(c)
                todo.append(c)
    return out


class Iteration:
    def __init__(self, n, plan):
        self.n = n
        self.plan = plan
        self.struck = []          # (kind, at_s, pid) actually delivered
        self.problems = []
        self.rc = None
        self.duration_s = None
        self.peak_rss_kib = None
        self.pid = None
        self.ran_to_end = False

    def check(self, ok, what):
        if not ok:
            self.problems.append(what)

    def as_json(self):
        return {"iteration": self.n, "pid": self.pid, "ending": self.plan["ending"],
                "strikes": [{"kind": k, "at_s": round(t, 2), "pid": p} for k, t, p in self.struck],
                "rc": self.rc, "duration_s": round(self.duration_s or 0, 1),
                "peak_rss_kib": self.peak_rss_kib, "ran_to_end": self.ran_to_end,
                "ok": not self.problems, "problems": self.problems}


class Soak:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.tmp = tempfile.mkdtemp(prefix="soak-")
        self.env = dict(os.environ, IPCMETER_PEER_TIMEOUT_S=str(args.peer_timeout_s))
        self.iterations = []
        self.can_mount = os.geteuid() == 0
        self.current = None
        self.shmem_after = None
        self.endings_left = []

    def plan(self):
        endings = list(ENDINGS) if self.can_mount else [e for e in ENDINGS if e != "results_full"]
        # Endings come in shuffled blocks holding each kind once and "none" as often as the
        # others together (whole runs are what memory is compared over), so a short soak
        # still meets every kind; the order within a block is random.
        if not self.endings_left:
            self.endings_left = endings[1:] + ["none"] * (len(endings) - 1)
            self.rng.shuffle(self.endings_left)
        ending = self.endings_left.pop()
        whole = [it.duration_s for it in self.iterations if it.ran_to_end]
        run_s = sorted(whole)[len(whole) // 2] if whole else FIRST_GUESS_RUN_S
        end_at = self.rng.uniform(STRIKE_FROM_S, run_s) if ending in ("sigint", "sigkill") else None
        last = end_at if end_at is not None else run_s
        strikes = sorted((self.rng.uniform(STRIKE_FROM_S, last), self.rng.choice(("peer_kill", "peer_stop")))
                         for _ in range(self.rng.randint(0, 3)))
        return {"ending": ending, "end_at": end_at, "strikes": strikes, "pick": self.rng.random()}

    def results_dir(self, it):
        """The results directory of one iteration; for results_full a tiny tmpfs, full."""
        d = tempfile.mkdtemp(dir=self.tmp, prefix="it%d-" % it.n)
        if it.plan["ending"] != "results_full":
            return d, False
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", TINY_TMPFS, "tmpfs", d], capture_output=True, text=True)
        if r.returncode != 0:
            it.problems.append("cannot mount a tmpfs: %s" % r.stderr.strip())
            return d, False
        with open(os.path.join(d, "r.json"), "wb") as f:
            f.write(OLD_RESULTS)
        fl.fill_leaving(d)
        return d, True

    def strike(self, it, proc, kind, at):
        kids = [k for k in descendants(proc.pid) if fl.proc_state(k) not in (None, "Z", "T")]
        if not kids:
            return
        # The pick is drawn with the plan, so the same seed strikes the same position.
        victim = kids[int(it.plan["pick"] * len(kids)) % len(kids)]
        try:
            os.kill(victim, signal.SIGKILL if kind == "peer_kill" else signal.SIGSTOP)
            it.struck.append((kind, at, victim))
        except ProcessLookupError:
            pass

    def run_one(self, n):
        it = Iteration(n, self.plan())
        d, mounted = self.results_dir(it)
        out = os.path.join(d, "r.json")
        log_path = os.path.join(self.tmp, "it%d.log" % n)
        old = None
        if os.path.exists(out):
            with open(out, "rb") as f:
                old = f.read()
        start = time.monotonic()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([self.args.bin, "--profile", self.args.profile, "--benchmark_out=" + out],
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env)
        it.pid = proc.pid
        seen = set()
        stopped = []
        strikes = list(it.plan["strikes"])
        ending, end_at = it.plan["ending"], it.plan["end_at"]
        hwm = None
        last_size, last_growth = 0, start
        self.current = proc
        try:
            while proc.poll() is None:
                now = time.monotonic() - start
                size = os.path.getsize(log_path)
                if size != last_size:
                    last_size, last_growth = size, time.monotonic()
                seen.update(descendants(proc.pid))
                h = vm_hwm_kib(proc.pid)
                hwm = h if h is not None else hwm
                while strikes and strikes[0][0] <= now:
                    at, kind = strikes.pop(0)
                    self.strike(it, proc, kind, at)
                    stopped += [p for k, _, p in it.struck[-1:] if k == "peer_stop"]
                if end_at is not None and now >= end_at:
                    proc.send_signal(signal.SIGINT if ending == "sigint" else signal.SIGKILL)
                    it.struck.append((ending, now, proc.pid))
                    end_at = None
                if time.monotonic() - last_growth > HANG_S:
                    it.problems.append("hung: no output for %d s, %.0f s into the run; killed" % (HANG_S, now))
                    it.struck.append(("soak_kill_hung", now, proc.pid))
                    proc.kill()
                    proc.wait()
                    break
                time.sleep(SAMPLE_S)
            it.rc = proc.wait()
            it.duration_s = time.monotonic() - start
            it.peak_rss_kib = hwm
            self.check_after(it, proc.pid, seen, stopped, d, out, old, log_path)
        finally:
            for p in seen | set(fl.peers_naming(proc.pid)):
                try:
                    os.kill(p, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if mounted:
                subprocess.run(["umount", "-l", d], capture_output=True)
            shutil.rmtree(d, ignore_errors=True)
        return it

    def check_after(self, it, pid, seen, stopped, d, out, old, log_path):
        ending = it.plan["ending"]
        killed = any(k in ("sigkill", "soak_kill_hung") for k, _, _ in it.struck)
        interrupted = any(k == "sigint" for k, _, _ in it.struck)
        # A stopped process that outlived the run could never end by itself: SIGCONT shows
        # whether it then goes (a late watchdog) or stays (a leak).
        for p in stopped:
            try:
                os.kill(p, signal.SIGCONT)
            except ProcessLookupError:
                pass
        left = fl.wait_gone(sorted(seen | set(fl.peers_naming(pid))))
        it.check(not left, "processes left: %s" % "; ".join(fl.describe_pid(p) for p in left))
        if killed:
            # The dead run's objects, and its temporary results file beside the target, are
            # the next start's to sweep: a short run writing the same target.
            subprocess.run([self.args.bin] + SWEEP_RUN + ["--benchmark_out=" + out], capture_output=True,
                           env=self.env, timeout=60)
        objs = fl.objects_of(pid)
        if objs:
            time.sleep(fl.GRACE_S)
            objs = fl.objects_of(pid)
        it.check(not objs, "named objects left: %s" % objs)
        for path in objs:
            fl.remove_object(path)
        stray = [n for n in os.listdir(d) if n not in ("r.json", "filler")]
        it.check(not stray, "files left beside the results: %s" % stray)
        with open(log_path, "rb") as f:
            tail = f.read().decode(errors="replace").strip().splitlines()[-3:]
        if ending == "none" and not killed and not interrupted:
            it.ran_to_end = it.rc == 0
            it.check(it.rc == 0, "exit %s without a fault that ends the run: %s" % (it.rc, tail))
            loaded, problem = fl.load_results(out)
            it.check(loaded is not None and problem is None, "results not valid JSON: %s" % problem)
        elif ending == "results_full":
            it.check(it.rc == 1, "exit %s on a full results disk (want 1): %s" % (it.rc, tail))
            with open(out, "rb") as f:
                it.check(f.read() == OLD_RESULTS, "the old results file was changed")
        elif interrupted:
            it.check(it.rc in (-signal.SIGINT, 1, 0), "exit %s after SIGINT" % it.rc)
            loaded, problem = fl.load_results(out)
            it.check(problem is None, "results after SIGINT not valid JSON: %s" % problem)

    def stop_current(self, signum, frame):
        """Ctrl-C or SIGTERM to the soak: the run under way ends as an interrupted run would."""
        if self.current is not None and self.current.poll() is None:
            self.current.send_signal(signal.SIGINT)
            try:
                self.current.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.current.kill()
        raise KeyboardInterrupt

    def run(self):
        signal.signal(signal.SIGTERM, self.stop_current)
        signal.signal(signal.SIGINT, self.stop_current)
        until = time.monotonic() + self.args.minutes * 60
        self.shmem_before = meminfo_kib("Shmem")
        n = 0
        while time.monotonic() < until:
            n += 1
            it = self.run_one(n)
            self.iterations.append(it)
            strikes = ",".join("%s@%.1f" % (k, t) for k, t, _ in it.struck) or "-"
            print("%3d %-12s rc=%-4s %5.1fs rss=%s KiB %s %s" % (
                n, it.plan["ending"], it.rc, it.duration_s or 0, it.peak_rss_kib, strikes,
                "ok" if not it.problems else "FAIL: " + " | ".join(it.problems)), flush=True)
        self.shmem_after = meminfo_kib("Shmem")

    def summary(self):
        its = self.iterations
        kinds = {}
        for it in its:
            for k, _, _ in it.struck:
                kinds[k] = kinds.get(k, 0) + 1
        whole = [it for it in its if it.ran_to_end and it.peak_rss_kib]
        return {
            "minutes": self.args.minutes, "seed": self.args.seed, "profile": self.args.profile,
            "iterations": len(its), "passed": sum(not it.problems for it in its),
            "faults_injected": kinds,
            "endings": {e: sum(it.plan["ending"] == e for it in its) for e in ENDINGS},
            "peak_rss_kib_whole_runs": {"first": whole[0].peak_rss_kib if whole else None,
                                        "last": whole[-1].peak_rss_kib if whole else None,
                                        "min": min((it.peak_rss_kib for it in whole), default=None),
                                        "max": max((it.peak_rss_kib for it in whole), default=None),
                                        "runs": len(whole)},
            "shmem_kib": {"before": self.shmem_before, "after": self.shmem_after},
            "failures": [it.as_json() for it in its if it.problems],
            "iterations_detail": [it.as_json() for it in its],
        }


def main(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bin", metavar="BIN", help="the ipcmeter binary")
    p.add_argument("--minutes", type=float, default=60, help="how long to go on starting iterations (default %(default)s)")
    p.add_argument("--seed", type=int, default=None, help="seed of the random plans (default: from the clock, printed)")
    p.add_argument("--profile", default="quick", help="the profile each iteration runs (default %(default)s)")
    p.add_argument("--json", metavar="FILE", help="write the summary and every iteration as JSON")
    p.add_argument("--peer-timeout-s", type=int, default=1, help="IPCMETER_PEER_TIMEOUT_S for the runs (default %(default)s)")
    args = p.parse_args(argv)
    if not os.access(args.bin, os.X_OK):
        print("%s: %s: not an executable" % (PROG, args.bin), file=sys.stderr)
        return 2
    if args.minutes <= 0:
        print("%s: --minutes must be positive, got %g" % (PROG, args.minutes), file=sys.stderr)
        return 2
    if args.seed is None:
        args.seed = int(time.time())
    print("%s: %s --profile %s for %g min, seed %d" % (PROG, args.bin, args.profile, args.minutes, args.seed), flush=True)
    soak = Soak(args)
    try:
        soak.run()
    except KeyboardInterrupt:
        print("%s: interrupted; the summary covers the iterations that finished" % PROG, flush=True)
    finally:
        shutil.rmtree(soak.tmp, ignore_errors=True)
    s = soak.summary()
    print()
    print("iterations %d, passed %d; faults injected: %s; endings: %s" % (
        s["iterations"], s["passed"],
        ", ".join("%s %d" % kv for kv in sorted(s["faults_injected"].items())) or "none",
        ", ".join("%s %d" % kv for kv in s["endings"].items())))
    r = s["peak_rss_kib_whole_runs"]
    print("ipcmeter peak RSS over %d whole runs: first %s KiB, last %s KiB, range %s..%s KiB" % (
        r["runs"], r["first"], r["last"], r["min"], r["max"]))
    print("Shmem before %s KiB, after %s KiB" % (s["shmem_kib"]["before"], s["shmem_kib"]["after"]))
    if args.json:
        tmp = args.json + ".tmp-%d" % os.getpid()
        with open(tmp, "w") as f:
            json.dump(s, f, indent=1)
        os.replace(tmp, args.json)
    return 0 if s["passed"] == s["iterations"] else 1


if __name__ == "__main__":
    sys.exit(main())
