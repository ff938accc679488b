#!/usr/bin/python3
"""Interleaved A/B: run two ipcmeter builds alternately and judge the candidate.

  ab.py --baseline BIN_A --candidate BIN_B [--rounds N] [--filter REGEX]
        [--repetitions N] [--profile P] [--baseline-args ARGS] [--candidate-args ARGS]
        [--out-dir DIR] [compare.py options: --threshold --metric --normalize-floors ...]

Round r runs both builds back to back, in ABBA order (A B, B A, A B, ...), so a
machine that drifts (frequency, neighbours, thermal) affects both sides alike and the
first-runs-warm effect cancels. Each run is

  BIN --profile P [--benchmark_filter=REGEX] --benchmark_repetitions=N
      --benchmark_out=FILE --benchmark_out_format=json [ARGS]

where ARGS (e.g. --candidate-args "--calibration_delay_ns=20") is split like a shell
would (shlex) into argv words and never run through a shell.

Written to DIR (default results/runs/ab-<UTC time>/): rounds/ (every run's results,
stdout and stderr), baseline.json and candidate.json (valid results files: the first
round's context and ipcmeter object, every round's repetitions renumbered, plus
ipcmeter.ab describing the pairing), compare.md and compare.json. Then compare.py
judges candidate against baseline with a paired test over rounds, and its table is
printed.

Exit status as compare.py: 0 no regression, 1 regression, 2 unusable input or a run
that failed (one line on stderr).
"""

import argparse
import copy
import datetime
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import compare  # noqa: E402
import ipcmeter_results  # noqa: E402
from ipcmeter_results import ResultsError, load  # noqa: E402

PROG = "ab.py"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIDES = {"A": "baseline", "B": "candidate"}


class RunError(Exception):
    """A problem that makes the A/B run unusable; str(e) is the one line to print."""


def abba(rounds):
    """[(round, side), ...]: A B | B A | A B | ..."""
    order = []
    for r in range(rounds):
        order += [(r, s) for s in (("A", "B") if r % 2 == 0 else ("B", "A"))]
    return order


def run_argv(binary, profile, filt, repetitions, out_file, extra):
    argv = [binary, "--profile", profile]
    if filt:
        argv.append("--benchmark_filter=" + filt)
    argv += ["--benchmark_repetitions=%d" % repetitions,
             "--benchmark_out=" + out_file, "--benchmark_out_format=json"]
    return argv + list(extra)


