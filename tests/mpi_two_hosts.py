#!/usr/bin/python3
"""The two-host path (scripts/mpi_rows.py --hosts, as scripts/run.sh --hosts runs it) on one
machine: two network namespaces joined by a veth pair on a private /30 stand for two hosts,
each with its own host name (a UTS namespace). OpenMPI's rsh agent is replaced by a script
that starts the remote daemon inside the other namespace, MPI's TCP traffic is held to the
/30, ranks are launched with --bind-to none and pinned to different CPUs by ipcmeter. The
peer:mpi_remote rows must run (mpi_tcp and the tcp rows whose rank 1 connects back), the
results must carry the second "host"'s env as ipcmeter.peer_env and the network floors.

Needs root and `ip netns`; otherwise it exits 77 (ctest's SKIP_RETURN_CODE) with the reason.
Only namespaces, links and addresses this test makes are touched: they are removed on every
way out (finally, SIGTERM/SIGINT), and namespaces left by a run of this test that was killed
(its pid, in the name, is dead) are removed at the start.

usage: tests/mpi_two_hosts.py BUILD/ipcmeter
"""
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

SKIP = 77
PREFIX = "ipcmeter-hosts-"
# A /30 inside the namespaces only: the host's own routing never sees it.
SUBNET = "10.254.77.0/30"
ADDR_A, ADDR_B = "10.254.77.1", "10.254.77.2"
# The test's rows are short; IPCMETER_TWO_HOSTS_MIN_TIME gives a measuring run its own, and
# IPCMETER_TWO_HOSTS_KEEP=PATH keeps the merged results file there (the README's table).
MIN_TIME = os.environ.get("IPCMETER_TWO_HOSTS_MIN_TIME", "0.05")
KEEP = os.environ.get("IPCMETER_TWO_HOSTS_KEEP")
SIZES = (64, 64 << 10)  # the quick profile's
TIMEOUT = 150
PR_SET_PDEATHSIG = 1


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(SKIP)


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def netns_list():
    out = sh("ip", "netns", "list").stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def sweep_stale():
    """Namespaces of an earlier run of this test whose process is gone."""
    for name in netns_list():
        m = re.fullmatch(re.escape(PREFIX) + r"(\d+)-[ab]", name)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            sh("ip", "netns", "del", name, check=False)
            print(f"removed stale namespace {name}", file=sys.stderr)


