#!/usr/bin/python3
"""The proof's trials judged again with other trimming shares of the paired test.

Diagnosis for docs/ci-gate.md ("Why these statistics"), not part of the gate: for each
share given, the paired test runs at that one trim (gate_stats.TRIM and HEAVY_TRIM both
set to it, so there is no Bonferroni family, and no rank-shift test), for "trims" at the
gate's two trims without the rank-shift test (the gate until 2026-12-06) and for "gate"
as compare.py judges (the two trims and, from gate_stats.RANK_MIN_ROUNDS rounds, the
rank-shift test; --rank-from N: from N rounds instead);
`gate_trials.py rejudge` judges every directory with bands learned leave-one-out from the
A/A directory, exactly as the proof is judged. Nothing is run; the kept files are read.

  /usr/bin/python3 docs/probes/gate_trim.py --aa DIR [--sensitivity DIR ...] \\
      [--trim 0.1 0.2 trims gate] [--rank-from N]

Printed per directory and trial: the exit status, the share of rows undecided and, for a
sensitivity trial, the target's round trip p50: verdict, change, p before correction,
q and mde.
"""
import argparse
import contextlib
import glob
import io
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
import gate_trials  # noqa: E402
from ipcmeter import gate_stats  # noqa: E402


def describe(record):
    text = "exit %d, %.1f%% undecided, %d flagged" % (
        record["exit_code"], record["gate"]["undecided_pct"],
        record["counts"]["regressed"] + record["counts"]["improved"])
    for row in record.get("target_rows", []):
        if row["metric"] == "rtt_p50_ns":
            text += "; target %s %+.1f%% (p %s, q %s, mde %.1f%%)" % (
                row["verdict"], row["change_pct"], gate_stats.fmt_p(row["p_value"]),
                gate_stats.fmt_p(row["q_value"]), row["mde_pct"])
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--aa", required=True, help="the A/A trial directory (learning set)")
    ap.add_argument("--sensitivity", nargs="*", default=[])
    ap.add_argument("--trim", nargs="+", default=["0.1", "0.2", "gate"],
                    help="shares to try alone, 'trims' for the gate's two trims alone, "
                         "or 'gate' for the gate's own tests")
    ap.add_argument("--rank-from", type=int, default=gate_stats.RANK_MIN_ROUNDS,
                    help="rounds from which 'gate' runs the rank-shift test (default %(default)s)")
    args = ap.parse_args()
    scratch = tempfile.mkdtemp(prefix="gate-trim-")
    try:
        gate_trims = (gate_stats.TRIM, gate_stats.HEAVY_TRIM)
        for trim in args.trim:
            if trim in ("gate", "trims"):
                gate_stats.TRIM, gate_stats.HEAVY_TRIM = gate_trims
            else:
                gate_stats.TRIM = gate_stats.HEAVY_TRIM = float(trim)
            gate_stats.RANK_MIN_ROUNDS = args.rank_from if trim == "gate" else 10 ** 9
            print("trim %s" % trim)
            for i, src in enumerate([args.aa] + args.sensitivity):
                out = os.path.join(scratch, "%s-%d" % (trim, i))
                with contextlib.redirect_stdout(io.StringIO()):
                    code = gate_trials.main(["rejudge", "--from", src, "--learn-from",
                                             args.aa, "--out-dir", out])
                if code == 2:
                    return 2
                print("  %s" % src)
                for path in sorted(glob.glob(os.path.join(out, "trial-??.json"))):
                    with open(path, encoding="utf-8") as f:
                        record = json.load(f)
                    print("    trial %d: %s" % (record["trial"], describe(record)))
    finally:
        shutil.rmtree(scratch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
