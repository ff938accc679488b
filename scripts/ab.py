#!/usr/bin/python3
"""Interleaved A/B: run two ipcmeter builds alternately and judge the candidate.

  ab.py --baseline BIN_A --candidate BIN_B [--rounds N] [--filter REGEX]
        [--repetitions N] [--profile P] [--baseline-args ARGS] [--candidate-args ARGS]
        [--out-dir DIR] [compare.py options: --threshold --metric --normalize-floors ...]

Round r runs both builds back to back, in ABBA order (A B, B A, A B, ...), so a
machine that drifts (frequency, neighbours, thermal) affects both sides alike and the
first-runs-warm effect cancels. With --slices N > 1, a round instead runs N pairs of runs,
one per slice of the profile's families (contiguous, row counts as even as whole families
allow; listed with --benchmark_list_tests from both builds), the pairs in ABBA order, so
both builds' copy of a row is measured a slice apart rather than a whole run apart (the
development VM's host state lasts seconds to minutes: docs/ci-gate.md, "Slices"). Each
run is

  BIN --profile P [--benchmark_filter=REGEX] --benchmark_repetitions=N
      --benchmark_out=FILE --benchmark_out_format=json [ARGS]

where REGEX is a slice's families (or, with --filter, the rows of the slice that it
matched), and ARGS (e.g. --candidate-args "--calibration_delay_ns=20") is split like a shell
would (shlex) into argv words and never run through a shell. The paired test needs at
least 3 rounds; see compare.py --help for how many make a change of a given size
detectable.

Then come --focus-rounds focus rounds: pairs of short runs, in ABBA order going on, of
only the rows that --focus matches (defaults: the CI job's, listed below; the small-message
round trips), listed with --benchmark_list_tests from both builds (within --filter when
given), each run with --benchmark_filter set to exactly those rows. compare.py judges those
rows on the focus rounds alone: their two builds' runs are seconds apart, so the vCPU
placement and the page modes that the host changes every few seconds to minutes, and that
move a sub-microsecond round trip by up to 3x, meet both sides alike far more often than a
whole run apart (docs/ci-gate.md, "Focus rounds"). Every other row is judged on the rounds
of the whole profile, as without focus rounds. --focus-rounds 0 runs none.

Before the first run and after every run, ab.py runs a floor probe with the BASELINE
binary only:

  BIN_A --profile P --benchmark_filter='^floor/probe:c2c_rtt(/|$)' --floors=c2c_rtt --benchmark_out=...

(--floors=c2c_rtt only where BIN_A's --describe offers it: the run's start and end floors are
then the core-to-core round trip alone, not the memcpy, DRAM and other floors.) Its
core-to-core round trip (the median of the run's start floor, the probe benchmark's
p50 and the end floor) witnesses where the host placed the two vCPUs. compare.py leaves
out a round whose three probes (before, between and after its two runs; with slices, before
its first run, between the pairs that halve it and after its last) differ by more than
--floor-shift-limit times. The witness comes from the base build, never from the
candidate, so a change under test cannot drop its own rounds from the gate. It sees
moves between runs, not a move and a move back within one run.

Written to DIR (default results/runs/ab-<UTC time>/): rounds/ (every run's and probe's
results, stdout and stderr), baseline.json and candidate.json (valid results files: the
first round's context and ipcmeter object, every round's repetitions renumbered, plus
ipcmeter.ab describing the pairing and the probes), compare.md and compare.json. Then
compare.py judges candidate against baseline with a paired test over rounds, and its
table is printed.

Exit status as compare.py: 0 no regression with enough evidence, 1 regression (or a
benchmark newly erroring or missing), 2 unusable input or a run that failed (one line on
stderr), 3 inconclusive.
"""

import argparse
import datetime
import os
import re
import shlex
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import compare  # noqa: E402
from ipcmeter import atomic, children, gate, gate_noise, schema  # noqa: E402
from ipcmeter.cli import ArgumentParser, add_ipcmeter_bin, refuse  # noqa: E402
from ipcmeter.ab_rounds import (FOCUS, FOCUS_ROUNDS, REPETITIONS, ROUNDS, SIDES,  # noqa: E402
                                SLICES, combine_slices, family, focus_plan, merge, pair_plan,
                                probe_after, probe_argv, probe_value, probes_record, run_argv,
                                slice_families, slice_filter)
from ipcmeter.results import ResultsError, load  # noqa: E402

PROG = "ab.py"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class RunError(Exception):
    """A problem that makes the A/B run unusable; str(e) is the one line to print."""