def run_one(argv, stem, timeout, label):
    """Run one build, keeping its output beside the results; raise RunError."""
    with open(stem + ".stdout", "wb") as out, open(stem + ".stderr", "wb") as err:
        try:
            proc = subprocess.run(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise RunError("%s: timed out after %gs (see %s.stderr)" % (label, timeout, stem))
        except OSError as e:
            raise RunError("%s: cannot run %s: %s" % (label, argv[0], e.strerror or e))
    if proc.returncode != 0:
        raise RunError("%s: %s exited with status %d (see %s.stderr)"
                       % (label, argv[0], proc.returncode, stem))


def merge(raws, per_round, role, binary, extra, pairing_id, files):
    """One results file from the rounds of one side."""
    merged = copy.deepcopy(raws[0])
    rounds = len(raws)
    by_name = {}
    for r, raw in enumerate(raws):
        for entry in raw["benchmarks"]:
            if not isinstance(entry, dict) or entry.get("run_type") == "aggregate":
                continue   # per-round aggregates would mislead once rounds are pooled
            e = dict(entry)
            idx = e.get("repetition_index")
            idx = idx if isinstance(idx, int) and not isinstance(idx, bool) else 0
            e["repetition_index"] = r * per_round + idx
            e["repetitions"] = rounds * per_round
            by_name.setdefault(e.get("name"), []).append(e)
    merged["benchmarks"] = [e for entries in by_name.values() for e in entries]
    merged["ipcmeter"]["ab"] = {
        "pairing_id": pairing_id,
        "role": role,
        "binary": binary,
        "extra_args": list(extra),
        "order": "ABBA",
        "rounds": rounds,
        "repetitions_per_round": per_round,
        "round_of_repetition": "repetition_index // repetitions_per_round",
        "round_files": files,
        "round_floors": [raw["ipcmeter"].get("floors") for raw in raws],
        "round_floors_end": [raw["ipcmeter"].get("floors_end") for raw in raws],
        "round_warnings": [raw["ipcmeter"].get("warnings") for raw in raws],
    }
    return merged


def write_json_atomic(path, doc):
    fd, tmp = tempfile.mkstemp(prefix=".ab-", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def executable(path, flag):
    if not os.path.exists(path):
        raise RunError("%s %s: no such file" % (flag, path))
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        raise RunError("%s %s: not an executable file" % (flag, path))
    return os.path.abspath(path)


def split_args(text, flag):
    try:
        return shlex.split(text or "")
    except ValueError as e:
        raise RunError("%s %r: %s" % (flag, text, e))


def build_parser():
    p = ipcmeter_results.ArgumentParser(prog=PROG, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", required=True, metavar="BIN_A",
                   help="the reference build (e.g. the PR's base)")
    p.add_argument("--candidate", required=True, metavar="BIN_B",
                   help="the build to judge (e.g. the PR's head)")
    p.add_argument("--rounds", type=int, default=8,
                   help="A/B pairs to run (default 8; the paired test needs >= 3)")
    p.add_argument("--repetitions", type=int, default=3,
                   help="--benchmark_repetitions of each run (default 3)")
    p.add_argument("--filter", metavar="REGEX", help="--benchmark_filter for both builds")
    p.add_argument("--profile", default="quick", help="ipcmeter profile (default quick)")
    p.add_argument("--baseline-args", metavar="ARGS", default="",
                   help="extra arguments for the baseline, split like a shell would")
    p.add_argument("--candidate-args", metavar="ARGS", default="",
                   help="extra arguments for the candidate, e.g. "
                        "\"--calibration_delay_ns=20\"")
    p.add_argument("--out-dir", metavar="DIR",
                   help="where to write (default results/runs/ab-<UTC time>); must be "
                        "new or empty")
    p.add_argument("--timeout", type=float, default=3600.0, metavar="SEC",
                   help="limit for one run (default 3600)")
    g = p.add_argument_group("passed to compare.py")
    g.add_argument("--threshold", type=float, metavar="PCT")
    g.add_argument("--alpha", type=float)
    g.add_argument("--metric", action="append", metavar="NAME")
    g.add_argument("--normalize-floors", action="store_true")
    g.add_argument("--allow-env-mismatch", action="store_true")
    g.add_argument("--single-run-band", type=float, metavar="PCT")
    g.add_argument("--floor-shift-limit", type=float, metavar="RATIO")
    g.add_argument("--markdown", metavar="FILE", help="default DIR/compare.md")
    g.add_argument("--json", metavar="FILE", help="default DIR/compare.json")
    return p


def compare_argv(args, base, cand, out_dir):
    argv = [base, cand, "--markdown", args.markdown or os.path.join(out_dir, "compare.md"),
            "--json", args.json or os.path.join(out_dir, "compare.json")]
    for flag, value in (("--threshold", args.threshold), ("--alpha", args.alpha),
                        ("--single-run-band", args.single_run_band),
                        ("--floor-shift-limit", args.floor_shift_limit)):
        if value is not None:
            argv += [flag, repr(value)]
    for m in args.metric or []:
        argv += ["--metric", m]
    if args.normalize_floors:
        argv.append("--normalize-floors")
    if args.allow_env_mismatch:
        argv.append("--allow-env-mismatch")
    return argv


def check(args):
    """Validate everything before anything is run or written; return the plan."""
    bins = {"A": executable(args.baseline, "--baseline"),
            "B": executable(args.candidate, "--candidate")}
    extra = {"A": split_args(args.baseline_args, "--baseline-args"),
             "B": split_args(args.candidate_args, "--candidate-args")}
    if args.rounds < 1:
        raise RunError("--rounds %d: must be at least 1" % args.rounds)
    if args.repetitions < 1:
        raise RunError("--repetitions %d: must be at least 1" % args.repetitions)
    if not args.timeout > 0:
        raise RunError("--timeout %g: must be above 0" % args.timeout)
    if args.filter is not None:
        try:
            re.compile(args.filter)
        except re.error as e:
            raise RunError("--filter %r: not a regular expression: %s" % (args.filter, e))
    if args.threshold is not None and not 0 < args.threshold < 1000:
        raise RunError("--threshold %g: must be a percentage above 0" % args.threshold)
    if args.alpha is not None and not 0 < args.alpha < 1:
        raise RunError("--alpha %g: must be between 0 and 1" % args.alpha)
    if args.floor_shift_limit is not None and args.floor_shift_limit != 0 \
            and not args.floor_shift_limit > 1:
        raise RunError("--floor-shift-limit %g: must be above 1, or 0 to keep every round"
                       % args.floor_shift_limit)
    out_dir = args.out_dir or os.path.join(
        REPO, "results", "runs",
        "ab-" + datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
    if os.path.exists(out_dir):
        if not os.path.isdir(out_dir):
            raise RunError("--out-dir %s: exists and is not a directory" % out_dir)
        if os.listdir(out_dir):
            raise RunError("--out-dir %s: not empty; give a new directory" % out_dir)
    elif not os.path.isdir(os.path.dirname(os.path.abspath(out_dir))):
        raise RunError("--out-dir %s: parent directory does not exist" % out_dir)
    for path, flag in ((args.markdown, "--markdown"), (args.json, "--json")):
        if path:
            try:
                compare.check_output_path(path, flag)
            except compare.UsageError as e:
                raise RunError(str(e))
    return bins, extra, out_dir


def join_arg_values(argv):
    """`--candidate-args "--x=1"` -> `--candidate-args=--x=1`: argparse would take a
    separate value that starts with "--" for an option of its own."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] in ("--baseline-args", "--candidate-args") and i + 1 < len(argv):
            out.append(argv[i] + "=" + argv[i + 1])
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def main(argv=None):
    args = build_parser().parse_args(join_arg_values(sys.argv[1:] if argv is None else argv))
    try:
        bins, extra, out_dir = check(args)
        rounds_dir = os.path.join(out_dir, "rounds")
        os.makedirs(rounds_dir, exist_ok=True)
        raws = {"A": [], "B": []}
        files = {"A": [], "B": []}
        plan = abba(args.rounds)
        for step, (r, side) in enumerate(plan, 1):
            label = "round %d/%d %s" % (r + 1, args.rounds, SIDES[side])
            stem = os.path.join(rounds_dir, "round%02d-%s-%s" % (r + 1, side, SIDES[side]))
            out_file = stem + ".json"
            print("%s: [%d/%d] %s" % (PROG, step, len(plan), label), file=sys.stderr)
            run_one(run_argv(bins[side], args.profile, args.filter, args.repetitions,
                             out_file, extra[side]), stem, args.timeout, label)
            try:
                res = load(out_file)
            except ResultsError as e:
                raise RunError("%s: %s" % (label, e))
            if not res.benchmarks():
                raise RunError("%s: no benchmark ran (does --filter %r match any?)"
                               % (label, args.filter))
            raws[side].append(res.raw)
            files[side].append(os.path.relpath(out_file, out_dir))
        pairing_id = uuid.uuid4().hex
        paths = {}
        for side in ("A", "B"):
            paths[side] = os.path.join(out_dir, SIDES[side] + ".json")
            write_json_atomic(paths[side], merge(raws[side], args.repetitions, SIDES[side],
                                                 bins[side], extra[side], pairing_id,
                                                 files[side]))
    except RunError as e:
        print("%s: %s" % (PROG, e), file=sys.stderr)
        return 2
    except OSError as e:
        print("%s: %s: %s" % (PROG, e.filename or "output", e.strerror or e), file=sys.stderr)
        return 2
    print("%s: results in %s" % (PROG, out_dir), file=sys.stderr)
    return compare.main(compare_argv(args, paths["A"], paths["B"], out_dir))


if __name__ == "__main__":
    sys.exit(main())
