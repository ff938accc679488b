"""ipcmeter's CPython driver: the measuring side of the py_* rows.

ipcmeter starts this file through its launcher as
    PYTHON -I ipcmeter_driver.py SPEC_JSON
with one descriptor inherited (SPEC_JSON's "out_fd"). The driver runs one row: it builds the
channel, starts the peer (a thread, or a multiprocessing Process by the start method), times
every round trip (pingpong) or the whole transfer (stream) with time.perf_counter_ns inside this
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
import struct
import sys
import threading
import time
import zlib

import multiprocessing
from multiprocessing import process as mp_process

try:  # imported here, not in a started child, so that its import is not part of a start
    import ctypes
except ImportError:  # a build without ctypes: children then rely on the driver's process group
    ctypes = None

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
    """A process peer dies with its parent (the driver, or the fork server when parent is None)."""
    if ctypes is not None:
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
        except (OSError, AttributeError):
            pass
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
    """The started child: its first message says it runs; then it ends."""
    arm_death_signal(parent)
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


def start_manager(ctx, peer):
    from multiprocessing.managers import SyncManager
    m = SyncManager(ctx=ctx)
    m.start(arm_death_signal, (None if peer == "forkserver" else os.getpid(),))
    return m


def run_row(spec, samples):
    if spec["family"] == "spawn":
        return run_spawn(spec, samples)
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


if __name__ == "__main__":
    main()
