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

Only when RESULTS.json lists mpi rows (a filtered run that left them out gets none). Each row that ran (or now carries a more precise reason) replaces the plain run's row of the
same name in RESULTS.json, which is rewritten atomically; ipcmeter.mpi_launches records each
launch's command, floors, placement and warnings. As root, OpenMPI's allow-run-as-root
variables are set in mpirun's environment only. Exit 0 when every launch wrote results, 1
when one failed (RESULTS.json is then left as it was), 2 on bad input.
"""
import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ipcmeter import atomic  # noqa: E402
from ipcmeter.results import read_document  # noqa: E402
from ipcmeter.schema import describe_of  # noqa: E402

# The transport and the --mca btl that selects its path; the names are ipcmeter's
# (`--describe` lists each with its mpi_btl).
def mpi_transports(binary, crossing_hosts=False):
    d = describe_of(binary).raw
    return {name: t["mpi_btl"] for name, t in d["transports"].items()
            if "mpi_btl" in t and (t.get("mpi_crosses_hosts") or not crossing_hosts)}


def child_env():
    env = dict(os.environ)
    if os.geteuid() == 0:
        # OpenMPI refuses root unless told; only for this launch, never exported further.
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    return env


def launch(binary, transport, btl_args, hosts, mpirun_args, flags, out):
    cmd = ["mpirun", "-np", "2", "--bind-to", "none"]
    # Across hosts every peer:mpi_remote row runs (tcp's too, and the listed ones' reasons
    # come from the launch that has a remote rank); on one host this transport's mpi rows.
    row_filter = f"^(pingpong|stream)/transport:{transport}/peer:mpi_"
    if hosts:
        cmd += ["--hostfile", hosts, "--map-by", "node"]
        row_filter = "^(pingpong|stream)/transport:[^/]+/peer:mpi_remote/"
    cmd += btl_args.split()
    cmd += ["--mca", "btl_vader_single_copy_mechanism", "none"] + mpirun_args
    # The filter and the output are this launch's own; the rest (profile, min time) is passed on.
    passed = [f for f in flags if not f.startswith(("--benchmark_filter", "--benchmark_out"))]
    cmd += [binary, "--mpi"] + passed + [f"--benchmark_filter={row_filter}",
                                         f"--benchmark_out={out}", "--benchmark_out_format=json"]
    print("+ " + " ".join(cmd), file=sys.stderr)
    rc = subprocess.run(cmd, env=child_env()).returncode
    return cmd, rc


def merge(results, runs):
    d = read_document(results)
    launches = d["ipcmeter"].setdefault("mpi_launches", [])
    for cmd, path in runs:
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
        launches.append({"command": cmd, "rows": sorted(names), "floors": mi.get("floors"),
                         "placement": mi.get("placement"), "warnings": mi.get("warnings", []),
                         "hostname": mi.get("env", {}).get("hostname")})
        # A launch across hosts: the second host's env and the network floors between the two.
        if mi.get("peer_env") is not None:
            d["ipcmeter"]["peer_env"] = mi["peer_env"]
        for key in ("floors", "floors_end"):
            net = {k: v for k, v in (mi.get(key) or {}).items() if k.startswith("net_")}
            if net and isinstance(d["ipcmeter"].get(key), dict):
                d["ipcmeter"][key].update(net)
    atomic.write_json(results, d)


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
    listed = [b["name"] for b in read_document(a.results).get("benchmarks", []) if "/transport:mpi_" in b["name"] or "/peer:mpi_" in b["name"]]
    if not listed:
        print(f"mpi_rows.py: {a.results} lists no mpi rows (filtered out); nothing to run", file=sys.stderr)
        return
    runs = []
    with tempfile.TemporaryDirectory(prefix="ipcmeter-mpi-") as tmp:
        # The local launches first, so the launch across hosts has the last word on mpi_remote rows.
        plan = [] if a.remote_only else [(t, btl, None) for t, btl in mpi_transports(a.bin).items()]
        if a.hosts:
            plan += [(t, btl, a.hosts) for t, btl in mpi_transports(a.bin, crossing_hosts=True).items()]
        for transport, btl, hosts in plan:
            where = "hosts" if hosts else "local"
            out = os.path.join(tmp, f"{transport}-{where}.json")
            cmd, rc = launch(a.bin, transport, btl, hosts, a.mpirun_arg, flags, out)
            if rc != 0 or not os.path.isfile(out):
                print(f"mpi_rows.py: the {transport} launch ({where}) failed (exit {rc}); {a.results} left as it was",
                      file=sys.stderr)
                sys.exit(1)
            runs.append((cmd, out))
        merge(a.results, runs)
    print(f"mpi rows merged into {a.results}", file=sys.stderr)


if __name__ == "__main__":
    main()
