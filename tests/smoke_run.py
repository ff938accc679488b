#!/usr/bin/python3
"""Smoke run: every benchmark of the quick profile for a few iterations, then the results file
checked against ../shared/CONTRACT.md, and the machine checked for leftovers.

usage: smoke_run.py BUILD/ipcmeter
No speed is asserted: only that everything runs, errors say why, and the file is right."""
import json
import os
import platform
import re
import subprocess
import sys
import tempfile

# What docs/contract.md promises for the families this binary runs: keys in name order (a
# key marked "?" is optional and may be absent) and counters. The rows are checked against the schema
# the binary wrote into the file (ipcmeter.schema, its --describe output); these lists only
# check that the schema still says what the contract does, so that a key or counter lost from
# both the binary and its schema fails here.
CONTRACT_FAMILY_KEYS = {
    "pingpong": ["transport", "peer", "size", "wait?"],
    "stream": ["transport", "peer", "size", "wait?"],
    "placement": ["transport", "peer", "size", "wait?", "where"],
    "fanin": ["transport", "peer", "producers", "consumers", "size"],
    "spawn": ["method", "rss_mib"],
    "compute": ["kernel", "peer", "workers"],
    "pool": ["executor", "task_us", "chunk"],
    "sync": ["primitive", "peer", "parties"],
    "state": ["access", "peer", "workers"],
    "floor": ["probe"],
    "load": ["transport", "peer", "size", "wait?", "offered"],
    "py_pingpong": ["channel", "peer", "size", "python"],
    "py_stream": ["channel", "peer", "size", "python"],
    "py_spawn": ["peer", "rss_mib", "python"],
    "py_sync": ["primitive", "peer", "parties", "python"],
    "py_state": ["access", "peer", "workers", "python"],
    "py_pool": ["executor", "peer", "task_us", "chunk", "python"],
    "py_compute": ["kernel", "peer", "workers", "python"],
}
CONTRACT_COUNTERS = {
    "pingpong": ["rtt_p50_ns", "rtt_p90_ns", "rtt_p99_ns", "rtt_p999_ns", "rtt_max_ns", "rtt_mean_ns",
                 "cpu_ns_per_msg", "ratio_to_floor", "items_per_second"],
    "stream": ["items_per_second", "bytes_per_second", "cpu_ns_per_msg", "ratio_to_memcpy", "ratio_to_floor"],
    # as pingpong; ratio_to_floor is absent where the row is unpinned (no pair of CPUs to probe)
    "placement": ["rtt_p50_ns", "rtt_p90_ns", "rtt_p99_ns", "rtt_p999_ns", "rtt_max_ns", "rtt_mean_ns",
                  "cpu_ns_per_msg", "items_per_second"],
    "fanin": ["items_per_second", "bytes_per_second", "cpu_ns_per_msg"],
    "spawn": ["ready_p50_ns", "ready_p99_ns", "lifecycle_p50_ns"],
    "compute": ["speedup", "efficiency"],
    "pool": ["overhead_ns_per_task"],
    "sync": ["handoff_p50_ns", "handoff_p99_ns"],
    "state": ["ops_per_second", "ns_per_op"],
    "floor": [],
    # lat_p50_ns ... lat_max_ns are absent from a saturated row, so they are not required
    "load": ["offered_per_second", "achieved_per_second", "late_sends", "saturation_per_second", "saturated",
             "window_msgs", "cpu_ns_per_msg"],
    # as pingpong and stream, less what an unpinned interpreter cannot have (no c2c floor, no kernel counts)
    "py_pingpong": ["rtt_p50_ns", "rtt_p90_ns", "rtt_p99_ns", "rtt_p999_ns", "rtt_max_ns", "rtt_mean_ns",
                    "cpu_ns_per_msg", "items_per_second"],
    "py_stream": ["items_per_second", "bytes_per_second", "cpu_ns_per_msg", "ratio_to_memcpy", "ratio_to_floor"],
    "py_spawn": ["ready_p50_ns", "ready_p99_ns", "lifecycle_p50_ns"],
    # as sync and state (py_state's Value_nolock rows add lost_updates)
    "py_sync": ["handoff_p50_ns", "handoff_p99_ns"],
    "py_state": ["ops_per_second", "ns_per_op"],
    # as pool and compute
    "py_pool": ["overhead_ns_per_task"],
    "py_compute": ["speedup", "efficiency"],
}
CONTRACT_PEERS = {"thread", "fork", "spawn", "forkserver", "mpi_local", "mpi_remote"}
CONTRACT_WAITS = {"spin", "hybrid", "block"}
CONTRACT_KINDS = {"pipe", "queue", "shm"}
ENV_KEYS = ["cpu_model", "cpu_signature", "microcode", "logical_cpus", "physical_cores", "smt", "numa_nodes",
            "kernel", "virtualization", "governor", "cpuidle", "turbo", "mitigations", "thp", "clocksource",
            "compiler", "cxx_flags", "build_type", "git_revision", "commit_date", "hostname"]
