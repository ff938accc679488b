"""ipcmeter's CPython driver: the measuring side of the py_* rows.

ipcmeter starts it through its launcher as
    PYTHON -I ipcmeter_driver.py SPEC_JSON
(a small main script that imports this module: ipcmeter_driver.py says why) with one
descriptor inherited (SPEC_JSON's "out_fd"). The driver runs one row: it builds the channel,
starts the peer (a thread, or a multiprocessing Process by the start method), times every round
trip (pingpong) or the whole transfer (stream) with time.perf_counter_ns inside this
interpreter, and writes back one JSON line followed by the raw samples (little-endian int64,
"samples" of them). ipcmeter turns the samples into counters with the code its native rows use.

Every message is `size` bytes: a header of seq (u32) and checksum (u32), then a body. The
checksum is crc32 of the body folded with the seq, so a corrupted body, a lost, repeated or
reordered message fails its check; checks run outside the timed interval (pingpong: after the
trip's clock read; stream: in the receiver, as the native stream's receiver does).

Named objects (SharedMemory, the semaphores multiprocessing makes) carry ipcmeter's prefix
("ipcmeter-<ipcmeter's pid>-<random>-py"), so ipcmeter removes what a killed row leaves and its
start-up sweep removes what a dead run left. Processes this driver starts arm a death signal
(a killed driver takes them along), and the driver leads its own process group, which ipcmeter
kills at the end of every row.
"""
import json
import os
import queue
import signal
import struct
import sys
import threading
import time
import zlib

import multiprocessing
from multiprocessing import process as mp_process


HEADER = struct.Struct("<II")
ACK = struct.Struct("<qqq")  # messages received, messages that failed their check, CPU ns
STOP = b""                   # ends the timed phase
SYNC = b"S"                  # ends the warm-up
BODIES = 16                  # distinct bodies, chosen by seq
SEQ_MIX = 0x9E3779B1
STREAM_DEPTH = 16            # messages in flight in a stream (bounded queues and the shm ring)
JOIN_TIMEOUT_S = 5.0
PR_SET_PDEATHSIG = 1
EXIT_ORPHANED = 6

CHANNELS = ("Queue", "SimpleQueue", "JoinableQueue", "Pipe", "Pipe_bytes", "Pipe_simplex",
            "shared_memory", "Manager_Queue", "queue_Queue")
PEERS = ("thread", "fork", "spawn", "forkserver")
WINDOWED = ("Queue", "JoinableQueue", "Manager_Queue", "queue_Queue", "shared_memory")


class RowError(Exception):
    """Ends the row with a reason ipcmeter reports."""


def why_not(family, channel, peer):
    """Why this combination cannot run, or None: a guard; ipcmeter lists these rows as errors
    with the same reasons (bench/py/py_rows.cpp) without starting the interpreter."""
    if channel == "queue_Queue" and peer != "thread":
        return "queue.Queue connects threads of one process only"
    if channel == "JoinableQueue" and family != "stream":
        return "JoinableQueue is measured in streams only (task_done/join is a stream's acknowledgement)"
    if channel == "shared_memory" and sys.version_info < (3, 8):
        return "multiprocessing.shared_memory needs Python 3.8"
    return None


# ---- messages ------------------------------------------------------------------------------

