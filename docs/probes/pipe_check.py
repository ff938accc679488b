#!/usr/bin/python3
"""ipcmeter's pipe fork 64 B round trip against an independent probe, run after run.

External check for docs/ci-gate.md ("What the pipe row's noise is"), not part of the gate.
Each round runs three processes in rotating order, one after the other (never two at
once): ipcmeter's row alone (quick profile: one 0.1 s window), docs/probes/pipe_rtt.c
(one 0.1 s window, after its 1000 unmeasured round trips; with two --bin, each build's
row in its own process) and the same probe with a
thread that sleeps --waker ms at a time on the child's CPU (what ipcmeter's peer watchdog
did until 2026-12-05). It prints each round, then per kind the median p50 and the
run-to-run spread (standard deviation of log p50), and the paired ratios per round with a
95% t interval: ipcmeter / probe (do they measure the same thing, as noisily?) and
probe with the waker / probe (what a periodic wake-up on the peer's CPU does here).

  /usr/bin/python3 docs/probes/pipe_check.py --bin build/ipcmeter [OTHER_BUILD] [--rounds 20]
      [--waker 20]

Needs gcc (the probe is compiled into a temporary directory). Run it on an otherwise idle
machine, never beside another benchmark.
"""
import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile

from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from mode_churn import one_run  # noqa: E402
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
from ipcmeter import children  # noqa: E402

ROW = "^pingpong/transport:pipe/peer:fork/size:64(/|$)"


def compile_probe(tmp):
    """pipe_rtt.c compiled into tmp; its path (adjacent_windows.py uses it too)."""
    probe = os.path.join(tmp, "pipe_rtt")
    cc = children.run(["gcc", "-O2", "-pthread", os.path.join(HERE, "pipe_rtt.c"), "-o", probe],
                      timeout=120)
    if cc.returncode != 0:
        raise SystemExit("%s: gcc could not compile pipe_rtt.c" % os.path.basename(sys.argv[0]))
    return probe


def probe_windows(probe, windows, out, waker_ms=0):
    """The p50 of each of `windows` 0.1 s windows of one run of the probe; out: a scratch file."""
    argv = [probe] + (["--waker", str(waker_ms)] if waker_ms else []) + [str(windows), "0.1"]
    with open(out, "w", encoding="utf-8") as f:
        proc = children.run(argv, stdout=f, stderr=subprocess.DEVNULL, timeout=60)
    if proc.returncode != 0:
        raise SystemExit("%s: %s exited %d" % (os.path.basename(sys.argv[0]), probe, proc.returncode))
    with open(out, encoding="utf-8") as f:
        return [float(line.split()[0]) for line in f if line.strip()]


def paired(name, num, den):
    d = [math.log(a / b) for a, b in zip(num, den)]
    n = len(d)
    mean, sd = statistics.mean(d), statistics.stdev(d)
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    print("%-22s %+6.1f%%  (95%% interval %+.1f%% .. %+.1f%%; per-round spread %.1f%%, %d rounds)"
          % (name, 100 * math.expm1(mean), 100 * math.expm1(mean - half),
             100 * math.expm1(mean + half), 100 * sd, n))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, nargs="+",
                    help="one or more ipcmeter binaries (two: a build before and after a change)")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--waker", type=int, default=20, help="ms between the waker's wake-ups")
    args = ap.parse_args()
    if args.rounds < 3 or args.waker < 1:
        ap.error("--rounds must be at least 3 and --waker at least 1")
    bins = {("ipcmeter" if len(args.bin) == 1 else "ipcmeter%d" % (i + 1)): b
            for i, b in enumerate(args.bin)}
    kinds = tuple(bins) + ("probe", "probe+waker")
    p50 = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory(prefix="ipcmeter-pipe-check-") as tmp:
        probe = compile_probe(tmp)
        out = os.path.join(tmp, "run.json")
        for i in range(args.rounds):
            order = kinds[i % len(kinds):] + kinds[:i % len(kinds)]
            for kind in order if i % 2 == 0 else order[::-1]:
                if kind in bins:
                    p50[kind].append(one_run(bins[kind], ROW, out)[0])
                else:
                    p50[kind].append(probe_windows(
                        probe, 1, os.path.join(tmp, "probe.txt"),
                        args.waker if kind == "probe+waker" else 0)[0])
            print("round %2d  " % (i + 1) + "  ".join("%s %6.0f ns" % (k, p50[k][-1]) for k in kinds),
                  flush=True)
    for k, b in bins.items():
        print("%s: %s" % (k, b))
    for k in kinds:
        logs = [math.log(v) for v in p50[k]]
        print("%-12s median %6.0f ns, run-to-run spread %.1f%%, min %.0f, max %.0f"
              % (k, statistics.median(p50[k]), 100 * statistics.stdev(logs), min(p50[k]), max(p50[k])))
    for k in bins:
        paired(k + " / probe", p50[k], p50["probe"])
    if len(bins) > 1:
        first = next(iter(bins))
        for k in list(bins)[1:]:
            paired("%s / %s" % (k, first), p50[k], p50[first])
    paired("probe+waker / probe", p50["probe+waker"], p50["probe"])


if __name__ == "__main__":
    main()
