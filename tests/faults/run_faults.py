#!/usr/bin/python3
"""Fault injection: strike ipcmeter runs and prove no process, IPC object or result is lost.

  run_faults.py BIN [--filter REGEX] [--only FAULT[,FAULT...]] [--peer-timeout-s N] [-v]

BIN is the ipcmeter binary. The benchmarks struck are those of `BIN --profile quick
--benchmark_list_tests` that match --filter (a Python regular expression; default: pingpong
and stream at 64 B over every transport that crosses processes, with fork and spawn peers),
so a new family whose benchmarks have a process peer is covered by widening --filter.

Faults (names for --only):
  kill_child    SIGKILL the peer in the middle of each benchmark
  stop_child    SIGSTOP the peer: the watchdog times out, kills it, the benchmark errors,
                the next benchmark runs (IPCMETER_PEER_TIMEOUT_S shortens the 10 s timeout)
  sigint, sigterm   the signal to ipcmeter mid-run: children end, objects removed, the
                results file absent or valid JSON, an existing one untouched (one run per
                transport x peer, of one or the other: they take the same handler, so the
                links alternate, sigint on the first family, sigterm on the last)
  kill_parent   SIGKILL ipcmeter (one run per transport x peer, families alternating): orphaned peers end by themselves (PR_SET_PDEATHSIG) and
                the next run sweeps the stale objects
  child_exit, child_garbage   a peer that exits with an error, or answers garbage
                (the test-only hook IPCMETER_FAULT=exit:N / garbage:N, see harness/core/fault_hooks.h)
  results_full, results_readonly   the results directory on a 64 KiB tmpfs that is full, or
                mounted read-only: a clear error, exit non-zero, an existing file survives
  cpu_hog       a spinning process beside the run: the run completes and warns of noise
  planted       symlinks planted at a dead run's object names: the sweep does not follow them
Every peer struck mid-run also has its named objects checked while they exist: owned by
this user, mode 0600 (FIFOs inside a 0700 directory), never a symlink, names with 64
random bits.

After every case: no ipcmeter process of the run left (zombies included), nothing named
ipcmeter-<run pid>- left in /dev/shm, /dev/mqueue or the temp directory.

Prints a table (fault, cases, survived, leaked objects, leaked processes) and ends with the
line "N passed, M failed". Exit 0 only when every case passed.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import faultlib as fl  # noqa: E402

PROG = "run_faults.py"
DEFAULT_FILTER = r"^(pingpong|stream)/transport:[^/]+/peer:(fork|spawn)/size:64(/wait:block)?/iterations:1/manual_time$"
# Long enough that a struck benchmark is always mid-measurement when struck; a struck
# benchmark ends at once (or after the peer timeout), so this is not waited for.
STRIKE_MIN_TIME_S = 20
# The hooks strike after a count of messages, not at a moment, so their rows need only outlast
# HOOK_AFTER_MSGS; a stream row hears its peer only at the row's end (the peer's one ack), so
# a long min time would make every struck stream row last it (8 x 20 s > RUN_LIMIT_S).
HOOK_MIN_TIME_S = 2
# The SIGSTOP chain ends with one unstruck benchmark that must complete: a short min time.
STOP_MIN_TIME_S = 2
# A peer seen alive this long is in one of Google Benchmark's long measuring calls, not one
# of its short first calls that end by themselves.
MID_RUN_S = 0.25
# The shortened peer timeout (IPCMETER_PEER_TIMEOUT_S) used by default.
PEER_TIMEOUT_S = 1
CHILD_WAIT_S = 30
# How long a SIGSTOPped peer may take to show as stopped.
STOP_SEEN_S = 0.5
RUN_LIMIT_S = 120
# A fault hook strikes after this many messages: past Google Benchmark's first short calls.
HOOK_AFTER_MSGS = 2000
# The benchmark that follows a SIGSTOPped one and must run normally.
FOLLOW_UP = "floor/probe:timer"
NOISE_WARNING = "other work used"
TINY_TMPFS = "size=64k"


def counters_of_a_result(results, family):
    """What a benchmark of `family` reports when it ran: its primary and required counters
    that are measures (higher_is_better true or false), as the run's ipcmeter.schema says; an
    errored benchmark must carry none of them. Facts (floor_c2c_rtt_ns, window_msgs) are not
    results. None when the file has no schema (the build under test always writes one)."""
    fam = (((results or {}).get("ipcmeter") or {}).get("schema") or {}).get("families", {}).get(family)
    if not isinstance(fam, dict):
        return None
    return sorted(name for name, info in fam.get("counters", {}).items()
                  if (info.get("primary") or info.get("required"))
                  and info.get("higher_is_better") is not None)


class Case:
    def __init__(self, fault, label):
        self.fault, self.label = fault, label
        self.problems = []
        self.leaked_objects = []
        self.leaked_procs = []
        self.na = None  # reason the case does not apply here

    @property
    def ok(self):
        return not self.problems and not self.leaked_objects and not self.leaked_procs

    def check(self, cond, problem):
        if not cond:
            self.problems.append(problem)
        return cond


class Suite:
    def __init__(self, args):
        self.fragile = set()
        self.bin = os.path.abspath(args.bin)
        self.verbose = args.verbose
        self.peer_timeout = args.peer_timeout_s
        self.env = {"IPCMETER_PEER_TIMEOUT_S": str(self.peer_timeout)}
        self.cases = []
        self.tmp = tempfile.mkdtemp(prefix="faults-")

    # ---------------------------------------------------------------- helpers

    def base_args(self, names, min_time, out=None):
        args = ["--profile", "quick", "--benchmark_filter=^(%s)$" % "|".join(re.escape(n) for n in names),
                "--benchmark_min_time=%g" % min_time, "--benchmark_color=false"]
        if out:
            args += ["--benchmark_out=" + out, "--benchmark_out_format=json"]
        return args

    def start(self, names, min_time, out=None, env=None, cwd=None):
        e = dict(self.env)
        e.update(env or {})
        return fl.Run(self.bin, self.base_args(names, min_time, out), e, cwd)

    def new_case(self, fault, label):
        c = Case(fault, label)
        self.cases.append(c)
        return c

    def log(self, case):
        if case.na:
            state = "n/a"
        else:
            state = "ok" if case.ok else "FAILED"
        if self.verbose or not case.ok:
            print("  %-14s %-62s %s" % (case.fault, case.label, state), flush=True)
            for p in case.problems + ["leaked object " + o for o in case.leaked_objects] + \
                    ["leaked process " + p for p in case.leaked_procs]:
                print("      - " + p, flush=True)

    def end_run(self, run, cases, out=None, expect_exit=0):
        """Finishes a run and charges what it left to its cases; returns the results dict."""
        rc = run.finish(RUN_LIMIT_S)
        objs, procs = run.leftovers()
        results, problem = (None, None)
        if out:
            results, problem = fl.load_results(out)
        for c in cases:
            if expect_exit is not None:
                c.check(rc == expect_exit, "ipcmeter exited %s, expected %s; stderr: %s"
                        % (rc, expect_exit, run.stderr.strip()[-300:]))
            if problem:
                c.problems.append(problem)
        if cases:
            cases[-1].leaked_objects += objs
            cases[-1].leaked_procs += procs
        if objs or procs or rc != expect_exit:
            run.kill_everything()
        return results

    def strike_child(self, run, sig, exclude):
        """Waits for a peer in mid-measurement and signals it; returns (pid, objects then)."""
        while True:
            pid = run.wait_child(MID_RUN_S, CHILD_WAIT_S, exclude)
            if pid is None:
                return None, []
            objs = [o for o in fl.objects_of(run.pid) if not o.endswith("-fifos")]
            if fl.proc_state(pid) in (None, "Z"):
                exclude = set(exclude) | {pid}
                continue  # it ended by itself between the look and the strike
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                exclude = set(exclude) | {pid}
                continue
            return pid, objs

    # ----------------------------------------------------------------- faults

    def chain(self, fault, targets, sig, min_time, expect, env=None, follow_up=None):
        """One run over a group of targets; each one's peer is struck with `sig` as it
        appears. The struck peer must be gone and its benchmark's objects removed by the time
        the next peer is looked for; its benchmark must end with an error matching `expect`."""
        out = os.path.join(self.tmp, "%s.json" % fault)
        names = list(targets) + ([follow_up] if follow_up else [])
        run = self.start(names, min_time, out, env)
        cases, struck = [], []
        for t in targets:
            c = self.new_case(fault, t)
            cases.append(c)
            pid, objs = self.strike_child(run, sig, struck) if sig else (None, [])
            if sig and not c.check(pid is not None, "no peer of %s seen mid-run" % t):
                continue
            if pid:
                struck.append(pid)
                for problem in fl.unsafe_objects(objs, run.pid):
                    c.problems.append(problem)
                if sig == signal.SIGSTOP:
                    # Seen stopped, or already killed by the watchdog; delivery may take a moment.
                    until = time.monotonic() + STOP_SEEN_S
                    while fl.proc_state(pid) not in ("T", "t", "Z", None) and time.monotonic() < until:
                        time.sleep(fl.POLL_S)
                    state = fl.proc_state(pid)
                    c.check(state in ("T", "t", "Z", None), "peer did not stop (state %s)" % state)
                left = fl.wait_gone([pid], self.peer_timeout + fl.GRACE_S)
                c.leaked_procs += [fl.describe_pid(p) for p in left]
                until = time.monotonic() + fl.GRACE_S
                while time.monotonic() < until and any(os.path.lexists(o) for o in objs):
                    time.sleep(fl.POLL_S)
                c.leaked_objects += [o for o in objs if os.path.lexists(o)]
        results = self.end_run(run, cases, out)
        by_name = fl.benchmarks_by_name(results)
        for c in cases:
            b = by_name.get(c.label)
            if not c.check(b is not None, "no result listed for it"):
                continue
            msg = b.get("error_message", "")
            c.check(b.get("error_occurred") is True, "ended without an error")
            c.check(re.search(expect, msg) is not None, "error message %r does not match %r" % (msg, expect))
            result_counters = counters_of_a_result(results, c.label.split("/", 1)[0])
            if c.check(result_counters is not None, "its family is not in the results' ipcmeter.schema"):
                counted = [k for k in result_counters if k in b]
                c.check(not counted, "an errored benchmark carries results: %s" % counted)
        if follow_up:
            c = self.new_case(fault, follow_up + " (runs after)")
            b = by_name.get(follow_up)
            c.check(b is not None and not b.get("error_occurred"), "the benchmark after the struck ones did not run cleanly")
            cases.append(c)
        for c in cases:
            self.log(c)

    def groups(self, targets):
        """Targets grouped by family and peer: one run per group keeps start-up costs down."""
        out = {}
        for t in targets:
            fam = t.split("/", 1)[0]
            m = re.search(r"/peer:([a-z_]+)", t)
            out.setdefault((fam, m.group(1) if m else "?"), []).append(t)
        return list(out.values())

    def kill_child(self, targets):
        targets = self.robust_only("kill_child", targets)
        for g in self.groups(targets):
            self.chain("kill_child", g, signal.SIGKILL, STRIKE_MIN_TIME_S, r"killed by signal|peer|closed|end of file")

    def robust_only(self, fault, targets):
        keep = []
        for t in targets:
            m = re.search(r"/transport:([^/]+)", t)
            if m and m.group(1) in self.fragile:
                c = self.new_case(fault, t)
                c.na = ("%s's locks are not robust: a peer that dies, stops or ends mid-row can leave the link "
                        "wedged, and ipcmeter then ends the run (see survives_dead_peer)" % m.group(1))
            else:
                keep.append(t)
        return keep

    def stop_child(self, targets):
        targets = self.robust_only("stop_child", targets)
        for g in self.groups(targets):
            self.chain("stop_child", g, signal.SIGSTOP, STOP_MIN_TIME_S,
                       r"stopped answering for %d s and was killed" % self.peer_timeout, follow_up=FOLLOW_UP)

    def child_hook(self, fault, hook, expect, targets):
        # A peer that exits or is ended for garbage mid-row leaves the link as a struck one does,
        # possibly with a lock of a transport that is not robust held.
        targets = self.robust_only(fault, targets)
        for g in self.groups(targets):
            self.chain(fault, g, None, HOOK_MIN_TIME_S, expect, env={"IPCMETER_FAULT": "%s:%d" % (hook, HOOK_AFTER_MSGS)})

    def child_exit(self, targets):
        self.child_hook("child_exit", "exit", r"exited with status|exiting on purpose|peer", targets)

    def child_garbage(self, targets):
        self.child_hook("child_garbage", "garbage", r"checksum|corrupt|size|kind|sequence|peer", targets)

    def parent_signal(self, fault, sig, targets):
        """One run per target: the signal to ipcmeter mid-run, an older results file at the
        target path that must survive untouched."""
        pending_sweep = []  # (case, dead run pid) for kill_parent: the next run must sweep
        for t in targets:
            c = self.new_case(fault, t)
            d = tempfile.mkdtemp(dir=self.tmp)
            out = os.path.join(d, "r.json")
            old = b'{"old": "results from an earlier run"}\n'
            with open(out, "wb") as f:
                f.write(old)
            run = self.start([t], STRIKE_MIN_TIME_S, out)
            pid = run.wait_child(MID_RUN_S, CHILD_WAIT_S)
            # This run has started benchmarking, so its start-up sweep is done.
            for prev_case, prev_pid in pending_sweep:
                prev_case.leaked_objects += fl.objects_of(prev_pid)
                self.log(prev_case)
            pending_sweep = []
            if not c.check(pid is not None, "no peer seen mid-run"):
                run.kill_everything()
                self.log(c)
                continue
            objs = [o for o in fl.objects_of(run.pid)]
            c.check(bool(objs) or "socketpair" in t or "pipe" in t or "tcp" in t, "no named object seen while running")
            run.signal(sig)
            rc = run.finish(RUN_LIMIT_S)
            c.check(rc == -sig, "ipcmeter ended with %s, expected death by signal %d" % (rc, sig))
            left = fl.wait_gone(sorted(run.seen_children | set(fl.peers_naming(run.pid))))
            c.leaked_procs += [fl.describe_pid(p) for p in left]
            with open(out, "rb") as f:
                c.check(f.read() == old, "the existing results file was changed")
            stray = [n for n in os.listdir(d) if n != "r.json"]
            if sig == signal.SIGKILL:
                # Nothing can clean up after SIGKILL: a partial temporary file may remain
                # beside the target (never at it); the named objects wait for the next run.
                for n in stray:
                    c.check(n.startswith("r.json.tmp-"), "unexpected file %s" % n)
                pending_sweep.append((c, run.pid))
            else:
                c.check(not stray, "files left beside the results: %s" % stray)
                c.leaked_objects += fl.objects_of(run.pid)
                self.log(c)
            if c.leaked_procs:
                run.kill_everything()
        if pending_sweep:
            sweep = self.start([FOLLOW_UP], 0.01)
            sweep.finish(RUN_LIMIT_S)
            for prev_case, prev_pid in pending_sweep:
                prev_case.leaked_objects += fl.objects_of(prev_pid)
                self.log(prev_case)

    @staticmethod
    def one_per_link(targets, pick):
        """One target per transport x peer (each costs a run of its own): pick(i, n) chooses
        among that link's n targets (one per family), i counting the links."""
        links = {}
        for t in targets:
            key = tuple(re.findall(r"/(?:transport|peer):[^/]+", t))
            links.setdefault(key, []).append(t)
        return [ts[pick(i, len(ts)) % len(ts)] for i, ts in enumerate(links.values())]

    # SIGINT and SIGTERM take the same handler (launcher.cpp, kHandledSignals), so each link is
    # struck with one of them, alternating: a run each for both would cost the suite ~1 min more
    # (2026-12-02) and test the same code twice.
    def sigint(self, targets):
        self.parent_signal("sigint", signal.SIGINT, self.one_per_link(targets, lambda i, n: 0)[0::2])

    def sigterm(self, targets):
        self.parent_signal("sigterm", signal.SIGTERM, self.one_per_link(targets, lambda i, n: n - 1)[1::2])

    def kill_parent(self, targets):
        self.parent_signal("kill_parent", signal.SIGKILL, self.one_per_link(targets, lambda i, n: i))

    def results_dir_fault(self, fault, readonly):
        c = self.new_case(fault, "--benchmark_out on a %s tmpfs" % ("read-only" if readonly else "full 64 KiB"))
        d = tempfile.mkdtemp(dir=self.tmp)
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", TINY_TMPFS, "tmpfs", d],
                                 capture_output=True, text=True)
        if mounted.returncode != 0:
            c.na = "cannot mount a tmpfs here (%s)" % mounted.stderr.strip()
            self.log(c)
            return
        try:
            out = os.path.join(d, "r.json")
            old = b'{"old": "results from an earlier run"}\n'
            with open(out, "wb") as f:
                f.write(old)
            if readonly:
                subprocess.run(["mount", "-o", "remount,ro", d], check=True)
            else:
                # Leave a few hundred bytes: the temporary file opens, the results do not fit.
                fl.fill_leaving(d)
            names = [FOLLOW_UP, "floor/probe:syscall"]
            run = self.start(names, 0.01, out)
            rc = run.finish(RUN_LIMIT_S)
            c.check(rc not in (0, None), "ipcmeter exited 0 although the results could not be written")
            err = run.stderr.strip().splitlines()
            c.check(any(out in line or "r.json" in line for line in err),
                    "no error naming the results file on stderr: %r" % err[-3:])
            with open(out, "rb") as f:
                c.check(f.read() == old, "the existing results file was changed")
            stray = [n for n in os.listdir(d) if n not in ("r.json", "filler")]
            c.check(not stray, "files left in the results directory: %s" % stray)
            objs, procs = run.leftovers()
            c.leaked_objects += objs
            c.leaked_procs += procs
        finally:
            subprocess.run(["umount", "-l", d], capture_output=True)
        self.log(c)

    def results_full(self, targets):
        self.results_dir_fault("results_full", readonly=False)

    def results_readonly(self, targets):
        self.results_dir_fault("results_readonly", readonly=True)

    def cpu_hog(self, targets):
        c = self.new_case("cpu_hog", "a spinning process per CPU beside the run")
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
        try:
            out = os.path.join(self.tmp, "hog.json")
            run = self.start([targets[0], FOLLOW_UP] if targets else [FOLLOW_UP], 0.2, out)
            results = self.end_run(run, [c], out)
        finally:
            for h in hogs:
                h.kill()
                h.wait()
        if results:
            warnings = results.get("ipcmeter", {}).get("warnings", [])
            c.check(any(NOISE_WARNING in w for w in warnings), "no noise warning in the results: %s" % warnings)
            c.check(NOISE_WARNING in run.stdout + run.stderr, "no noise warning on the console")
            for b in results.get("benchmarks", []):
                c.check(not b.get("error_occurred"), "%s errored: %s" % (b.get("name"), b.get("error_message")))
        else:
            c.check(False, "no results file")
        self.log(c)

    def planted(self, targets):
        """Objects planted at the names a dead run would have used, as symlinks to a victim:
        the start-up sweep must neither follow them nor touch what they point to."""
        c = self.new_case("planted", "symlinks at dead runs' object names, swept at start-up")
        dead = subprocess.Popen(["true"])
        dead.wait()
        victim = tempfile.mkdtemp(dir=self.tmp)
        precious = os.path.join(victim, "precious")
        with open(precious, "w") as f:
            f.write("keep me")
        links = [os.path.join(d, "%s%d-0123456789abcdef-%s" % (fl.NAME_PREFIX, dead.pid, tag))
                 for d, tag in ((fl.temp_root(), "fifos"), (fl.SHM_DIR, "ring"))]
        try:
            for link in links:
                os.symlink(victim if link.endswith("fifos") else precious, link)
            run = self.start([FOLLOW_UP], 0.01)
            self.end_run(run, [c])
            c.check(os.path.isfile(precious) and open(precious).read() == "keep me",
                    "the sweep followed a planted symlink and touched its target")
        finally:
            for link in links:
                if os.path.islink(link):
                    os.unlink(link)
        self.log(c)

    # ------------------------------------------------------------------ plan

    def targets(self, pattern):
        listed = subprocess.run([self.bin, "--profile", "quick", "--benchmark_list_tests"],
                                capture_output=True, text=True, timeout=60)
        if listed.returncode != 0:
            raise SystemExit("%s: %s --benchmark_list_tests failed: %s" % (PROG, self.bin, listed.stderr.strip()))
        probe_out = os.path.join(self.tmp, "probe.json")
        probe = self.start([FOLLOW_UP], 0.01, probe_out)
        results = self.end_run(probe, [], probe_out)
        transports = (results or {}).get("ipcmeter", {}).get("transports", {})
        local_only = {t for t, d in transports.items() if not d.get("crosses_processes", True)}
        # A peer struck inside such a transport's own lock wedges it; ipcmeter then ends the run
        # (abandon_run) rather than hang, which a struck-peer case cannot tell from a failure.
        self.fragile = {t for t, d in transports.items() if not d.get("survives_dead_peer", True)}
        # A row whose transport does not reach its peer (mpi_sm with a fork peer) is only listed
        # with the reason: there is no peer to strike.
        unreached = lambda t, peer: peer is not None and t in transports and peer not in transports[t].get("peers", [peer])
        rx = re.compile(pattern)
        out = []
        for n in listed.stdout.split():
            m = re.search(r"/transport:([^/]+)", n)
            peer = re.search(r"/peer:([^/]+)", n)
            if rx.search(n) and not (m and (m.group(1) in local_only or unreached(m.group(1), peer and peer.group(1)))):
                out.append(n)
        return out