FLOOR_KEYS = ["c2c_rtt_ns", "memcpy_gbps_cache", "memcpy_gbps_dram", "syscall_ns"]
# floors.c2c_rtt_ns is the per-trip p50 of the best protocol, and says so.
C2C_DEFINITION = "per_trip_p50_best_protocol"
# The only reasons a quick-profile benchmark may fail to run on a healthy machine.
ALLOWED_ERRORS = [r"connects threads of one process only", r"exceeds .*limit",
                  # a placement the machine lacks (no SMT, one socket, one allowed CPU)
                  r"^(same_cpu|other_core|smt_sibling|other_socket): ",
                  # a queue transport without the many-to-many form (ZeroMQ, nng): fanin lists it
                  r"fanin has no many-to-many access to",
                  # MPI ranks exist only under mpirun (tests/mpi_run.py runs them)
                  r"needs mpirun -np 2 build/ipcmeter --mpi", r"cannot reach a mpi_(local|remote) peer",
                  r"reaches MPI ranks only", r"mpi_remote needs it on a second host",
                  # the iceoryx rows when a RouDi someone else started runs (README, iceoryx)
                  r"a RouDi that ipcmeter did not start is running"]
# A compute row may come out faster than its workers allow when the host slows one vCPU (here
# a serial round ran 7.2 ms or 11.5 ms for minutes at a time, while /proc/stat showed no
# steal): the row then says so as an error (the contract). A few such rows are the host; most
# of them would be a fault of ipcmeter's reference rounds.
SUPERLINEAR = r"^measurement error, not a result: speedup "
MAX_SUPERLINEAR_SHARE = 0.25
# The families that report a speedup against workers:1 and flag an impossible one that way.
SPEEDUP_FAMILIES = ("compute", "py_compute")


DEFAULT_BINARY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "ipcmeter")


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


# Segments Google Benchmark appends on its own (the contract says tools ignore them).
GB_KEYS = {"iterations", "repeats", "threads", "min_time", "min_warmup_time"}


def parse(name):
    segs = name.split("/")
    fam = segs[0]
    keys, kv = [], {}
    for s in segs[1:]:
        if ":" not in s:
            continue  # Google Benchmark's own segments, e.g. manual_time
        k, v = s.split(":", 1)
        if k in GB_KEYS:
            continue
        keys.append(k)
        kv[k] = v
    return fam, keys, kv


def check_c2c_floor(part, floors, sizes):
    """The floor is the lowest per-trip p50 of the protocols it lists, and says what it is."""
    if floors.get("c2c_definition") != C2C_DEFINITION:
        fail(f"{part}.c2c_definition = {floors.get('c2c_definition')!r}")
    protocols = floors.get("c2c_protocols")
    if not isinstance(protocols, dict) or not protocols:
        fail(f"{part}.c2c_protocols = {protocols!r}")
    for name, p in protocols.items():
        if not all(isinstance(p.get(k), (int, float)) and p[k] > 0 for k in ("p50_ns", "p99_ns", "mean_ns", "trips")):
            fail(f"{part}.c2c_protocols.{name} = {p!r}")
        if p["p99_ns"] < p["p50_ns"]:
            fail(f"{part}.c2c_protocols.{name}: p99 below p50")
    best = min(protocols, key=lambda n: protocols[n]["p50_ns"])
    if floors.get("c2c_rtt_ns") != protocols[best]["p50_ns"]:
        fail(f"{part}.c2c_rtt_ns {floors.get('c2c_rtt_ns')} is not the lowest protocol p50 ({best})")
    copies = floors.get("c2c_copy_gbps_by_size")
    if not isinstance(copies, dict) or {int(k) for k in copies} != set(sizes):
        fail(f"{part}.c2c_copy_gbps_by_size = {copies!r}: expected every streamed size")


