#!/usr/bin/python3
"""ipcmeter's CPython figures beside py_check.py's, on the same machine (issue 14's acceptance).

    /usr/bin/python3 docs/probes/py_check.py --json /tmp/py_check.json
    /usr/bin/python3 docs/probes/py_check_compare.py RESULTS.json /tmp/py_check.json [--python 3.11.2]

Pairs (ipcmeter row and counter, median over its repetitions <-> the check's median):
  py_pingpong/channel:C/peer:M/size:64 rtt_p50_ns <-> "C round trip, M, 64 B"  (C: Queue, Pipe; M: fork, spawn)
  py_spawn/peer:M/rss_mib:1 lifecycle_p50_ns (start() -> join() returned) <-> "start+join, M"
Prints both, ipcmeter / check, and whether that ratio is within +-20%. Reads the results file
as JSON itself: no ipcmeter code. Exit 0 when every pair is within, 1 otherwise. Run the check
right after ipcmeter on the same, otherwise idle machine. Known differences: ipcmeter's messages
carry a sequence number and a CRC-32 (the check sends bare bytes), and its py_spawn parent holds
rss_mib of touched ballast (1 MiB here) that the check's parent does not.
"""
import argparse
import json
import statistics
import sys

LIMIT = 0.20


def params(name):
    """(family, {key: value}) of a benchmark name; Google Benchmark's own segments dropped."""
    family, *rest = name.split("/")
    return family, dict(seg.split(":", 1) for seg in rest if ":" in seg)


def figure(benchmarks, family, want, counter, python):
    values = []
    for b in benchmarks:
        fam, p = params(b.get("name", ""))
        if (fam == family and b.get("run_type", "iteration") == "iteration" and not b.get("error_occurred")
                and all(p.get(k) == v for k, v in want.items()) and (python is None or p.get("python") == python)
                and counter in b):
            values.append(b[counter])
    return statistics.median(values) if values else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="ipcmeter results file (JSON)")
    ap.add_argument("check", help="py_check.py --json output")
    ap.add_argument("--python", help="the rows' python key (default: any; give it when the run has several)")
    args = ap.parse_args()
    try:
        with open(args.results) as f:
            benchmarks = json.load(f)["benchmarks"]
        with open(args.check) as f:
            check = json.load(f)
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"py_check_compare.py: cannot read the two files: {e}", file=sys.stderr)
        return 2
    pairs = [(f"{c} round trip, {m}, 64 B", "py_pingpong", {"channel": c, "peer": m, "size": "64"}, "rtt_p50_ns")
             for m in ("fork", "spawn") for c in ("Queue", "Pipe")]
    pairs += [(f"start+join, {m}", "py_spawn", {"peer": m, "rss_mib": "1"}, "lifecycle_p50_ns")
              for m in ("fork", "spawn", "forkserver")]
    print(f"{'figure':30} {'ipcmeter':>12} {'check':>12} {'ratio':>7}  within ±{LIMIT:.0%}")
    ok = True
    for label, family, want, counter in pairs:
        mine = figure(benchmarks, family, want, counter, args.python)
        theirs = check.get(label, {}).get("median_ns")
        cells = " ".join(f"{'—':>12}" if v is None else f"{v / 1e3:9.1f} us" for v in (mine, theirs))
        if mine is None or theirs is None:
            ok = False
            print(f"{label:30} {cells}  missing: {family} {counter}" if mine is None else
                  f"{label:30} {cells}  missing in the check's file")
            continue
        ratio = mine / theirs
        within = abs(ratio - 1) <= LIMIT
        ok = ok and within
        print(f"{label:30} {cells} {ratio:7.2f}  {'yes' if within else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
