"""Child processes the scripts start: they die with the script and are stopped so that they
can clean up.

ipcmeter removes its named IPC objects (/dev/shm/ipcmeter-*, and the RouDi it started with
its record /dev/shm/ipcmeter-roudi) on SIGTERM and at exit; after a SIGKILL they stay until
the next start sweeps them. So a child that overruns is asked to stop first and killed only
after a grace, and a child whose script dies, however it dies, gets SIGTERM from the kernel
(PR_SET_PDEATHSIG) instead of running on, reparented, with its objects.
"""

import ctypes
import os
import select
import signal
import subprocess

PR_SET_PDEATHSIG = 1
# How long a child asked to stop may take to remove its objects and stop the daemons it
# started (ipcmeter gives RouDi a grace of its own) before it is SIGKILLed.
STOP_GRACE_S = 10.0


def die_with_parent(sig=signal.SIGTERM):
    """A preexec_fn: the child gets sig when the thread that started it dies."""
    def arm():
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig)
    return arm


def run(argv, timeout=None, **kwargs):
    """subprocess.run(argv, check=False) for a child that must not outlive the script; past
    timeout it gets SIGTERM, then SIGKILL after STOP_GRACE_S, and TimeoutExpired is raised
    once it has been reaped."""
    with subprocess.Popen(argv, preexec_fn=die_with_parent(), **kwargs) as proc:
        try:
            wait(proc, timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                wait(proc, STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise
    return subprocess.CompletedProcess(argv, proc.returncode)


def wait(proc, timeout):
    """proc.wait(timeout), woken by the child's exit rather than by polling: Popen.wait with
    a timeout sleeps in steps growing to 50 ms and looks between them, which a short child
    pays on every run (about 40 ms a run of the tests' fake binary, half its own time). A
    pidfd becomes readable when the child exits; where there is none (Linux before 5.3),
    Popen's own wait."""
    if timeout is None:
        return proc.wait()
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        return proc.wait(timeout=timeout)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(max(0.0, timeout) * 1000.0):
            raise subprocess.TimeoutExpired(proc.args, timeout)
    finally:
        os.close(fd)
    return proc.wait()