def run_one(argv, stem, timeout, label):
    """Run one build, keeping its output beside the results; raise RunError."""
    # "x": created new (O_EXCL), so a name someone prepared in the directory, a symlink
    # included, is refused rather than followed.
    with open(stem + ".stdout", "xb") as out, open(stem + ".stderr", "xb") as err:
        try:
            proc = children.run(argv, timeout, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise RunError("%s: timed out after %gs (see %s.stderr)" % (label, timeout, stem))
        except OSError as e:
            raise RunError("%s: cannot run %s: %s" % (label, argv[0], e.strerror or e))
    if proc.returncode != 0:
        raise RunError("%s: %s exited with status %d (see %s.stderr)"
                       % (label, argv[0], proc.returncode, stem))


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
    p = ArgumentParser(prog=PROG, description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", required=True, metavar="BIN_A",
                   help="the reference build (e.g. the PR's base)")
    p.add_argument("--candidate", required=True, metavar="BIN_B",
                   help="the build to judge (e.g. the PR's head)")
    p.add_argument("--rounds", type=int, default=ROUNDS,
                   help="A/B pairs to run (default %d; the paired test needs >= 3)" % ROUNDS)
    p.add_argument("--repetitions", type=int, default=REPETITIONS,
                   help="--benchmark_repetitions of each run (default %d)" % REPETITIONS)
    p.add_argument("--slices", type=int, default=SLICES,
                   help="pairs of runs per round, one per slice of the families (default "
                        "%d: each run is the whole profile)" % SLICES)
    p.add_argument("--filter", metavar="REGEX", help="--benchmark_filter for both builds")
    p.add_argument("--focus", metavar="REGEX", default=FOCUS,
                   help="rows run again in the focus rounds and judged on them alone "
                        "(default %(default)r)")
    p.add_argument("--focus-rounds", type=int, default=FOCUS_ROUNDS,
                   help="focus rounds after the main ones (default %(default)s; 0: none, "
                        "else at least 3)")
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
    g.add_argument("--max-inconclusive", type=float, metavar="PCT")
    g.add_argument("--allow-missing", action="store_true")
    g.add_argument("--alpha", type=float)
    g.add_argument("--metric", action="append", metavar="NAME")
    g.add_argument("--normalize-floors", action="store_true")
    g.add_argument("--allow-env-mismatch", action="store_true")
    g.add_argument("--single-run-band", type=float, metavar="PCT")
    g.add_argument("--floor-shift-limit", type=float, metavar="RATIO")
    g.add_argument("--noise", metavar="FILE",
                   help="per-row bands learned from A/A runs (CI: the base's "
                        "results/baselines/gate-noise.json)")
    g.add_argument("--markdown", metavar="FILE", help="default DIR/compare.md")
    g.add_argument("--json", metavar="FILE", help="default DIR/compare.json")
    add_ipcmeter_bin(g)
    return p


def compare_argv(args, base, cand, out_dir):
    argv = [base, cand, "--markdown", args.markdown or os.path.join(out_dir, "compare.md"),
            "--json", args.json or os.path.join(out_dir, "compare.json")]
    for flag, value in (("--threshold", args.threshold), ("--alpha", args.alpha),
                        ("--max-inconclusive", args.max_inconclusive),
                        ("--single-run-band", args.single_run_band),
                        ("--floor-shift-limit", args.floor_shift_limit)):
        if value is not None:
            argv += [flag, repr(value)]
    for m in args.metric or []:
        argv += ["--metric", m]
    if args.normalize_floors:
        argv.append("--normalize-floors")
    if args.ipcmeter_bin:
        argv += ["--ipcmeter-bin", args.ipcmeter_bin]
    if args.allow_env_mismatch:
        argv.append("--allow-env-mismatch")
    if args.allow_missing:
        argv.append("--allow-missing")
    if args.noise:
        argv += ["--noise", args.noise]
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
    if args.slices < 1:
        raise RunError("--slices %d: must be at least 1" % args.slices)
    if args.focus_rounds != 0 and args.focus_rounds < 3:
        raise RunError("--focus-rounds %d: must be 0 or at least 3 (the paired test's least)"
                       % args.focus_rounds)
    if not args.timeout > 0:
        raise RunError("--timeout %g: must be above 0" % args.timeout)
    for flag, value in (("--filter", args.filter), ("--focus", args.focus)):
        if value is None:
            continue
        try:
            re.compile(value)
        except re.error as e:
            raise RunError("%s %r: not a regular expression: %s" % (flag, value, e))
    if args.threshold is not None and not 0 < args.threshold < 1000:
        raise RunError("--threshold %g: must be a percentage above 0" % args.threshold)
    if args.alpha is not None and not 0 < args.alpha < 1:
        raise RunError("--alpha %g: must be between 0 and 1" % args.alpha)
    if args.max_inconclusive is not None and not 0 <= args.max_inconclusive <= 100:
        raise RunError("--max-inconclusive %g: must be a percentage from 0 to 100"
                       % args.max_inconclusive)
    if args.floor_shift_limit is not None and args.floor_shift_limit != 0 \
            and not args.floor_shift_limit > 1:
        raise RunError("--floor-shift-limit %g: must be above 1, or 0 to keep every round"
                       % args.floor_shift_limit)
    if args.noise:
        try:
            # An absolute path: compare.py is handed it after the runs, from any directory.
            args.noise = gate_noise.checked(args.noise)
        except gate_noise.NoiseError as e:
            raise RunError(str(e))
        # Refused now rather than by compare.py after the runs.
        problem = gate.noise_focus_problem(gate_noise.load(args.noise), gate.focus_setting(
            {"filter": args.focus, "rounds": args.focus_rounds}, "filter", "rounds"))
        if problem:
            raise RunError("--noise " + problem)
    out_dir = args.out_dir or os.path.join(
        REPO, "results", "runs",
        "ab-" + datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
    problem = atomic.foreign_dir_problem(out_dir)
    if problem:
        raise RunError("--out-dir " + problem)
    if os.path.exists(out_dir):
        if not os.path.isdir(out_dir):
            raise RunError("--out-dir %s: exists and is not a directory" % out_dir)
        if os.listdir(out_dir):
            raise RunError("--out-dir %s: not empty; give a new directory" % out_dir)
    elif not os.path.isdir(os.path.dirname(os.path.abspath(out_dir))):
        raise RunError("--out-dir %s: parent directory does not exist" % out_dir)
    for path, flag in ((args.markdown, "--markdown"), (args.json, "--json")):
        problem = path and atomic.output_path_problem(path, flag)
        if problem:
            raise RunError(problem)
    return bins, extra, out_dir


def load_run(path, label):
    try:
        return load(path)
    except ResultsError as e:
        raise RunError("%s: %s" % (label, e))


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


def listed(bins, extra, args, rounds_dir, filt=None, what=""):
    """{side: [benchmark names]} that each build would run (--benchmark_list_tests) with
    --filter, or with `filt` (then an empty list is an answer, not an error)."""
    names = {}
    for side in ("A", "B"):
        stem = os.path.join(rounds_dir, "list%s-%s" % (what, SIDES[side]))
        argv = [bins[side], "--profile", args.profile, "--benchmark_list_tests"]
        f = filt or args.filter
        argv += (["--benchmark_filter=" + f] if f else []) + extra[side]
        run_one(argv, stem, args.timeout, "listing the %s's benchmarks" % SIDES[side])
        with open(stem + ".stdout", encoding="utf-8", errors="replace") as f:
            names[side] = [n for n in (line.strip() for line in f) if n]
        if not names[side] and filt is None:
            raise RunError("the %s lists no benchmark to run (does --filter %r match any?)"
                           % (SIDES[side], args.filter))
    return names


def union(names):
    """Both builds' names: the baseline's in its order, then the candidate's own."""
    in_base = set(names["A"])
    return names["A"] + [n for n in names["B"] if n not in in_base]


def focus_rows(bins, extra, args, rounds_dir):
    """The rows of the focus rounds, in the baseline's order: those --focus matches (and
    --filter, when given) in both builds. A row only one build has is new or missing, which
    the rounds of the whole profile settle; [] when none."""
    if not args.focus_rounds:
        return []
    names = listed(bins, extra, args, rounds_dir, args.focus, "-focus")
    if args.filter:
        within = {x: set(rows) for x, rows in listed(bins, extra, args, rounds_dir).items()}
        names = {x: [n for n in names[x] if n in within[x]] for x in "AB"}
    in_candidate = set(names["B"])
    return [n for n in names["A"] if n in in_candidate]


def slice_filters(bins, extra, args, rounds_dir):
    """[(families, --benchmark_filter or None, sides with rows there), ...]: one per slice,
    over the rows of both builds (the baseline's in its order, then the candidate's own),
    so a family that only one build has is run by that build alone."""
    if args.slices == 1:
        return [([], args.filter, "AB")]
    names = listed(bins, extra, args, rounds_dir)
    every = union(names)
    out = []
    for group in slice_families(every, args.slices):
        rows = [n for n in every if family(n) in group]
        sides = "".join(side for side in "AB" if any(family(n) in group for n in names[side]))
        out.append((group, slice_filter(group, rows if args.filter else None), sides))
    return out


def main(argv=None):
    args = build_parser().parse_args(join_arg_values(sys.argv[1:] if argv is None else argv))
    schema.use_binary(args.ipcmeter_bin)
    try:
        bins, extra, out_dir = check(args)
        rounds_dir = os.path.join(out_dir, "rounds")
        os.makedirs(rounds_dir, exist_ok=True)
        slices = slice_filters(bins, extra, args, rounds_dir)
        focus = focus_rows(bins, extra, args, rounds_dir)
        raws = {"A": [], "B": []}
        files = {"A": [], "B": []}
        parts = {"A": [], "B": []}
        probes, probe_files = [], []
        plan = pair_plan(args.rounds, len(slices))
        runs_per_round = 2 * len(slices)
        mid = probe_after(len(slices))
        focus_rounds = args.focus_rounds if focus else 0
        focus_runs = focus_plan(args.rounds, focus_rounds, args.rounds * len(slices))
        steps = len(plan) + len(focus_runs)
        all_rounds = args.rounds + focus_rounds

        def probe(k):
            stem = os.path.join(rounds_dir, "probe%02d-baseline" % k)
            label = "floor probe %d/%d (baseline)" % (k + 1, 2 * all_rounds + 1)
            run_one(probe_argv(bins["A"], args.profile, stem + ".json"), stem,
                    args.timeout, label)
            probes.append(probe_value(load_run(stem + ".json", label)))
            probe_files.append(os.path.relpath(stem + ".json", out_dir))

        def run_slice(r, s, side, step, filt=None):
            label = "round %d/%d %s" % (r + 1, all_rounds, SIDES[side])
            name = "round%02d-%s-%s" % (r + 1, side, SIDES[side])
            if filt is not None:
                label = "focus " + label
                name = "focus-" + name
            elif len(slices) > 1:
                label += " slice %d/%d (%s)" % (s + 1, len(slices), ", ".join(slices[s][0]))
                name = "round%02d-slice%02d-%s-%s" % (r + 1, s + 1, side, SIDES[side])
            stem = os.path.join(rounds_dir, name)
            out_file = stem + ".json"
            print("%s: [%d/%d] %s" % (PROG, step, steps, label), file=sys.stderr)
            run_one(run_argv(bins[side], args.profile, filt or slices[s][1], args.repetitions,
                             out_file, extra[side]), stem, args.timeout, label)
            res = load_run(out_file, label)
            if not res.benchmarks():
                raise RunError("%s: no benchmark ran (does --filter %r match any?)"
                               % (label, args.filter))
            parts[side].append(res.raw)
            files[side].append(os.path.relpath(out_file, out_dir))

        probe(0)
        for step, (r, s, side) in enumerate(plan, 1):
            if side in slices[s][2]:
                run_slice(r, s, side, step)
            if step % runs_per_round == 0:     # the round's last run
                for x in "AB":
                    raws[x].append(combine_slices(parts[x]))
                    parts[x] = []
            if (step - 1) % runs_per_round in (mid, runs_per_round - 1):
                probe(len(probes))
        if args.focus_rounds and not focus:
            # A note like the progress lines, not a refusal: the main rounds stand.
            print("%s: no focus rounds: --focus %r matches no row both builds have"
                  % (PROG, args.focus), file=sys.stderr)
        focus_filter = slice_filter([], focus) if focus else None
        for step, (r, _, side) in enumerate(focus_runs, len(plan) + 1):
            run_slice(r, 0, side, step, focus_filter)
            if (step - len(plan)) % 2 == 0:     # the focus round's second run
                for x in "AB":
                    raws[x].append(combine_slices(parts[x]))
                    parts[x] = []
            probe(len(probes))
        pairing_id = uuid.uuid4().hex
        witness = probes_record(bins["A"], probes, probe_files)
        paths = {}
        for side in ("A", "B"):
            paths[side] = os.path.join(out_dir, SIDES[side] + ".json")
            doc = merge(raws[side], args.repetitions, SIDES[side], bins[side], extra[side],
                        pairing_id, files[side], witness)
            if len(slices) > 1:
                doc["ipcmeter"]["ab"]["slices"] = [sl[0] for sl in slices]
                doc["ipcmeter"]["ab"]["order"] = "ABBA over each round's slice pairs"
            if focus_rounds:
                doc["ipcmeter"]["ab"]["focus"] = {
                    "filter": args.focus, "first_round": args.rounds, "rounds": focus_rounds,
                    "benchmarks": focus,
                    "judged": "these rows on the focus rounds alone, every other row on "
                              "the rounds before first_round"}
            atomic.write_json(paths[side], doc)
    except RunError as e:
        refuse(PROG, e)
        return 2
    except OSError as e:
        refuse(PROG, "%s: %s" % (e.filename or "output", e.strerror or e))
        return 2
    print("%s: results in %s" % (PROG, out_dir), file=sys.stderr)
    return compare.main(compare_argv(args, paths["A"], paths["B"], out_dir))


if __name__ == "__main__":
    sys.exit(main())