def die_with_parent():
    # The namespace holders die with this test, even when it is SIGKILLed.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class TwoHosts:
    """Namespaces <prefix><pid>-a and -b, a veth pair between them, one holder process per
    namespace that owns its UTS namespace (host name)."""

    def __init__(self):
        self.names = {h: f"{PREFIX}{os.getpid()}-{h}" for h in "ab"}
        self.holders = {}
        self.made = []

    def up(self):
        for h, ns in self.names.items():
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        a, b = self.names["a"], self.names["b"]
        # Made inside namespace a with its other end put straight into b: the pair never
        # exists in the host's namespace, and goes when the namespaces go.
        sh("ip", "-n", a, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", b)
        sh("ip", "-n", a, "addr", "add", f"{ADDR_A}/30", "dev", "veth0")
        sh("ip", "-n", b, "addr", "add", f"{ADDR_B}/30", "dev", "veth1")
        sh("ip", "-n", a, "link", "set", "veth0", "up")
        sh("ip", "-n", b, "link", "set", "veth1", "up")
        for h, ns in self.names.items():
            # Its own host name: ipcmeter tells a remote rank by a different one.
            self.holders[h] = subprocess.Popen(
                ["ip", "netns", "exec", ns, "unshare", "--uts", "sh", "-c", f"hostname {ns} && exec sleep {TIMEOUT * 2}"],
                preexec_fn=die_with_parent)
        for h, p in self.holders.items():
            for _ in range(100):
                if self.hostname_of(h) == self.names[h]:
                    break
                if p.poll() is not None:
                    raise RuntimeError(f"the holder of {self.names[h]} exited with {p.returncode}")
                subprocess.run(["sleep", "0.05"])
            else:
                raise RuntimeError(f"{self.names[h]} did not take its host name")

    def hostname_of(self, h):
        return sh(*self.enter(h), "hostname", check=False).stdout.strip()

    def enter(self, h):
        return ["nsenter", f"--net=/run/netns/{self.names[h]}", f"--uts=/proc/{self.holders[h].pid}/ns/uts"]

    def down(self):
        for p in self.holders.values():
            if p.poll() is None:
                p.kill()
            p.wait()
        for ns in self.made:
            sh("ip", "netns", "del", ns, check=False)
        self.made = []


def run_group(cmd):
    """Runs cmd in a process group of its own, so every way out of this test (a timeout,
    SIGTERM) also ends what it started: mpi_rows.py, mpirun, the ranks and daemons under it."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=TIMEOUT)
        return subprocess.CompletedProcess(cmd, p.returncode, out, err)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def agent_script(hosts, path):
    """OpenMPI's rsh agent: `AGENT HOST COMMAND…`; host b is entered instead of reached by ssh."""
    with open(path, "w") as f:
        f.write("#!/bin/sh\n"
                "# OpenMPI's rsh agent for tests/mpi_two_hosts.py: the second host is a namespace.\n"
                'host=$1; shift\n'
                f'[ "$host" = "{ADDR_B}" ] || {{ echo "agent: no such test host: $host" >&2; exit 1; }}\n'
                f'exec {" ".join(hosts.enter("b"))} sh -c "$*"\n')
    os.chmod(path, 0o700)


def check_results(d, hosts):
    problems = []
    ipc = d["ipcmeter"]
    rows = {b["name"].split("/manual_time")[0]: b for b in d["benchmarks"]}
    for fam in ("pingpong", "stream"):
        for transport in ("mpi_tcp", "tcp"):
            for size in SIZES:
                name = f"{fam}/transport:{transport}/peer:mpi_remote/size:{size}"
                r = rows.get(name)
                if r is None:
                    problems.append(f"{name}: missing")
                    continue
                if r.get("error_occurred"):
                    problems.append(f"{name}: {r.get('error_message')}")
                    continue
                want = (["rtt_p50_ns", "rtt_p99_ns", "rtt_max_ns", "cpu_ns_per_msg", "items_per_second"]
                        if fam == "pingpong" else ["bytes_per_second", "items_per_second", "cpu_ns_per_msg"])
                for c in want:
                    if not (isinstance(r.get(c), (int, float)) and r[c] > 0):
                        problems.append(f"{name}: counter {c} = {r.get(c)}")
                if fam == "pingpong" and not r["rtt_p50_ns"] <= r["rtt_p99_ns"] <= r["rtt_max_ns"]:
                    problems.append(f"{name}: percentiles out of order")
        # Shared memory cannot cross hosts: listed with the reason, as every other row it cannot run.
        sm = rows.get(f"{fam}/transport:mpi_sm/peer:mpi_remote/size:64")
        if not (sm and sm.get("error_occurred") and "this host only" in sm.get("error_message", "")):
            problems.append(f"{fam} mpi_sm/mpi_remote: not listed with the reason ({sm and sm.get('error_message')})")
    env, peer_env = ipc.get("env") or {}, ipc.get("peer_env")
    if not isinstance(peer_env, dict):
        problems.append("ipcmeter.peer_env missing")
    else:
        if set(peer_env) != set(env):
            problems.append(f"peer_env keys differ from env's: {sorted(set(peer_env) ^ set(env))}")
        if peer_env.get("hostname") != hosts.names["b"] or env.get("hostname") != hosts.names["a"]:
            problems.append(f"host names: env {env.get('hostname')}, peer_env {peer_env.get('hostname')}")
    for key in ("floors", "floors_end"):
        f = ipc.get(key) or {}
        for k in ("net_rtt_ns", "net_rtt_p99_ns", "net_gbps"):
            if not (isinstance(f.get(k), (int, float)) and f[k] > 0):
                problems.append(f"{key}.{k} = {f.get(k)}")
        if f.get("net_peer_address") != ADDR_B or f.get("net_local_address") != ADDR_A:
            problems.append(f"{key}: the floor ran over {f.get('net_local_address')} -> {f.get('net_peer_address')}")
    across = [l for l in ipc.get("mpi_launches", []) if "--hostfile" in l["command"]]
    if not across:
        problems.append("ipcmeter.mpi_launches lacks the launch across hosts")
    elif "--bind-to" not in across[0]["command"] or "none" not in across[0]["command"]:
        problems.append("the launch across hosts does not leave binding to ipcmeter (--bind-to none)")
    else:
        # Both "hosts" are this machine: ipcmeter pins the ranks to the placement's two CPUs.
        pl = across[0].get("placement") or {}
        if pl.get("pinned") and pl.get("parent_cpu") == pl.get("peer_cpu"):
            problems.append(f"the ranks share CPU {pl.get('parent_cpu')}")
    return problems


def ranks_alive(binary):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0] == binary.encode() and b"--mpi" in argv:
            found.append(pid)
    return found


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    binary = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        skip("needs root (network namespaces)")
    for tool in ("ip", "nsenter", "unshare", "mpirun"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode != 0:
            skip(f"{tool} not found")
    if subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        skip("`ip netns` is not available here")
    sweep_stale()
    links_before = sh("ip", "-o", "link").stdout
    netns_before = netns_list()

    # SIGTERM/SIGINT leave through the finally below.
    def leave(sig, _):
        raise SystemExit(128 + sig)
    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGINT, leave)

    hosts = TwoHosts()
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    problems = []
    try:
        try:
            hosts.up()
        except (subprocess.CalledProcessError, RuntimeError) as e:
            err = getattr(e, "stderr", "") or ""
            skip(f"cannot make the two namespaces here: {e} {err.strip()}")
        with tempfile.TemporaryDirectory(prefix="ipcmeter-hosts-") as tmp:
            agent = os.path.join(tmp, "agent.sh")
            agent_script(hosts, agent)
            hostfile = os.path.join(tmp, "hosts")
            with open(hostfile, "w") as f:
                f.write(f"{ADDR_A} slots=1\n{ADDR_B} slots=1\n")
            out = os.path.join(tmp, "results.json")
            flags = ["--profile", "quick", f"--benchmark_min_time={MIN_TIME}"]
            # The plain run, on "host" a: lists the mpi_remote rows with why they need mpirun.
            p = run_group(hosts.enter("a") + [binary] + flags + ["--benchmark_filter=/peer:mpi_remote/",
                          f"--benchmark_out={out}", "--benchmark_out_format=json"])
            if p.returncode != 0:
                problems.append(f"plain run failed ({p.returncode}): {p.stderr[-2000:]}")
            else:
                mpirun_args = ["--mca", "plm_rsh_agent", agent,
                               "--mca", "btl_tcp_if_include", SUBNET, "--mca", "oob_tcp_if_include", SUBNET]
                p = run_group(hosts.enter("a") + ["/usr/bin/python3", os.path.join(repo, "scripts", "mpi_rows.py"),
                              out, "--hosts", hostfile, "--remote-only", "--bin", binary] +
                              [f"--mpirun-arg={a}" for a in mpirun_args] + ["--"] + flags)
                if p.returncode != 0:
                    problems.append(f"mpi_rows.py --hosts failed ({p.returncode}): {p.stderr[-3000:]}")
                else:
                    with open(out) as f:
                        problems += check_results(json.load(f), hosts)
                    if KEEP:
                        shutil.copyfile(out, KEEP)
    finally:
        hosts.down()
    if ranks_alive(binary):
        problems.append("an ipcmeter --mpi rank is still running")
    left = [n for n in netns_list() if n not in netns_before and n.startswith(PREFIX)]
    if left:
        problems.append(f"namespaces left behind: {left}")
    # Only this test's link names are looked for: other work on the machine may add its own.
    added = set(sh("ip", "-o", "link").stdout.splitlines()) - set(links_before.splitlines())
    ours = [l for l in added if re.search(r"^\d+: veth[01][@:]", l)]
    if ours:
        problems.append(f"links left in the host's namespace: {ours}")
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("ok: the peer:mpi_remote rows ran across two namespaces; peer_env and network floors recorded")


if __name__ == "__main__":
    main()