def describe(binary):
    p = subprocess.run([binary, "--describe"], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        fail(f"{binary} --describe exited {p.returncode}: {p.stderr.strip()}")
    return json.loads(p.stdout)


def check_schema(schema, binary):
    """ipcmeter.schema is the --describe output of the binary that wrote the file, and says at
    least what the contract does. Returns {family: (keys, required counters)} for the rows."""
    if binary and describe(binary) != schema:
        fail("ipcmeter.schema is not what --describe prints")
    families = schema.get("families", {})
    out = {}
    for fam, contract_keys in CONTRACT_FAMILY_KEYS.items():
        if fam not in families:
            fail(f"schema lacks family {fam}")
        keys = families[fam]["keys"]
        said = [k["name"] + ("?" if k["optional"] else "") for k in keys]
        if said != contract_keys:
            fail(f"schema's {fam} keys {said} are not the contract's {contract_keys}")
        counters = families[fam]["counters"]
        required = [c for c, v in counters.items() if v["required"]]
        for c in CONTRACT_COUNTERS[fam]:
            if c not in required:
                fail(f"schema's {fam} does not require the contract's counter {c}")
        out[fam] = (keys, required)
    if not set(schema.get("peers", [])) <= CONTRACT_PEERS or not set(schema.get("waits", [])) <= CONTRACT_WAITS:
        fail(f"schema's peers {schema.get('peers')} or waits {schema.get('waits')} are not the contract's")
    for name, t in schema.get("transports", {}).items():
        if t.get("kind") not in CONTRACT_KINDS or "max_msg_bytes" not in t:
            fail(f"schema's transport {name} badly described: {t}")
    return out


def check_meta(m, sizes, live=False):
    if m.get("schema_version") != 1:
        fail("schema_version is not 1")
    if m.get("profile") != "quick":
        fail("profile is not quick")
    for k in ENV_KEYS:
        if k not in m["env"]:
            fail(f"env lacks {k}")
    # x86 and Arm kernels print a CPU's identity in /proc/cpuinfo (env.cpp reads those two
    # forms); a null there, in a run made here and now, is a parse failure. A committed
    # baseline older than the key holds null: unknown, not guessed.
    if live and re.match(r"(x86_64|i[3-6]86|aarch64|arm)", platform.machine()) \
            and not isinstance(m["env"]["cpu_signature"], dict):
        fail("env.cpu_signature is not an object: /proc/cpuinfo was not read")
    for part in ("floors", "floors_end"):
        # Every floor, as a run without --floors measures; a committed baseline older than
        # the key does not say, and measured them all.
        if m[part].get("measured", None if live else "all") != "all":
            fail(f"{part}.measured = {m[part].get('measured')!r}: a run without --floors measures all")
        for k in FLOOR_KEYS:
            if k not in m[part]:
                fail(f"{part} lacks {k}")
            v = m[part][k]
            if v is not None and not (isinstance(v, (int, float)) and v > 0):
                fail(f"{part}.{k} = {v!r}")
        check_c2c_floor(part, m[part], sizes)
    if not isinstance(m.get("placement"), dict) or "pinned" not in m["placement"]:
        fail("placement missing")
    if not isinstance(m.get("warnings"), list):
        fail("warnings is not a list")
    for name, t in m.get("transports", {}).items():
        if t.get("kind") not in CONTRACT_KINDS or "max_msg_bytes" not in t:
            fail(f"transport {name} badly described: {t}")


def check_name(name, families, profile):
    """The name's keys are its family's, in order, each with a value the schema allows."""
    fam, keys, kv = parse(name)
    if fam not in families:
        fail(f"unknown family in {name}")
    described = families[fam][0]
    # An optional key may be absent anywhere (placement's wait sits before where): the name's
    # keys are the described ones it has, in their order, and every key that is not optional.
    present = [k["name"] for k in described if k["name"] in kv]
    missing = [k["name"] for k in described if k["name"] not in kv and not k["optional"]]
    if keys != present or missing:
        fail(f"keys out of contract order in {name}")
    for k in described:
        if k["name"] not in kv:
            continue
        v = kv[k["name"]]
        if k["unit"] != "name":
            if not v.isdigit():
                fail(f"{name}: {k['name']} is not a number")
            v = int(v)
        allowed = k.get("values_by_profile", {}).get(profile, k.get("values"))
        if allowed is not None and v not in allowed:
            fail(f"{name}: {k['name']}:{v} is not among the schema's {allowed}")
    return fam, kv


def check_row(b, fam, required, superlinear):
    if b.get("run_type") == "aggregate":
        return  # Google Benchmark's mean/median/stddev/cv of repetitions: not percentiles
    if b.get("error_occurred"):
        msg = b.get("error_message", "")
        if not msg:
            fail(f"{b['name']}: error without a message")
        if fam in SPEEDUP_FAMILIES and re.search(SUPERLINEAR, msg):
            superlinear.append(b["name"])
            return
        if not any(re.search(p, msg) for p in ALLOWED_ERRORS):
            fail(f"{b['name']}: unexpected error: {msg}")
        return
    want = required
    if fam in ("sync", "py_sync") and b.get("handoffs_sampled") == 0:
        want = []  # a lock that was never handed off has no hand-off latency to report
    for c in want:
        if c not in b:
            fail(f"{b['name']}: counter {c} missing")
        if not b[c] >= 0:
            fail(f"{b['name']}: counter {c} = {b[c]}")
    if fam in ("pingpong", "py_pingpong"):
        ps = [b[c] for c in ("rtt_p50_ns", "rtt_p90_ns", "rtt_p99_ns", "rtt_p999_ns", "rtt_max_ns")]
        if ps != sorted(ps):
            fail(f"{b['name']}: percentiles not monotonic: {ps}")
    if fam == "load":
        lat = ("lat_p50_ns", "lat_p99_ns", "lat_p999_ns", "lat_max_ns")
        if b["saturated"] == 1:
            if any(c in b for c in lat) or not b.get("label", "").startswith("saturated: "):
                fail(f"{b['name']}: a saturated row must omit its latencies and say so in its label")
        else:
            if any(c not in b for c in lat):
                fail(f"{b['name']}: latencies missing from a row that is not saturated")
            ps = [b[c] for c in lat]
            if ps != sorted(ps):
                fail(f"{b['name']}: percentiles not monotonic: {ps}")


def check_results(path, binary=None):
    with open(path) as f:
        d = json.load(f)
    for top in ("context", "benchmarks", "ipcmeter"):
        if top not in d:
            fail(f"no top-level {top}")
    m = d["ipcmeter"]
    schema = m.get("schema")
    if schema is None and binary is None:
        # A file written before ipcmeter.schema existed (a committed baseline): the build's
        # binary describes the suite instead.
        schema = describe(os.environ.get("IPCMETER_BIN", DEFAULT_BINARY))
    if not isinstance(schema, dict):
        fail("no ipcmeter.schema")
    families = check_schema(schema, binary)
    sizes = schema["profiles"]["quick"]["sizes"]
    check_meta(m, sizes, live=binary is not None)
    transports = m.get("transports", {})

    seen = set()
    superlinear = []
    for b in d["benchmarks"]:
        # An aggregate's name has its suffix (_mean, ...) on the last segment; run_name has not.
        fam, kv = check_name(b["run_name"] if b.get("run_type") == "aggregate" else b["name"], families, "quick")
        if fam in ("pingpong", "stream"):
            if kv["transport"] not in transports:
                fail(f"{b['name']}: transport not in ipcmeter.transports")
            seen.add((fam, kv["transport"], kv["peer"], int(kv["size"]), kv.get("wait")))
        check_row(b, fam, families[fam][1], superlinear)
    compared = [b for b in d["benchmarks"] if b["name"].split("/", 1)[0] in SPEEDUP_FAMILIES
                and b.get("run_type") != "aggregate" and "/workers:1/" not in b["name"] + "/"]
    if superlinear:
        print(f"note: {len(superlinear)} of {len(compared)} compute rows flagged a superlinear speedup: "
              + ", ".join(superlinear))
    if len(superlinear) > MAX_SUPERLINEAR_SHARE * len(compared):
        fail(f"{len(superlinear)} of {len(compared)} compute rows flagged a superlinear speedup")
    # The matrix is complete: every transport x peer x size x wait, both families, less what the
    # profile narrows for library transports (schema's profiles.quick.library_links).
    narrowed = schema["profiles"]["quick"].get("library_links", {})
    for fam in ("pingpong", "stream"):
        for name, t in transports.items():
            keep = narrowed.get(name, {})
            for peer in keep.get("peers", schema["peers"]):
                for size in sizes:
                    for wait in (keep.get("waits", t["waits"]) or [None]):
                        if (fam, name, peer, size, wait) not in seen:
                            fail(f"{fam} {name} {peer} {size} {wait}: missing from the results")
    return d


def leftovers(pid):
    found = []
    for directory in ("/dev/shm", "/dev/mqueue", os.environ.get("TMPDIR", "/tmp")):
        try:
            found += [f"{directory}/{n}" for n in os.listdir(directory) if n.startswith(f"ipcmeter-{pid}-")]
        except FileNotFoundError:
            pass
    for proc in os.listdir("/proc"):
        if not proc.isdigit():
            continue
        try:
            with open(f"/proc/{proc}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"--ipcmeter-peer" in argv and f"parent={pid}".encode() in argv:
            found.append(f"process {proc}")
    return found


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "results.json")
        proc = subprocess.Popen([binary, "--profile", "quick", "--benchmark_min_time=0.002",
                                 f"--benchmark_out={out}", "--benchmark_out_format=json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stdout, stderr = proc.communicate(timeout=540)
        if proc.returncode != 0:
            fail(f"ipcmeter exited {proc.returncode}: {stderr[-2000:]}")
        if "ipcmeter summary" not in stdout:
            fail("no summary table printed")
        d = check_results(out, binary)
        left = leftovers(proc.pid)
        if left:
            fail(f"left behind: {left}")
        if [n for n in os.listdir(tmp) if n != "results.json"]:
            fail(f"temporary results file left: {os.listdir(tmp)}")
    n = len(d["benchmarks"])
    errs = sum(1 for b in d["benchmarks"] if b.get("error_occurred"))
    print(f"smoke: {n} benchmarks, {errs} reported as unable to run with a reason; results file matches the contract")


if __name__ == "__main__":
    main()
