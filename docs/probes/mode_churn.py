#!/usr/bin/python3
"""Does a row's run-wide mode follow the memory a run is handed, or the time?

Diagnosis for docs/ci-gate.md ("Why these statistics"), not part of the gate. On the
development VM shm_ring fork spin 64 B sits near 470 or near 640 ns for a whole run, and
the floor's own probe sees both levels across 8 adjacent cache lines of one run. If the
mode is where the run's lines are homed, back-to-back runs of the row alone (each reusing
the pages the previous one freed) keep their mode, and runs separated by a process that
takes and touches a large block of memory (so the next run gets other pages) change mode
as often as independent draws would. If the mode is a state of the host in time, the two
kinds of block look alike.

  /usr/bin/python3 docs/probes/mode_churn.py --bin build/ipcmeter [--runs 10] [--blocks 2]
      [--churn-mib 2048] [--row REGEX]

Blocks alternate: "plain" (runs back to back) and "churn" (the churn before every run).
Printed: each run's p50 and floor, each block's modes and how many consecutive pairs of
runs changed mode. Run it on an otherwise idle machine, never beside another benchmark.
"""
import argparse
import json
import os
import sys
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
from ipcmeter import children  # noqa: E402

ROW = "^pingpong/transport:shm_ring/peer:fork/size:64/wait:spin(/|$)"
# Between the ~470 ns and ~640 ns modes of that row on the development VM.
SLOW_FROM_NS = 560.0
# Below this the floor says the host ran both vCPUs on the fast placement (~90 ns).
FAST_FLOOR_NS = 200.0


def one_run(binary, row, out, extra_args=()):
    """(rtt_p50_ns, floor_c2c_rtt_ns) of one quick-profile run of the row alone; the other
    probes of this folder use it too (window_spread.py)."""
    me = os.path.basename(sys.argv[0])
    argv = [binary, "--profile", "quick", "--benchmark_filter=" + row, *extra_args,
            "--benchmark_out=" + out, "--benchmark_out_format=json"]
    proc = children.run(argv, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL, timeout=300)
    if proc.returncode != 0:
        raise SystemExit("%s: %s exited %d" % (me, binary, proc.returncode))
    with open(out, encoding="utf-8") as f:
        rows = [b for b in json.load(f)["benchmarks"] if "rtt_p50_ns" in b]
    if len(rows) != 1:
        raise SystemExit("%s: --row matched %d rows with a round trip" % (me, len(rows)))
    return rows[0]["rtt_p50_ns"], rows[0].get("floor_c2c_rtt_ns")


def churn(mib):
    # A separate process, so its pages go back to the kernel when it exits.
    code = "b = bytearray(%d << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\n" % mib
    children.run([sys.executable, "-c", code], timeout=120)


def mode(p50, floor):
    if floor is not None and floor < FAST_FLOOR_NS:
        return "fast"
    return "slow" if p50 >= SLOW_FROM_NS else "normal"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--row", default=ROW)
    ap.add_argument("--runs", type=int, default=10, help="runs per block")
    ap.add_argument("--blocks", type=int, default=2, help="pairs of plain + churn blocks")
    ap.add_argument("--churn-mib", type=int, default=2048)
    args = ap.parse_args()
    totals = {"plain": [0, 0], "churn": [0, 0]}
    with tempfile.TemporaryDirectory(prefix="ipcmeter-mode-churn-") as tmp:
        out = os.path.join(tmp, "run.json")
        for block in range(2 * args.blocks):
            kind = "plain" if block % 2 == 0 else "churn"
            modes = []
            for _ in range(args.runs):
                if kind == "churn":
                    churn(args.churn_mib)
                p50, floor = one_run(args.bin, args.row, out)
                modes.append(mode(p50, floor))
                print("%s block %d: p50 %.1f ns, floor %s ns, %s"
                      % (kind, block + 1, p50, floor, modes[-1]), flush=True)
            kept = [m for m in modes if m != "fast"]
            changes = sum(1 for a, b in zip(kept, kept[1:]) if a != b)
            totals[kind][0] += changes
            totals[kind][1] += max(len(kept) - 1, 0)
            print("%s block %d: %s; %d of %d consecutive pairs changed mode"
                  % (kind, block + 1, " ".join(modes), changes, max(len(kept) - 1, 0)))
    for kind, (changes, pairs) in totals.items():
        print("%s: %d of %d consecutive pairs changed mode" % (kind, changes, pairs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