class Messages:
    def __init__(self, size):
        if size < HEADER.size:
            raise RowError(f"size {size} is below the {HEADER.size}-byte header")
        self.size = size
        n = size - HEADER.size
        self.bodies = [bytes(((i * 31 + k * 7) & 0xFF) for i in range(min(n, 256))) * (n // 256 + 1) for k in range(BODIES)]
        self.bodies = [b[:n] for b in self.bodies]
        self.crcs = [zlib.crc32(b) for b in self.bodies]

    def stamp(self, seq):
        k = seq % BODIES
        return HEADER.pack(seq & 0xFFFFFFFF, (self.crcs[k] ^ (seq * SEQ_MIX)) & 0xFFFFFFFF) + self.bodies[k]

    def check(self, msg, seq):
        """None when msg is message `seq` intact, else what is wrong."""
        if not isinstance(msg, (bytes, bytearray)) or len(msg) != self.size:
            return f"message {seq}: {len(msg) if isinstance(msg, (bytes, bytearray)) else type(msg).__name__} instead of {self.size} bytes"
        got_seq, crc = HEADER.unpack_from(msg)
        if got_seq != seq & 0xFFFFFFFF:
            return f"message {seq} arrived as {got_seq} (lost, repeated or reordered)"
        if (zlib.crc32(memoryview(msg)[HEADER.size:]) ^ (seq * SEQ_MIX)) & 0xFFFFFFFF != crc:
            return f"message {seq} failed its checksum"
        return None


# ---- channels: each end has send(bytes) and recv() -> bytes --------------------------------

class End:
    def __init__(self, send, recv, done=None, close=None):
        self.send, self.recv = send, recv
        self.done = done or (lambda: None)  # after each message received (JoinableQueue)
        self.close = close or (lambda: None)


class ShmRing:
    """One direction of the shared_memory channel: `depth` slots of 4-byte length + payload in
    a SharedMemory block, `full` and `empty` counting Semaphores."""

    def __init__(self, shm, offset, depth, slot, full, empty):
        self.shm, self.offset, self.depth, self.slot, self.full, self.empty = shm, offset, depth, slot, full, empty
        self.i = 0

    def send(self, msg):
        self.empty.acquire()
        at = self.offset + self.i * self.slot
        buf = self.shm.buf
        struct.pack_into("<I", buf, at, len(msg))
        buf[at + 4:at + 4 + len(msg)] = msg
        self.full.release()
        self.i = (self.i + 1) % self.depth

    def recv(self):
        self.full.acquire()
        at = self.offset + self.i * self.slot
        buf = self.shm.buf
        (n,) = struct.unpack_from("<I", buf, at)
        msg = bytes(buf[at + 4:at + 4 + n])
        self.empty.release()
        self.i = (self.i + 1) % self.depth
        return msg


def shm_layout(size, depth):
    slot = max(size, ACK.size) + 4
    return slot, slot * depth


def make_channel(channel, ctx, size, depth, prefix, manager):
    """(the driver's end, what the peer needs to make its end, a cleanup for the driver)."""
    if channel in ("Queue", "JoinableQueue", "SimpleQueue", "queue_Queue", "Manager_Queue"):
        if channel == "Queue":
            a, b = ctx.Queue(depth), ctx.Queue(depth)
        elif channel == "JoinableQueue":
            a, b = ctx.JoinableQueue(depth), ctx.JoinableQueue(depth)
        elif channel == "SimpleQueue":
            a, b = ctx.SimpleQueue(), ctx.SimpleQueue()
        elif channel == "queue_Queue":
            a, b = queue.Queue(depth), queue.Queue(depth)
        else:
            a, b = manager.Queue(depth), manager.Queue(depth)
        return End(a.put, b.get), ("queue", channel, a, b), lambda: None
    if channel in ("Pipe", "Pipe_bytes"):
        mine, theirs = ctx.Pipe(duplex=True)
        if channel == "Pipe":
            return End(mine.send, mine.recv, close=mine.close), ("conn", channel, theirs, theirs), theirs.close
        return End(mine.send_bytes, mine.recv_bytes, close=mine.close), ("conn", channel, theirs, theirs), theirs.close
    if channel == "Pipe_simplex":
        to_r, to_w = ctx.Pipe(duplex=False)
        from_r, from_w = ctx.Pipe(duplex=False)

        def close_theirs():
            to_r.close()
            from_w.close()
        return End(to_w.send, from_r.recv), ("conn", channel, from_w, to_r), close_theirs
    if channel == "shared_memory":
        from multiprocessing import shared_memory
        slot, half = shm_layout(size, depth)
        shm = shared_memory.SharedMemory(name=prefix + "-shm", create=True, size=2 * half)
        sems = [ctx.Semaphore(0), ctx.Semaphore(depth), ctx.Semaphore(0), ctx.Semaphore(depth)]
        out = ShmRing(shm, 0, depth, slot, sems[0], sems[1])
        back = ShmRing(shm, half, depth, slot, sems[2], sems[3])

        def cleanup():
            out.shm = back.shm = None
            shm.close()
            shm.unlink()
        return End(out.send, back.recv), ("shm", shm.name, size, depth, sems), cleanup
    raise RowError(f"unknown channel {channel}")


def peer_end(spec, in_process):
    kind = spec[0]
    if kind == "queue":
        _, channel, a, b = spec
        if channel == "JoinableQueue":
            return End(b.put, a.get, done=a.task_done)
        return End(b.put, a.get)
    if kind == "conn":
        _, channel, tx, rx = spec
        if channel == "Pipe_bytes":
            return End(tx.send_bytes, rx.recv_bytes)
        return End(tx.send, rx.recv)
    _, name, size, depth, sems = spec
    from multiprocessing import shared_memory
    # Attaching registers the block again with the resource tracker every process of the row
    # shares (fork, spawn and forkserver children all get the driver's): it keeps a set, so the
    # driver's unlink withdraws the one entry.
    shm = shared_memory.SharedMemory(name=name)
    slot, half = shm_layout(size, depth)
    inbound = ShmRing(shm, 0, depth, slot, sems[0], sems[1])
    outbound = ShmRing(shm, half, depth, slot, sems[2], sems[3])
    return End(outbound.send, inbound.recv, close=shm.close)


# ---- the peer ------------------------------------------------------------------------------

def arm_death_signal(parent):
    """A process peer dies with its parent (the driver, or the fork server when parent is None).
    ctypes is imported here, not at the top: a spawned child imports this module, and py_spawn's
    child, which does not arm, would otherwise pay for ctypes (8 ms on the test VM) in every start."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
    except (ImportError, OSError, AttributeError):
        pass  # a build without ctypes: children then rely on the driver's process group
    exit_if_orphaned(parent)


def exit_if_orphaned(parent):
    """A child whose parent (pid `parent`, None for the fork server's) is already gone ends."""
    if parent is not None and os.getppid() != parent:
        os._exit(EXIT_ORPHANED)


def peer_main(family, spec, size, fault, parent, in_process):
    if in_process:
        arm_death_signal(parent)
    end = peer_end(spec, in_process)
    ms = Messages(size) if family == "stream" else None
    received = bad = 0
    cpu0 = 0
    seq = 0
    while True:
        msg = end.recv()
        end.done()
        if msg == SYNC:
            cpu0 = time.process_time_ns()
            seq = received = 0  # a warm-up message that failed its check stays in `bad`
            end.send(SYNC)
            continue
        if msg == STOP:
            end.send(ACK.pack(received, bad, time.process_time_ns() - cpu0))
            break
        received += 1
        if fault == "kill_peer" and received == 100:
            os.kill(os.getpid(), 9)
        if fault == "corrupt" and received == 100:
            msg = bytes([msg[0] ^ 1]) + msg[1:]
        if ms is None:
            end.send(msg)  # the driver checks the echo
        else:
            if ms.check(msg, seq) is not None:
                bad += 1
            seq += 1
    end.close()


# ---- the driver's side -----------------------------------------------------------------------

def ask(end, msg, expect):
    end.send(msg)
    got = end.recv()
    if expect is not None and got != expect:
        raise RowError(f"peer answered {got[:16]!r} to a control message")
    return got


def run_pingpong(end, ms, spec, samples):
    for seq in range(spec["warmup"]):
        why = ms.check(ask(end, ms.stamp(seq), None), seq)
        if why is not None:
            raise RowError("warm-up: " + why)
    ask(end, SYNC, SYNC)
    clock, cpu = time.perf_counter_ns, time.process_time_ns
    budget, least, most = spec["budget_ns"], spec["min_msgs"], spec["max_msgs"]
    send, recv = end.send, end.recv
    cpu0 = cpu()
    begin = clock()
    seq = 0
    while seq < most and (seq < least or clock() - begin < budget):
        msg = ms.stamp(seq)
        t0 = clock()
        send(msg)
        reply = recv()
        t1 = clock()
        why = ms.check(reply, seq)
        if why is not None:
            raise RowError(why)
        samples.append(t1 - t0)
        seq += 1
    cpu1 = cpu()
    received, bad, peer_cpu = ACK.unpack(ask(end, STOP, None))
    return {"msgs": seq, "cpu_ns": cpu1 - cpu0, "peer_cpu_ns": peer_cpu, "peer_received": received}


def run_stream(end, ms, spec, send_done):
    for seq in range(spec["warmup"]):
        end.send(ms.stamp(seq))
    ask(end, SYNC, SYNC)
    clock, cpu = time.perf_counter_ns, time.process_time_ns
    budget, least, most = spec["budget_ns"], spec["min_msgs"], spec["max_msgs"]
    send, stamp = end.send, ms.stamp
    cpu0 = cpu()
    begin = clock()
    seq = 0
    while seq < most and (seq < least or clock() - begin < budget):
        send(stamp(seq))
        seq += 1
    send_done()
    received, bad, peer_cpu = ACK.unpack(ask(end, STOP, None))
    end_ns = clock()
    cpu1 = cpu()
    if received != seq or bad:
        raise RowError(f"the peer received {received} of {seq} messages, {bad} of them failed their check")
    # Bounded queues and the ring hold `depth` messages; pipes hold what their buffer allows.
    window = spec["depth"] if spec["channel"] in WINDOWED else None
    return {"msgs": seq, "elapsed_ns": end_ns - begin, "cpu_ns": cpu1 - cpu0, "peer_cpu_ns": peer_cpu,
            "window_msgs": window}


def start_peer(spec, ctx, peer_args):
    family, peer = spec["family"], spec["peer"]
    if peer == "thread":
        t = threading.Thread(target=peer_main, args=(family, peer_args, spec["size"], spec.get("fault"), None, False),
                             daemon=True)
        t.start()
        return t
    parent = None if peer == "forkserver" else os.getpid()
    p = ctx.Process(target=peer_main, args=(family, peer_args, spec["size"], spec.get("fault"), parent, True), daemon=True)
    p.start()
    return p


# ---- py_spawn: what starting a peer costs ------------------------------------------------------

PAGE = 4096


def spawned_child(conn, parent):
    """The started child: its first message says it runs; then it ends. It arms no death
    signal (that would time ctypes' import, not the start method): its whole life is one write
    to a pipe and an exit, and if the driver is gone the write fails and the child ends; the
    driver's process group is killed after the row in any case."""
    exit_if_orphaned(parent)
    conn.send_bytes(b"r")
    conn.close()


def resident_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def run_spawn(spec, samples):
    """Starts by the peer's start method, one after another, each timed twice: start -> the
    child's first message (ready) and start -> joined (lifecycle). Samples alternate."""
    peer = spec["peer"]
    if peer not in ("fork", "spawn", "forkserver"):
        raise RowError(f"py_spawn starts processes: peer {peer} is not a start method")
    ctx = multiprocessing.get_context(peer)
    ballast = bytearray(spec["rss_mib"] << 20)
    ballast[::PAGE] = b"\x01" * len(range(0, len(ballast), PAGE))  # every page written: resident
    clock = time.perf_counter_ns
    parent = None if peer == "forkserver" else os.getpid()
    budget, least, most = spec["budget_ns"], spec["min_msgs"], spec["max_msgs"]
    if peer == "forkserver":
        from multiprocessing import forkserver
        forkserver.ensure_running()  # the server's own start is not a start of the row's
    begin = clock()
    n = 0
    while n < most and (n < least or clock() - begin < budget):
        mine, theirs = ctx.Pipe(duplex=False)
        t0 = clock()
        p = ctx.Process(target=spawned_child, args=(theirs, parent), daemon=True)
        p.start()
        got = mine.recv_bytes()
        t1 = clock()
        p.join(JOIN_TIMEOUT_S)
        t2 = clock()
        if got != b"r" or p.exitcode != 0:
            raise RowError(f"start {n}: the child answered {got!r} and exited with {p.exitcode}")
        theirs.close()
        mine.close()
        samples.extend((t1 - t0, t2 - t0))
        n += 1
    return {"starts": n, "parent_rss_mib": resident_mib(), "ballast_mib": len(ballast) >> 20}


# ---- py_pool and py_compute: fixed work on pools and teams -----------------------------------
#
# The work is a pure-Python loop (py_work) of a fixed number of iterations: ipcmeter calibrates
# it once per interpreter (family "calibrate": the loop's iterations per µs over timed windows,
# whose median the native pool family's code takes) and hands each row its iterations, so
# task_us:T is T µs of work on an idle CPU and a worker that loses its CPU takes longer, as
# with real work. A wall-clock spin would finish on time however little of the CPU it got.

WORK_MUL = 1103515245
POOL_EXECUTORS = ("Pool_map", "Pool_imap", "Pool_apply_async", "ProcessPoolExecutor", "ThreadPoolExecutor")
START_METHODS = ("fork", "spawn", "forkserver")
COMPUTE_KERNELS = ("pure", "released")
COMPUTE_PEERS = ("thread", "fork", "spawn")
RELEASED_BLOCK = bytes(range(256))
WORK_SEED = 12345
_TASK_ITERS = 0  # set in each pool worker by pool_worker_init (and in the driver for threads)


def py_work(iters, seed):
    """The fixed work: `iters` dependent steps of integer arithmetic in the interpreter (it holds
    the GIL throughout)."""
    x = seed
    for i in range(iters):
        x = (x * WORK_MUL + i) & 0xFFFFFFFF
    return x


def run_calibrate(spec, samples):
    """Iterations of py_work per µs in each of `windows` windows of about `window_us`."""
    clock = time.perf_counter_ns
    window_ns = spec["window_us"] * 1000
    n = 1000
    while True:  # grow the window's iterations until one takes at least a tenth of a window
        t0 = clock()
        py_work(n, WORK_SEED)
        took = clock() - t0
        if took * 10 >= window_ns or n > 1 << 30:
            break
        n *= 4
    n = max(1, int(n * window_ns / max(took, 1)))
    rates = []
    for _ in range(spec["windows"]):
        t0 = clock()
        py_work(n, WORK_SEED)
        took = clock() - t0
        if took > 0:
            rates.append(n * 1000.0 / took)
    return {"iters_per_us": rates}


def pool_why_not(executor, peer, chunk):
    """Why this py_pool combination cannot run, or None (ipcmeter lists these rows with the same
    reasons, bench/py/py_work.cpp, without starting the interpreter)."""
    if executor == "ThreadPoolExecutor" and peer != "thread":
        return "ThreadPoolExecutor runs threads: peer:" + peer + " is a start method (ProcessPoolExecutor is its process form)"
    if executor == "ProcessPoolExecutor" and peer == "thread":
        return "ProcessPoolExecutor runs processes: its thread form is ThreadPoolExecutor"
    if chunk != 1 and executor in ("Pool_apply_async", "ThreadPoolExecutor"):
        return executor + " hands out one task per call and has no chunksize: only chunk:1 runs"
    return None


def pool_worker_init(parent, iters):
    """A process pool's worker: dies with the driver; knows the task's iterations."""
    global _TASK_ITERS
    arm_death_signal(parent)
    _TASK_ITERS = iters


def pool_task(i):
    """Task i: the fixed work, answered with i + 1 under the work's result, so the driver checks
    that every task ran, with the right work, and came back in its place. Index -1 is the
    tests' fault: the worker running it dies."""
    if i < 0:
        os.kill(os.getpid(), 9)
    return (py_work(_TASK_ITERS, WORK_SEED) << 32) | (i + 1)


def job_alarm(signum, frame):
    raise TimeoutError


class PoolUnderTest:
    """One executor of the row, made before the timed jobs as a program makes its pool once."""

    def __init__(self, spec):
        global _TASK_ITERS
        executor, peer, workers = spec["executor"], spec["peer"], spec["workers"]
        self.executor, self.peer, self.chunk = executor, peer, spec["chunk"]
        self.timeout = spec["job_timeout_s"]
        iters = spec["task_iters"]
        parent = None if peer == "forkserver" else os.getpid()
        self.pool = self.ex = None
        if executor == "Pool_imap":
            signal.signal(signal.SIGALRM, job_alarm)
        if executor.startswith("Pool_"):
            if peer == "thread":
                from multiprocessing.pool import ThreadPool
                _TASK_ITERS = iters
                self.pool = ThreadPool(workers)
            else:
                ctx = multiprocessing.get_context(peer)
                self.pool = ctx.Pool(workers, initializer=pool_worker_init, initargs=(parent, iters))
        elif executor == "ProcessPoolExecutor":
            from concurrent.futures import ProcessPoolExecutor
            self.ex = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(peer),
                                          initializer=pool_worker_init, initargs=(parent, iters))
        else:
            from concurrent.futures import ThreadPoolExecutor
            _TASK_ITERS = iters
            self.ex = ThreadPoolExecutor(workers)

    def job(self, indices):
        """The results of one job of tasks `indices`; a job that does not finish within the
        timeout (a worker died: multiprocessing.Pool loses its tasks and waits for ever) raises."""
        t, c = self.timeout, self.chunk
        e = self.executor
        if e == "Pool_map":
            return self.pool.map_async(pool_task, indices, c).get(t)
        if e == "Pool_imap":
            # imap with a chunksize returns a plain generator, which takes no timeout: an
            # interval timer bounds the job instead (its handler raises TimeoutError in this
            # thread, out of the wait for the next result).
            signal.setitimer(signal.ITIMER_REAL, t)
            try:
                return list(self.pool.imap(pool_task, indices, c))
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        if e == "Pool_apply_async":
            pending = [self.pool.apply_async(pool_task, (i,)) for i in indices]
            return [r.get(t) for r in pending]
        if e == "ProcessPoolExecutor":
            return list(self.ex.map(pool_task, indices, timeout=t, chunksize=c))
        return list(self.ex.map(pool_task, indices, timeout=t))

    def worker_processes(self):
        if self.pool is not None and self.peer != "thread":
            return list(self.pool._pool)
        if self.ex is not None and self.executor == "ProcessPoolExecutor":
            return list((self.ex._processes or {}).values())
        return []

    def close(self, ok):
        """Shuts the pool down and reaps its processes: politely after a good row, by killing
        them after a failed one."""
        procs = self.worker_processes()
        if not ok:
            # Pool.terminate() would wait for the task queue's lock, which a worker that died
            # holding it never releases: the workers are killed and reaped here instead, and the
            # pool's own finalizer (the same wait, at exit) is withdrawn.
            for p in procs:
                if p.is_alive():
                    p.kill()
            for p in procs:
                p.join(JOIN_TIMEOUT_S)
            if self.pool is not None:
                finalizer = getattr(self.pool, "_terminate", None)
                if finalizer is not None:
                    finalizer.cancel()
                self.pool = None
        if self.pool is not None:
            self.pool.close()
            self.pool.join()
        if self.ex is not None:
            self.ex.shutdown(wait=ok)
        for p in procs:
            p.join(JOIN_TIMEOUT_S)


def run_pool(spec, samples):
    """One warm-up job, then timed jobs of `tasks` tasks until the budget (at least min_jobs,
    at most max_jobs); every job's results are checked after its clock read."""
    executor, peer, chunk = spec["executor"], spec["peer"], spec["chunk"]
    if executor not in POOL_EXECUTORS or peer not in PEERS:
        raise RowError(f"no py_pool executor {executor} with peer {peer}")
    why = pool_why_not(executor, peer, chunk)
    if why:
        raise RowError(why)
    fault = spec.get("fault")
    if fault == "kill_worker" and peer == "thread":
        raise RowError("the kill_worker fault needs a process peer")
    mp_process.current_process()._config["semprefix"] = "/" + spec["prefix"]
    tasks = spec["tasks"]
    x = py_work(spec["task_iters"], WORK_SEED) << 32
    expected = [x | (i + 1) for i in range(tasks)]
    indices = list(range(tasks))
    pool = PoolUnderTest(spec)
    ok = False
    clock = time.perf_counter_ns
    try:
        def checked_job(idx, what):
            try:
                t0 = clock()
                got = pool.job(idx)
                t1 = clock()
            except (multiprocessing.TimeoutError, TimeoutError):
                raise RowError(f"{what} did not finish within {pool.timeout} s: a worker died or hung "
                               f"({executor} waits for a dead worker's tasks)") from None
            except Exception as e:  # BrokenProcessPool and the like: the executor says what broke
                raise RowError(f"{what}: {type(e).__name__}: {e}") from None
            if got != expected:
                bad = next((k for k, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), tasks))
                raise RowError(f"{what}: task {bad} of {tasks} came back wrong, missing or out of place")
            return t1 - t0

        checked_job(indices, "the warm-up job")
        budget, least, most = spec["budget_ns"], spec["min_jobs"], spec["max_jobs"]
        begin = clock()
        n = 0
        while n < most and (n < least or clock() - begin < budget):
            idx = indices
            if fault == "kill_worker" and n == 0:
                idx = list(indices)
                idx[tasks // 2] = -1
            samples.append(checked_job(idx, f"job {n}"))
            n += 1
        ok = True
        return {"jobs": n, "tasks": tasks, "workers": spec["workers"], "checked_jobs": n + 1}
    finally:
        pool.close(ok)


# ---- py_compute: a team of N workers on one round of work --------------------------------

hashlib = None  # bound by compute_buffer


def compute_buffer(nbytes):
    """The released kernel's buffer. Every path to that kernel starts here, so hashlib is
    imported here: not at the top (every spawned child imports this module, and hashlib costs
    13 ms) nor in compute_unit (once per unit, inside the timed round)."""
    global hashlib
    import hashlib
    return (RELEASED_BLOCK * (nbytes // len(RELEASED_BLOCK) + 1))[:nbytes]


def compute_unit(kernel, u, iters, buf):
    """Unit u of a round: pure runs py_work in the interpreter (holding the GIL); released
    hashes `buf` with hashlib, which lets go of the GIL over a large buffer."""
    if kernel == "pure":
        return py_work(iters, u)
    h = hashlib.sha256(u.to_bytes(8, "little"))
    h.update(buf)
    return int.from_bytes(h.digest()[:8], "little")


def compute_share(kernel, lo, hi, iters, buf):
    total = 0
    for u in range(lo, hi):
        total += compute_unit(kernel, u, iters, buf)
    return total


def compute_worker(kernel, iters, nbytes, link, parent, in_process):
    """A worker: says it is ready, then computes each share (lo, hi) it is sent and answers
    with its sum, until it is sent None."""
    if in_process:
        arm_death_signal(parent)
    buf = compute_buffer(nbytes) if kernel == "released" else None
    link.send("ready")
    while True:
        share = link.recv()
        if share is None:
            break
        link.send(compute_share(kernel, share[0], share[1], iters, buf))
    if in_process:
        link.close()


class ThreadLink:
    """A thread worker's two queues, seen from either side as send / recv."""

    def __init__(self, inbox, outbox):
        self.inbox, self.outbox = inbox, outbox

    def send(self, obj):
        self.outbox.put(obj)

    def recv(self, timeout=None):
        return self.inbox.get(timeout=timeout)


class ComputeTeam:
    """N workers, each with its own link (a pair of queues for threads, a duplex Pipe for
    processes), started and answering "ready" before any round."""

    def __init__(self, spec):
        self.timeout = spec["round_timeout_s"]
        self.peer = spec["peer"]
        self.links, self.workers = [], []
        try:
            self.start(spec)
        except BaseException:
            self.kill()  # the workers started so far are reaped before the row's reason goes back
            raise

    def start(self, spec):
        kernel, peer, n = spec["kernel"], spec["peer"], spec["workers"]
        args = (kernel, spec["unit_iters"], spec["unit_bytes"])
        if peer == "thread":
            for _ in range(n):
                to_w, from_w = queue.Queue(), queue.Queue()
                t = threading.Thread(target=compute_worker, args=(*args, ThreadLink(to_w, from_w), None, False),
                                     daemon=True)
                t.start()
                self.links.append(ThreadLink(from_w, to_w))
                self.workers.append(t)
        else:
            ctx = multiprocessing.get_context(peer)
            for _ in range(n):
                mine, theirs = ctx.Pipe(duplex=True)
                p = ctx.Process(target=compute_worker, args=(*args, theirs, os.getpid(), True), daemon=True)
                p.start()
                theirs.close()  # the worker's copy is its own now: its death reads as EOF here
                self.links.append(mine)
                self.workers.append(p)
        for k in range(n):
            if self.answer(k) != "ready":
                raise RowError(f"worker {k} did not start")

    def answer(self, k):
        link = self.links[k]
        try:
            if self.peer == "thread":
                return link.recv(self.timeout)
            if not link.poll(self.timeout):
                raise queue.Empty
            return link.recv()
        except queue.Empty:
            raise RowError(f"worker {k} did not answer within {self.timeout} s") from None
        except (EOFError, OSError):
            raise RowError(f"worker {k} died ({self.exit_of(k)})") from None

    def exit_of(self, k):
        w = self.workers[k]
        if self.peer == "thread":
            return "a thread"
        w.join(JOIN_TIMEOUT_S)
        return f"exit code {w.exitcode}"

    def round(self, shares):
        """(ns, sum) of one round: shares[k] to worker k, timed from the first send to the last
        answer."""
        clock = time.perf_counter_ns
        t0 = clock()
        for k, share in enumerate(shares):
            try:
                self.links[k].send(share)
            except OSError:
                raise RowError(f"worker {k} died ({self.exit_of(k)})") from None
        total = 0
        for k in range(len(shares)):
            total += self.answer(k)
        return clock() - t0, total

    def kill(self):
        """After a failure: the process workers are killed and reaped (threads are daemons)."""
        if self.peer == "thread":
            return
        for w in self.workers:
            if w.is_alive():
                w.kill()
        for w in self.workers:
            w.join(JOIN_TIMEOUT_S)

    def stop(self):
        for k, link in enumerate(self.links):
            try:
                link.send(None)
            except OSError:
                pass
        for w in self.workers:
            w.join(JOIN_TIMEOUT_S)
        if self.peer != "thread":
            for w in self.workers:
                if w.is_alive():
                    w.kill()
                    w.join(JOIN_TIMEOUT_S)
            for link in self.links:
                link.close()


def run_compute(spec, samples):
    """Timed rounds split over the team, each beside a workers:1 reference round of the same
    team (worker 0 alone, the others answer at once) in turn before and after it (ABBA); samples
    are (reference ns, round ns) pairs, or the round alone for workers:1. Every round's sum is
    checked against a serial run in the driver."""
    kernel, peer, n = spec["kernel"], spec["peer"], spec["workers"]
    if kernel not in COMPUTE_KERNELS or peer not in COMPUTE_PEERS or n < 1:
        raise RowError(f"no py_compute kernel {kernel} with peer {peer} and {n} workers")
    mp_process.current_process()._config["semprefix"] = "/" + spec["prefix"]
    units = spec["units"]
    split = [(units * k // n, units * (k + 1) // n) for k in range(n)]
    alone = [(0, units)] + [(0, 0)] * (n - 1)
    paired = n > 1
    team = None
    try:
        team = ComputeTeam(spec)
        sums = []
        # Warm-up: one round of each kind, untimed.
        sums.append(team.round(split)[1])
        if paired:
            sums.append(team.round(alone)[1])
        if spec.get("fault") == "kill_worker":
            if peer == "thread":
                raise RowError("the kill_worker fault needs a process peer")
            team.workers[-1].kill()
        clock = time.perf_counter_ns
        budget, least, most = spec["budget_ns"], spec["min_rounds"], spec["max_rounds"]
        begin = clock()
        r = 0
        while r < most and (r < least or clock() - begin < budget):
            if paired and r % 2 == 0:
                ref_ns, s = team.round(alone)
                sums.append(s)
            ns, s = team.round(split)
            sums.append(s)
            if paired and r % 2 == 1:
                ref_ns, s = team.round(alone)
                sums.append(s)
            samples.extend((ref_ns, ns) if paired else (ns,))
            r += 1
        serial = compute_share(kernel, 0, units, spec["unit_iters"],
                               compute_buffer(spec["unit_bytes"]) if kernel == "released" else None)
        wrong = sum(1 for s in sums if s != serial)
        if wrong:
            raise RowError(f"{wrong} of {len(sums)} rounds summed to something other than the serial run")
        team.stop()
        team = None
        return {"rounds": r, "paired": paired, "verified_rounds": len(sums), "workers": n}
    finally:
        if team is not None:
            team.kill()


# What run_row hands these families to.
WORK_FAMILIES = {"calibrate": run_calibrate, "pool": run_pool, "compute": run_compute}


def start_manager(ctx, peer):
    from multiprocessing.managers import SyncManager
    m = SyncManager(ctx=ctx)
    m.start(arm_death_signal, (None if peer == "forkserver" else os.getpid(),))
    return m


# ---- py_sync and py_state: parties sharing a primitive or a piece of state -------------------
#
# N parties (threads of the driver, or Processes by the start method) each run a phase twice:
# a warm-up, whose time sizes the timed phase to the budget, then the timed phase. The driver
# opens each phase with an Event (the gate), the phase's total amount in the shared words;
# each party answers over its own Pipe with its finish time, its thread's CPU time, its count
# and its samples. The timed interval runs from the gate's opening to the last party's finish,
# as the native sync and state families time it. A party that dies or stays silent ends the
# row with the reason (its sentinel is watched beside its pipe); counts and final values are
# checked exactly after each phase, outside the timed interval.

SYNC_PRIMITIVES = ("Lock", "RLock", "Semaphore", "BoundedSemaphore", "Event", "Condition", "Barrier")
SYNC_LOCKS = ("Lock", "RLock")
STATE_ACCESSES = ("Value_lock", "Value_nolock", "Array_lock", "Manager_Value", "Manager_dict", "shared_memory")
STATE_ARRAY_LEN = 64
# A Manager op: the lock's acquire and release, the value's get and set, each a request to the
# server process.
MANAGER_REQUESTS_PER_OP = 4
PARTY = struct.Struct("<qqq")  # finish time, the party's thread CPU ns, its count; then samples
PARTY_READY, PARTY_RESULT, PARTY_ERROR = b"r", b"R", b"E"
# The shared words (int64): the phase's amount, then the sync workloads' state, then the
# barrier's arrival ticks (two rows of N, by round parity).
W_AMOUNT, W_COUNT, W_OWNER, W_STAMP, W_TURN, W_ARRIVALS = range(6)


def as_words(buf):
    return memoryview(buf).cast("B").cast("q")


def share_of(total, n, i):
    """What party i of n does when `total` is shared out (as the native state's ops_of_worker)."""
    return total // n + (1 if i < total % n else 0)


def sync_lock_rounds(lock, w, me, n, rounds, twice):
    """Lock, RLock: take the lock until `rounds` acquisitions in all. The holder stamps just
    before it releases; a party that takes it after another party held it (alone: after
    itself) records now - stamp. RLock is taken twice and released twice (re-entry)."""
    clock = time.perf_counter_ns
    acquire, release = lock.acquire, lock.release
    samples = []
    record = samples.append
    mine = 0
    while True:
        acquire()
        if twice:
            acquire()
        if w[W_COUNT] >= rounds:
            release()
            if twice:
                release()
            break
        now = clock()
        owner = w[W_OWNER]
        if owner >= 0 and (owner != me or n == 1):
            record(now - w[W_STAMP])
        w[W_COUNT] += 1
        mine += 1
        w[W_OWNER] = me
        w[W_STAMP] = clock()
        release()
        if twice:
            release()
    return mine, samples


def sync_ring_rounds(wait, hand_on, w, me, n, rounds):
    """Semaphore, BoundedSemaphore, Event, Condition: a token passes round the ring of parties,
    `rounds` passes in all; party `me` makes passes me, me+n, ... Each records now - the
    previous holder's stamp. The last pass hands on nothing: the primitives end as they began."""
    clock = time.perf_counter_ns
    samples = []
    record = samples.append
    mine = 0
    for k in range(me, rounds, n):
        wait()
        now = clock()
        if k > 0:
            record(now - w[W_STAMP])
        w[W_COUNT] += 1
        mine += 1
        w[W_STAMP] = clock()
        if k + 1 < rounds:
            hand_on()
    return mine, samples


def sync_barrier_rounds(barrier, w, me, n, rounds):
    """Barrier: every party crosses `rounds` barriers, each recording now - the last arrival's
    stamp. Arrival stamps alternate between two rows: nobody writes round r+2's row before
    everyone has left round r+1. The party the barrier names 0 counts the round."""
    clock = time.perf_counter_ns
    samples = []
    record = samples.append
    cross = barrier.wait
    for r in range(rounds):
        row = W_ARRIVALS + (r & 1) * n
        w[row + me] = clock()
        index = cross()
        now = clock()
        record(now - max(w[row:row + n]))
        if index == 0:
            w[W_COUNT] += 1
    return rounds, samples


def sync_party_work(primitive, objs, w, me, n):
    """The party's phase: amount -> (its count, its hand-off samples)."""
    if primitive in SYNC_LOCKS:
        (lock,) = objs
        return lambda rounds: sync_lock_rounds(lock, w, me, n, rounds, primitive == "RLock")
    if primitive == "Barrier":
        (barrier,) = objs
        return lambda rounds: sync_barrier_rounds(barrier, w, me, n, rounds)
    nxt = (me + 1) % n
    if primitive in ("Semaphore", "BoundedSemaphore"):
        wait, hand_on = objs[me].acquire, objs[nxt].release
    elif primitive == "Event":
        mine_ev, next_ev = objs[me], objs[nxt]

        def wait():
            mine_ev.wait()
            mine_ev.clear()
        hand_on = next_ev.set
    else:  # Condition: the turn is a shared word
        (cond,) = objs

        def wait():
            with cond:
                while w[W_TURN] != me:
                    cond.wait()

        def hand_on():
            with cond:
                w[W_TURN] = nxt
                cond.notify_all()
    return lambda rounds: sync_ring_rounds(wait, hand_on, w, me, n, rounds)


def make_sync(primitive, mod, n, w):
    """(what each party gets, arm: sets the token or the counts back before a phase). `mod` is
    threading (thread parties) or the multiprocessing context."""
    if primitive == "Lock":
        objs = (mod.Lock(),)
    elif primitive == "RLock":
        objs = (mod.RLock(),)
    elif primitive == "Semaphore":
        objs = tuple(mod.Semaphore(0) for _ in range(n))
    elif primitive == "BoundedSemaphore":
        # Bounded at 1 and taken: a second release of any of them raises (ValueError).
        objs = tuple(mod.BoundedSemaphore(1) for _ in range(n))
        for s in objs:
            s.acquire()
    elif primitive == "Event":
        objs = tuple(mod.Event() for _ in range(n))
    elif primitive == "Condition":
        objs = (mod.Condition(),)
    else:
        objs = (mod.Barrier(n),)

    def arm():
        w[W_COUNT], w[W_OWNER], w[W_STAMP], w[W_TURN] = 0, -1, 0, 0
        if primitive in ("Semaphore", "BoundedSemaphore"):
            objs[0].release()
        elif primitive == "Event":
            objs[0].set()
    return objs, arm


def check_sync(primitive, n, rounds, counts, handoffs, counted, phase):
    """Every party's count exact; a wrong count is the row's error, never a number."""
    if primitive in SYNC_LOCKS:
        ok = sum(counts) == rounds and counted == rounds and handoffs <= max(rounds - 1, 0)
        want = f"{rounds} acquisitions in all"
    elif primitive == "Barrier":
        ok = counts == [rounds] * n and counted == rounds and handoffs == rounds * n
        want = f"{rounds} rounds crossed by each of {n} parties, {rounds * n} hand-offs"
    else:
        want_counts = [len(range(i, rounds, n)) for i in range(n)]
        ok = counts == want_counts and counted == rounds and handoffs == max(rounds - 1, 0)
        want = f"passes {want_counts}, {max(rounds - 1, 0)} hand-offs"
    if not ok:
        raise RowError(f"{primitive} {phase}: the parties counted {counts} ({counted} in the shared count, "
                       f"{handoffs} hand-offs); expected {want}")


def state_party_work(access, objs, me, n):
    """The party's phase: total ops -> (its ops, no samples)."""
    if access == "shared_memory":
        from multiprocessing import shared_memory
        name, lock = objs
        shm = shared_memory.SharedMemory(name=name)
        cell = shm.buf.cast("q")
    else:
        shm = cell = None

    def run(total):
        k = share_of(total, n, me)
        if access == "Value_lock":
            (v,) = objs
            lock = v.get_lock()
            for _ in range(k):
                with lock:
                    v.value += 1
        elif access == "Value_nolock":  # the tutorials' pitfall: += on a Value is a get, then a set
            (v,) = objs
            for _ in range(k):
                v.value += 1
        elif access == "Array_lock":
            (a,) = objs
            lock = a.get_lock()
            for j in range(k):
                with lock:
                    a[(me + j) % STATE_ARRAY_LEN] += 1
        elif access == "Manager_Value":
            v, mlock = objs
            for _ in range(k):
                with mlock:
                    v.value += 1
        elif access == "Manager_dict":
            d, mlock = objs
            for _ in range(k):
                with mlock:
                    d["n"] += 1
        else:
            lock = objs[1]
            for _ in range(k):
                with lock:
                    cell[0] += 1
        return k, []

    def close():
        nonlocal cell
        if shm is not None:
            cell.release()
            cell = None
            shm.close()
    run.close = close
    return run


def make_state(access, ctx, prefix, manager):
    """(what each party gets, reset before a phase, the final value(s), a cleanup)."""
    if access in ("Value_lock", "Value_nolock"):
        v = ctx.Value("q", 0)
        return (v,), lambda: setattr(v, "value", 0), lambda: v.value, lambda: None
    if access == "Array_lock":
        a = ctx.Array("q", STATE_ARRAY_LEN)

        def reset():
            a[:] = [0] * STATE_ARRAY_LEN
        return (a,), reset, lambda: list(a[:]), lambda: None
    if access == "Manager_Value":
        v = manager.Value("q", 0)
        return (v, manager.Lock()), lambda: setattr(v, "value", 0), lambda: v.value, lambda: None
    if access == "Manager_dict":
        d = manager.dict({"n": 0})
        return (d, manager.Lock()), lambda: d.__setitem__("n", 0), lambda: d["n"], lambda: None
    from multiprocessing import shared_memory
    shm = shared_memory.SharedMemory(name=prefix + "-shm", create=True, size=8)
    cell = shm.buf.cast("q")

    def final():
        return cell[0]

    def reset():
        cell[0] = 0

    def cleanup():
        cell.release()
        shm.close()
        shm.unlink()
    return (shm.name, ctx.Lock()), reset, final, cleanup


def state_expected(access, n, total):
    if access != "Array_lock":
        return total
    want = [0] * STATE_ARRAY_LEN
    for me in range(n):
        k = share_of(total, n, me)
        full, rest = divmod(k, STATE_ARRAY_LEN)
        for j in range(STATE_ARRAY_LEN):
            want[j] += full
        for j in range(rest):
            want[(me + j) % STATE_ARRAY_LEN] += 1
    return want


def check_state(access, n, total, counts, now, phase):
    """Every access but Value_nolock ends at exactly what its ops imply (Array_lock: each
    element); Value_nolock at most that. Returns the final value(s)."""
    if sum(counts) != total:
        raise RowError(f"{access} {phase}: the workers made {sum(counts)} of {total} ops")
    expected = state_expected(access, n, total)
    if access == "Value_nolock":
        if now > expected:
            raise RowError(f"{access} {phase} ended at {now}, above the {expected} increments made")
    elif now != expected:
        raise RowError(f"{access} {phase} ended at {now}, expected {expected}: updates were lost or repeated")
    return now


def party_main(family, what, me, n, objs, words, conn, gates, fault, parent, in_process):
    if in_process:
        arm_death_signal(parent)
    try:
        w = as_words(words)
        run = (sync_party_work(what, objs, w, me, n) if family == "sync" else state_party_work(what, objs, me, n))
        conn.send_bytes(PARTY_READY)
        for phase in (0, 1):
            gates[phase].wait()
            if fault in ("kill_peer", "stop_peer") and phase == 1 and in_process and me == n - 1:
                os.kill(os.getpid(), signal.SIGKILL if fault == "kill_peer" else signal.SIGSTOP)
            amount = w[W_AMOUNT]
            cpu0 = time.thread_time_ns()
            count, samples = run(amount)
            end = time.perf_counter_ns()
            cpu = time.thread_time_ns() - cpu0
            conn.send_bytes(PARTY_RESULT + PARTY.pack(end, cpu, count) + struct.pack(f"<{len(samples)}q", *samples))
        if family == "state":
            run.close()
    except Exception as e:  # noqa: BLE001 - the party's reason goes to the driver, not to stderr
        try:
            conn.send_bytes(PARTY_ERROR + f"{type(e).__name__}: {e}".encode())
        except OSError:
            pass
    conn.close()


def collect(conns, procs, peer, what, timeout_s):
    """Each party's answer, in party order. A party that died, raised or stayed silent past
    `timeout_s` ends the row with the reason."""
    from multiprocessing.connection import wait
    got = [None] * len(conns)
    pending = {c: i for i, c in enumerate(conns)}
    sentinels = {p.sentinel: i for i, p in enumerate(procs) if p is not None}
    deadline = time.monotonic() + timeout_s
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RowError(f"{what}: {peer} parties {sorted(pending.values())} did not answer within {timeout_s:.1f} s")
        ready = wait(list(pending) + [s for s, i in sentinels.items() if i in pending.values()], left)
        for r in ready:
            if r in pending:
                i = pending.pop(r)
                try:
                    msg = r.recv_bytes()
                except EOFError:
                    msg = None
                if msg is None and procs[i] is not None:
                    procs[i].join(JOIN_TIMEOUT_S)
                    raise RowError(f"{what}: {peer} party {i} died before the row ended (exit code {procs[i].exitcode})")
                if msg is None or msg[:1] == PARTY_ERROR:
                    why = msg[1:].decode(errors="replace") if msg else "closed its pipe"
                    raise RowError(f"{what}: {peer} party {i}: {why}")
                got[i] = msg
        for r in ready:
            i = sentinels.get(r)
            if i is not None and i in pending.values() and not conns[i].poll():
                procs[i].join(JOIN_TIMEOUT_S)
                raise RowError(f"{what}: {peer} party {i} died before the row ended (exit code {procs[i].exitcode})")
    return got


def run_parties(spec, samples):
    """A py_sync or py_state row."""
    family, peer, n = spec["family"], spec["peer"], spec["parties"]
    what = spec["primitive"] if family == "sync" else spec["access"]
    known = SYNC_PRIMITIVES if family == "sync" else STATE_ACCESSES
    if what not in known:
        raise RowError(f"unknown {'primitive' if family == 'sync' else 'access'} {what}")
    if peer not in PEERS:
        raise RowError(f"unknown peer {peer}")
    if n < 1 or (n < 2 and family == "sync" and what not in SYNC_LOCKS):
        raise RowError(f"{what} needs at least 2 parties, not {n}")
    mp_process.current_process()._config["semprefix"] = "/" + spec["prefix"]
    threads = peer == "thread"
    ctx = multiprocessing.get_context("fork" if threads else peer)
    # Thread parties share a plain buffer; process parties a RawArray (an anonymous mapping).
    words = bytearray(8 * (W_ARRIVALS + 2 * n)) if threads else ctx.RawArray("q", W_ARRIVALS + 2 * n)
    w = as_words(words)
    manager = start_manager(ctx, peer) if what in ("Manager_Value", "Manager_dict") else None
    cleanup = lambda: None  # noqa: E731
    parties, conns = [], []
    try:
        if family == "sync":
            # threading's primitives between threads, multiprocessing's between processes
            objs, arm = make_sync(what, threading if threads else ctx, n, w)
        else:
            objs, arm, final, cleanup = make_state(what, ctx, spec["prefix"], manager)
        gates = (ctx.Event(), ctx.Event())
        parent = None if peer == "forkserver" else os.getpid()
        for i in range(n):
            mine, theirs = ctx.Pipe(duplex=False)
            args = (family, what, i, n, objs, words, theirs, gates, spec.get("fault"), parent, not threads)
            if threads:
                p = threading.Thread(target=party_main, args=args, daemon=True)
            else:
                p = ctx.Process(target=party_main, args=args, daemon=True)
            p.start()
            parties.append(p)
            conns.append(mine)
            if not threads:
                theirs.close()  # the party's copy is its own now: its death reads as EOF here
        procs = [None if threads else p for p in parties]
        # How long a party may stay silent (tests shorten it to see a stopped party end the row).
        silent_s = spec.get("party_timeout_s", JOIN_TIMEOUT_S)
        collect(conns, procs, peer, "start", JOIN_TIMEOUT_S + 0.5 * n)  # interpreters starting

        def phase(index, amount, timeout_s):
            arm()
            w[W_AMOUNT] = amount
            begin = time.perf_counter_ns()
            gates[index].set()
            got = collect(conns, procs, peer, ("warm-up", "timed phase")[index], timeout_s)
            ends, cpus, counts, all_samples = [], [], [], []
            for msg in got:
                end, cpu, count = PARTY.unpack_from(msg, 1)
                ends.append(end)
                cpus.append(cpu)
                counts.append(count)
                body = msg[1 + PARTY.size:]
                all_samples.extend(struct.unpack(f"<{len(body) // 8}q", body))
            return max(ends) - begin, sum(cpus), counts, all_samples

        warm = spec["warmup"]
        budget, least, most = spec["budget_ns"], spec["min_msgs"], spec["max_msgs"]
        warm_ns, _, counts, warm_samples = phase(0, warm, silent_s)
        if family == "sync":
            check_sync(what, n, warm, counts, len(warm_samples), w[W_COUNT], "warm-up")
        else:
            check_state(what, n, warm, counts, final(), "warm-up")
        # The timed phase's amount: what the warm-up's pace fits in the budget, within bounds.
        amount = min(most, max(least, int(budget * warm / max(warm_ns, 1))))
        elapsed, cpu, counts, got = phase(1, amount, silent_s + 2 * budget / 1e9)
        out = {"elapsed_ns": elapsed, "cpu_ns": cpu, "counts": counts, "parties": n}
        if family == "sync":
            check_sync(what, n, amount, counts, len(got), w[W_COUNT], "timed phase")
            samples.extend(got)
            out["rounds"] = amount
        else:
            now = check_state(what, n, amount, counts, final(), "timed phase")
            out.update({"ops": amount, "expected": amount, "final": sum(now) if isinstance(now, list) else now})
            if manager is not None:
                out["requests_per_op"] = MANAGER_REQUESTS_PER_OP
        for p in parties:
            p.join(JOIN_TIMEOUT_S)
            if p.is_alive():
                raise RowError(f"a {peer} party did not end within {JOIN_TIMEOUT_S} s of its last phase")
            if not threads and p.exitcode != 0:
                raise RowError(f"a {peer} party exited with {p.exitcode}")
        return out
    finally:
        for p in parties:
            if not threads and p.is_alive():
                p.kill()
        for c in conns:
            c.close()
        cleanup()
        if manager is not None:
            manager.shutdown()


def run_row(spec, samples):
    if spec["family"] == "spawn":
        return run_spawn(spec, samples)
    if spec["family"] in ("sync", "state"):
        return run_parties(spec, samples)
    if spec["family"] in WORK_FAMILIES:  # py_pool, py_compute and their calibration
        return WORK_FAMILIES[spec["family"]](spec, samples)
    family, channel, peer = spec["family"], spec["channel"], spec["peer"]
    why = why_not(family, channel, peer)
    if why:
        raise RowError(why)
    # Semaphores multiprocessing makes are named <semprefix>-<random>: give them ipcmeter's prefix.
    mp_process.current_process()._config["semprefix"] = "/" + spec["prefix"]
    ctx = multiprocessing.get_context("fork" if peer == "thread" else peer)
    depth = 1 if family == "pingpong" else STREAM_DEPTH
    spec["depth"] = depth
    manager = start_manager(ctx, peer) if channel == "Manager_Queue" else None
    ms = Messages(spec["size"])
    cleanup = lambda: None  # noqa: E731
    worker = None
    try:
        mine, peer_args, cleanup = make_channel(channel, ctx, spec["size"], depth, spec["prefix"], manager)
        worker = start_peer(spec, ctx, peer_args)
        if peer_args[0] == "conn" and peer != "thread":
            # The peer has its own copies now: with ours closed, its death reads as EOF here.
            cleanup()
            cleanup = lambda: None  # noqa: E731
        try:
            if family == "pingpong":
                out = run_pingpong(mine, ms, spec, samples)
            else:
                send_done = peer_args[2].join if channel == "JoinableQueue" else (lambda: None)
                out = run_stream(mine, ms, spec, send_done)
        except (EOFError, ConnectionError):
            worker.join(JOIN_TIMEOUT_S)
            how = f"exit code {worker.exitcode}" if peer != "thread" else "a thread"
            raise RowError(f"the {peer} peer closed the channel before the row ended ({how})") from None
        worker.join(JOIN_TIMEOUT_S)
        if worker.is_alive():
            raise RowError(f"the {peer} peer did not end within {JOIN_TIMEOUT_S} s of its last message")
        if peer != "thread" and worker.exitcode != 0:
            raise RowError(f"the {peer} peer exited with {worker.exitcode}")
        mine.close()
        return out
    finally:
        if worker is not None and peer != "thread" and worker.is_alive():
            worker.kill()
        cleanup()
        if manager is not None:
            manager.shutdown()


def main():
    os.setpgid(0, 0)  # ipcmeter ends the row by killing this group: every process started here
    spec = json.loads(sys.argv[1])
    out = os.fdopen(spec["out_fd"], "wb")
    samples = []
    try:
        header = {"ok": True, **run_row(spec, samples)}
    except RowError as e:
        header, samples = {"ok": False, "error": str(e)}, []
    except Exception as e:  # whatever multiprocessing raised: the row's reason, not a traceback
        header, samples = {"ok": False, "error": f"{type(e).__name__}: {e}"}, []
    header["samples"] = len(samples)
    out.write(json.dumps(header).encode() + b"\n")
    out.write(struct.pack(f"<{len(samples)}q", *samples))
    out.flush()