FAULTS = ["kill_child", "stop_child", "sigint", "sigterm", "kill_parent", "child_exit", "child_garbage",
          "results_full", "results_readonly", "cpu_hog", "planted"]


def print_table(cases):
    rows = []
    for f in FAULTS:
        cs = [c for c in cases if c.fault == f and c.na is None]
        na = [c for c in cases if c.fault == f and c.na is not None]
        if not cs and not na:
            continue
        rows.append((f, len(cs), sum(c.ok for c in cs), sum(len(c.leaked_objects) for c in cs),
                     sum(len(c.leaked_procs) for c in cs), len(na)))
    head = ("fault", "cases", "survived", "leaked objects", "leaked processes", "n/a")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    line = lambda r: "  ".join(str(v).ljust(w) if i == 0 else str(v).rjust(w) for i, (v, w) in enumerate(zip(r, widths)))
    print(line(head))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))
    reasons = sorted({(c.fault, c.na) for c in cases if c.na})
    for f, why in reasons:
        print("n/a %s: %s" % (f, why))


def main(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bin", metavar="BIN", help="the ipcmeter binary")
    p.add_argument("--filter", default=DEFAULT_FILTER, help="Python regex over benchmark names (default %(default)s)")
    p.add_argument("--only", help="comma-separated faults to run (default all): " + ", ".join(FAULTS))
    p.add_argument("--peer-timeout-s", type=int, default=PEER_TIMEOUT_S,
                   help="IPCMETER_PEER_TIMEOUT_S for the runs (default %(default)s)")
    p.add_argument("-v", "--verbose", action="store_true", help="print every case, not only failures")
    args = p.parse_args(argv)
    only = args.only.split(",") if args.only else FAULTS
    unknown = [f for f in only if f not in FAULTS]
    if unknown:
        print("%s: unknown fault %s (known: %s)" % (PROG, ",".join(unknown), ", ".join(FAULTS)), file=sys.stderr)
        return 2
    if not os.access(args.bin, os.X_OK):
        print("%s: %s: not an executable" % (PROG, args.bin), file=sys.stderr)
        return 2
    suite = Suite(args)
    started = time.monotonic()
    try:
        targets = suite.targets(args.filter)
        if not targets:
            print("%s: --filter %s selects no benchmark with a process peer" % (PROG, args.filter), file=sys.stderr)
            return 2
        print("%s: %d benchmarks struck: %s" % (PROG, len(targets), args.filter), flush=True)
        for f in only:
            t0 = time.monotonic()
            getattr(suite, f)(targets)
            print("%s: %s done in %.0f s" % (PROG, f, time.monotonic() - t0), flush=True)
    finally:
        shutil.rmtree(suite.tmp, ignore_errors=True)
    print()
    print_table(suite.cases)
    tried = [c for c in suite.cases if c.na is None]
    passed = sum(c.ok for c in tried)
    print("total %.0f s" % (time.monotonic() - started))
    print("%d passed, %d failed" % (passed, len(tried) - passed))
    return 0 if passed == len(tried) else 1


if __name__ == "__main__":
    sys.exit(main())
