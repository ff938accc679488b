#!/usr/bin/python3
"""Measure the regression gate itself, the way CI runs it: false alarms and sensitivity.

  gate_trials.py aa --bin BIN [--trials 20] [--out-dir DIR] [options]
  gate_trials.py sensitivity --bin BIN --target REGEX [--slowdown 10]
                 [--delay-ns N | --delay-from DIR | --calibrate-once] [--trials 10]
                 [--out-dir DIR] [options]

Every trial is one scripts/ab.py run over the WHOLE profile (no --filter), with the rounds,
repetitions, slices, focus rows and rounds, threshold, --max-inconclusive and profile of
the CI workflow (.github/workflows/ipcmeter-gate.yml, its env ROUNDS, REPETITIONS, SLICES,
FOCUS, FOCUS_ROUNDS, THRESHOLD, MAX_INCONCLUSIVE and PROFILE), so Benjamini-Hochberg
corrects over as many comparisons as in CI. The options of those names override them;
--filter narrows the rows for a quick look, and the summary then says that it is not the
CI configuration.

aa           the same build on both sides. Counts the trials that end in anything but
             exit 0 (a false alarm, exit 1, or a gate that could not decide, exit 3;
             goal: at most 1 in 20), the share of comparisons flagged (regressed or
             improved) or inconclusive, and |change| between identical builds.
sensitivity  the candidate slowed by ipcmeter's --calibration_delay_ns=N (a busy delay
             before every message the measuring side sends, so a round trip grows by
             about N ns). A trial detects the slowdown when ab.py exits 1 and every
             --target benchmark is regressed (goal: 9 of 10). The delay slows only
             the rows matching --target (ipcmeter's --calibration_delay_filter), so
             every other regressed row is a false alarm; the summary counts them, and
             the trials in which the target would have been flagged as the only change
             (p <= alpha / tests and beyond the threshold). Without --delay-ns, N is
             --slowdown percent of the target's rtt_p50_ns: with --delay-from DIR from
             the baselines of DIR's finished trials (A/A trials, say), fixed for every
             trial; otherwise before trial 1 from a run of BIN on --target, before each
             later one from the baselines of the trials before it (--calibrate-once:
             trial 1's N throughout); target one transport and size per invocation. Each
             record gives N as a share of the target's p50 in its own baseline; "on
             target": the change measured is 0.7-1.5 x --slowdown.

noise        learn per-row bands from finished A/A trials (their ab.py outputs): each
             comparison's spread of per-round log ratios, pooled over the trials, written
             as a noise file for compare.py / ab.py --noise (the CI gate reads
             results/baselines/gate-noise.json). K (--k, default 2.5) x that spread is the
             band inside which the row may be called unchanged, when wider than
             --threshold; each trim's spread is stored too, and the paired test takes
             a trim's own spread only down to the 5th percentile of what that one would
             give, before a row is flagged from --threshold.
rejudge      judge finished trials again, offline: the same table and goal as when they
             ran. --noise FILE: with that noise file; the trials it was learned from are
             refused, so the proof never validates bands on the runs that set them.
             --learn-from DIR: each trial with a noise file learned from the A/A trials
             of DIR except that trial (leave-one-out), so A/A trials run without learned
             bands can prove them without a separate learning set. Several --from
             directories of one configuration (trials of several days, each with its own
             build) are judged as one set.

  gate_trials.py noise --from DIR [DIR ...] --out FILE [--k 2.5]
  gate_trials.py rejudge --from DIR [DIR ...]
                 [--noise FILE | --learn-from DIR [DIR ...] [--k 2.5]] [--out-dir DIR]

aa and sensitivity take --noise FILE too (passed to ab.py).

Resumable: each trial's result is written to DIR/trial-NN.json as soon as it finishes
(its ab.py output stays in DIR/trial-NN/). Rerun the same command with the same
--out-dir to go on: finished trials are skipped, a trial that was cut short is run again,
and a DIR holding trials of other settings is refused, as is one whose trials ran on
another runner (CPU signature, kernel, mitigations or idle driver: a floor probe of --bin
tells before anything long runs). DIR defaults to results/runs/gate-<mode>-<UTC time>.
At the end a table with the minutes per trial is printed and DIR/summary.json written.

Kept: beside each trial-NN.json go trial-NN-baseline.json.xz and -candidate.json.xz, its
two results files cut down to what the gate judges (a few hundred KB together). Commit DIR
without its trial-NN/ directories and logs: noise and rejudge read the kept files.

Exit status: 0 goal met, 1 goal not met, 2 unusable input or a failed run (one line on
stderr; finished trials are kept).
"""

import argparse
import datetime
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import compare  # noqa: E402
from ipcmeter import atomic, children, gate, gate_noise  # noqa: E402
from ipcmeter.atomic import write_json  # noqa: E402
from ipcmeter.cli import ArgumentParser  # noqa: E402
from ipcmeter.results import ResultsError, load  # noqa: E402
from ipcmeter.trials import (ci_differences, sensitivity_facts, summarize_aa,  # noqa: E402
                             summarize_sensitivity, trial_record)
from ipcmeter.trial_store import (TrialError, check_runner_of, delay_for,  # noqa: E402
                                  delay_from_baselines, keep_planned_delay, read_record,
                                  delay_from_trials_of, dir_id, file_sha256, finished_trials,
                                  keep_trial_data, kept_paths, noise_from, read_plan,
                                  trial_files, trial_id, unique_dirs)

PROG = "gate_trials.py"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
AB = os.path.join(HERE, "ab.py")
WORKFLOW = os.path.join(REPO, ".github", "workflows", "ipcmeter-gate.yml")
# workflow env name -> (setting, type): what CI passes to ab.py.
WORKFLOW_ENV = {"ROUNDS": ("rounds", int), "REPETITIONS": ("repetitions", int),
                "SLICES": ("slices", int), "FOCUS": ("focus", str),
                "FOCUS_ROUNDS": ("focus_rounds", int), "THRESHOLD": ("threshold", float),
                "MAX_INCONCLUSIVE": ("max_inconclusive", float),
                "PROFILE": ("profile", str)}
DEFAULT_TRIALS = {"aa": 20, "sensitivity": 10}
# The settings a resumed run must share with the trials already in DIR.
PLAN_KEYS = ("mode", "bin_sha256", "rounds", "repetitions", "slices", "focus",
             "focus_rounds", "threshold",
             "max_inconclusive", "profile", "filter", "normalize_floors", "target", "slowdown",
             "delay_ns", "delay_from", "calibrate_once", "noise_sha256")


def workflow_settings(path=WORKFLOW, missing_ok=False):
    """{setting: value} from the top-level env block of the CI workflow (None when it
    cannot be read and missing_ok)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        if missing_ok:
            return None
        raise TrialError("cannot read %s: %s; give --rounds, --repetitions, --threshold, "
                         "--max-inconclusive and --profile" % (path, e.strerror or e))
    settings, in_env = {}, False
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            in_env = line.rstrip() == "env:"
            continue
        m = re.match(r"^\s+([A-Z_]+):\s*\"?([^\"#\s]+)\"?", line)
        if in_env and m and m.group(1) in WORKFLOW_ENV:
            key, kind = WORKFLOW_ENV[m.group(1)]
            try:
                settings[key] = kind(m.group(2))
            except ValueError:
                raise TrialError("%s: env %s %r is not a %s"
                                 % (path, m.group(1), m.group(2), kind.__name__))
    return settings


def build_parser():
    p = ArgumentParser(prog=PROG, description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    for mode in ("aa", "sensitivity"):
        s = sub.add_parser(mode, help="A/A false alarms" if mode == "aa"
                           else "detection of a calibrated slowdown",
                           description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        s.add_argument("--bin", required=True, help="the ipcmeter build to use")
        s.add_argument("--trials", type=int, default=DEFAULT_TRIALS[mode],
                       help="default %d" % DEFAULT_TRIALS[mode])
        s.add_argument("--rounds", type=int, help="ab.py --rounds (default: the workflow's)")
        s.add_argument("--repetitions", type=int,
                       help="ab.py --repetitions (default: the workflow's)")
        s.add_argument("--slices", type=int, help="ab.py --slices (default: the workflow's)")
        s.add_argument("--focus", metavar="REGEX",
                       help="ab.py --focus (default: the workflow's)")
        s.add_argument("--focus-rounds", type=int,
                       help="ab.py --focus-rounds (default: the workflow's)")
        s.add_argument("--profile", help="default: the workflow's")
        s.add_argument("--threshold", type=float, metavar="PCT",
                       help="default: the workflow's")
        s.add_argument("--max-inconclusive", type=float, metavar="PCT",
                       help="default: the workflow's")
        s.add_argument("--filter", metavar="REGEX",
                       help="judge only these benchmarks (not the CI configuration; "
                            "default: the whole profile)")
        s.add_argument("--normalize-floors", action="store_true")
        s.add_argument("--noise", metavar="FILE",
                       help="per-row bands learned from other A/A trials (ab.py --noise)")
        s.add_argument("--out-dir", metavar="DIR",
                       help="where the trials go; an existing DIR of the same settings "
                            "is resumed")
        if mode == "sensitivity":
            s.add_argument("--target", required=True, metavar="REGEX",
                           help="benchmarks the delay should slow (one transport and size)")
            s.add_argument("--slowdown", type=float, default=10.0, metavar="PCT",
                           help="slowdown to calibrate the delay for (default 10)")
            how = s.add_mutually_exclusive_group()
            how.add_argument("--delay-ns", type=int, metavar="N",
                             help="use this delay in every trial instead of calibrating")
            how.add_argument("--delay-from", metavar="DIR",
                             help="one delay for every trial: --slowdown percent of the "
                                  "target's p50 in the baselines of DIR's finished trials")
            how.add_argument("--calibrate-once", action="store_true",
                             help="calibrate before the first trial only")
    s = sub.add_parser("noise", help="learn per-row bands from finished A/A trials")
    s.add_argument("--from", dest="sources", action="extend", nargs="+", required=True,
                   metavar="DIR", help="gate_trials.py aa directories")
    s.add_argument("--out", required=True, metavar="FILE", help="the noise file to write")
    s.add_argument("--k", type=float, default=gate_noise.DEFAULT_K,
                   help="band = K x the row's spread (default %g)" % gate_noise.DEFAULT_K)
    s = sub.add_parser("rejudge", help="judge finished trials again, offline")
    s.add_argument("--from", dest="sources", action="extend", nargs="+", required=True,
                   metavar="DIR", help="gate_trials.py aa or sensitivity directories of one "
                                       "configuration, judged as one set")
    how = s.add_mutually_exclusive_group()
    how.add_argument("--noise", metavar="FILE", help="judge with this noise file")
    how.add_argument("--learn-from", action="extend", nargs="+", metavar="DIR",
                     help="judge each trial with bands learned from the A/A trials of "
                          "these directories, leaving that trial out")
    s.add_argument("--k", type=float, default=gate_noise.DEFAULT_K,
                   help="with --learn-from: band = K x the row's spread (default %g)"
                        % gate_noise.DEFAULT_K)
    s.add_argument("--out-dir", metavar="DIR",
                   help="where the rejudged records go (default, for one --from DIR: "
                        "DIR/rejudged-<noise file, leave-one-out-kK or plain>)")
    return p


# ----------------------------------------------------------------- set-up

def settle(args):
    """Fill the workflow's settings into args and check everything; return the plan."""
    if not (os.path.isfile(args.bin) and os.access(args.bin, os.X_OK)):
        raise TrialError("--bin %s: not an executable file" % args.bin)
    if args.trials < 1:
        raise TrialError("--trials %d: must be at least 1" % args.trials)
    missing = {env: key for env, (key, _) in WORKFLOW_ENV.items()
               if getattr(args, key) is None}
    # Read once: it fills what argv left out (then it must be readable) and labels the run.
    found = workflow_settings(missing_ok=not missing)
    if missing:
        for env, key in missing.items():
            if key not in found:
                raise TrialError("%s has no env %s; give --%s"
                                 % (WORKFLOW, env, key.replace("_", "-")))
            setattr(args, key, found[key])
    if args.rounds < 3:
        raise TrialError("--rounds %d: the paired test needs at least 3" % args.rounds)
    if args.repetitions < 1 or args.slices < 1:
        raise TrialError("--repetitions %d, --slices %d: must be at least 1"
                         % (args.repetitions, args.slices))
    if args.focus_rounds != 0 and args.focus_rounds < 3:
        raise TrialError("--focus-rounds %d: must be 0 or at least 3" % args.focus_rounds)
    for flag in ("filter", "target", "focus"):
        value = getattr(args, flag, None)
        if value is not None:
            try:
                re.compile(value)
            except re.error as e:
                raise TrialError("--%s %r: not a regular expression: %s" % (flag, value, e))
    if getattr(args, "delay_from", None):
        args.delay_ns, args.delay_expected, args.delay_source = delay_from_trials_of(
            args.delay_from, re.compile(args.target), args.slowdown, args.profile)
    args.noise_sha256 = None
    if args.noise:
        try:
            args.noise = gate_noise.checked(args.noise)
        except gate_noise.NoiseError as e:
            raise TrialError(str(e))
        args.noise_sha256 = file_sha256(args.noise)
    if args.out_dir is None:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        args.out_dir = os.path.join(REPO, "results", "runs", "gate-%s-%s" % (args.mode, stamp))
    args.ci_differences = ci_differences(args, found)
    plan = {key: getattr(args, key, None) for key in PLAN_KEYS
            if key not in ("mode", "bin_sha256")}
    plan.update({"mode": args.mode, "bin": os.path.abspath(args.bin),
                 "bin_sha256": file_sha256(args.bin)})
    return plan


def open_out_dir(out_dir, plan):
    """Create DIR with its plan, or check that an existing DIR holds this plan."""
    problem = atomic.foreign_dir_problem(out_dir)
    if problem:
        raise TrialError("--out-dir " + problem)
    plan_path = os.path.join(out_dir, "plan.json")
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        try:
            old = read_plan(out_dir)
        except (OSError, ValueError):
            raise TrialError("--out-dir %s: not empty and holds no plan.json of %s; give a "
                             "new directory" % (out_dir, PROG))
        differ = [key for key in PLAN_KEYS if old.get(key) != plan.get(key)]
        if differ:
            key = differ[0]
            raise TrialError("--out-dir %s holds trials with other settings (%s %s, now %s); "
                             "give another directory" % (out_dir, key, old.get(key),
                                                         plan.get(key)))
        return
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise TrialError("--out-dir %s: exists and is not a directory" % out_dir)
    if not os.path.isdir(os.path.dirname(os.path.abspath(out_dir))):
        raise TrialError("--out-dir %s: parent directory does not exist" % out_dir)
    os.makedirs(out_dir, exist_ok=True)
    write_json(plan_path, plan)


# ----------------------------------------------------------------- trials

def trial_path(args, n):
    return os.path.join(args.out_dir, "trial-%02d.json" % n)


def read_trial(args, n):
    """The finished trial n, or None when it has not finished."""
    return read_record(args.out_dir, n)


def ab_argv(args, out_dir, candidate_args=""):
    argv = [sys.executable, AB, "--baseline", args.bin, "--candidate", args.bin,
            "--rounds", str(args.rounds), "--repetitions", str(args.repetitions),
            "--slices", str(args.slices), "--focus", args.focus,
            "--focus-rounds", str(args.focus_rounds), "--profile", args.profile,
            "--threshold", repr(args.threshold),
            "--max-inconclusive", repr(args.max_inconclusive), "--out-dir", out_dir]
    if args.filter:
        argv += ["--filter", args.filter]
    if candidate_args:
        argv += ["--candidate-args", candidate_args]
    if args.normalize_floors:
        argv.append("--normalize-floors")
    if args.noise:
        argv += ["--noise", args.noise]
    return argv


def run_ab(args, n, candidate_args=""):
    """Run trial n's ab.py (a cut-short earlier attempt is removed first); return its
    exit status, compare report and minutes."""
    trial_dir = os.path.join(args.out_dir, "trial-%02d" % n)
    if os.path.exists(trial_dir):
        shutil.rmtree(trial_dir)
    log = trial_dir + ".log"
    started = time.monotonic()
    with open(log, "wb") as f:
        proc = children.run(ab_argv(args, trial_dir, candidate_args), stdout=f,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    minutes = (time.monotonic() - started) / 60.0
    if proc.returncode not in (0, 1, 3):
        raise TrialError("trial %d: ab.py failed (exit %d); see %s" % (n, proc.returncode, log))
    try:
        with open(os.path.join(trial_dir, "compare.json"), encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        raise TrialError("trial %d: no readable compare.json (%s); see %s" % (n, e, log))
    return proc.returncode, report, minutes


def calibrate(args, n):
    """(delay in ns that adds --slowdown percent to the target's median rtt_p50_ns,
    {benchmark: that delay as a percentage of its rtt_p50_ns})."""
    stem = os.path.join(args.out_dir, "calibration-%02d" % n)
    out = stem + ".json"
    argv = [args.bin, "--profile", args.profile, "--benchmark_filter=" + args.target,
            "--benchmark_repetitions=5", "--benchmark_out=" + out,
            "--benchmark_out_format=json"]
    with open(stem + ".log", "wb") as f:
        proc = children.run(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise TrialError("calibration run of %s exited with status %d" % (args.bin, proc.returncode))
    try:
        medians = load(out).summary("rtt_p50_ns")
    except ResultsError as e:
        raise TrialError("calibration: %s" % e)
    if not medians:
        raise TrialError("calibration: --target %r matched no benchmark with rtt_p50_ns "
                         "(the delay is calibrated on pingpong round trips)" % args.target)
    return delay_for(medians, args.slowdown)


def run_aa_trial(args, n):
    code, report, minutes = run_ab(args, n)
    return trial_record(n, code, report, minutes)


def run_sensitivity_trial(args, n, first_delay):
    if args.delay_ns is not None:
        delay, expected, source = (args.delay_ns, getattr(args, "delay_expected", {}),
                                   getattr(args, "delay_source", "--delay-ns"))
    elif args.calibrate_once and first_delay is not None:
        delay, expected, source = first_delay + ("trial 1's calibration",)
    elif n > 1:
        delay, expected, source = delay_from_baselines(args.out_dir, range(1, n),
                                                       re.compile(args.target), args.slowdown)
    else:
        delay, expected = calibrate(args, n)
        source = "a calibration run (calibration-%02d.json)" % n
    print("%s: sensitivity trial %d/%d (delay %d ns, from %s)" % (PROG, n, args.trials, delay,
                                                                 source), file=sys.stderr)
    # Only the target rows are slowed, as a PR that regresses one row would slow them;
    # every other regressed row is then a false alarm of that trial.
    code, report, minutes = run_ab(args, n, "--calibration_delay_ns=%d --calibration_delay_filter=%s"
                                   % (delay, shlex.quote(args.target)))
    return trial_record(n, code, report, minutes, dict(
        sensitivity_facts(args, report, delay, expected, (args.out_dir, n)), delay_from=source))


def run_trials(args):
    """Every trial 1..--trials, skipping the finished ones; return their records."""
    records, first_delay = [], None
    for n in range(1, args.trials + 1):
        rec = read_trial(args, n)
        if rec is None:
            if args.mode == "aa":
                print("%s: A/A trial %d/%d" % (PROG, n, args.trials), file=sys.stderr)
                rec = run_aa_trial(args, n)
            else:
                rec = run_sensitivity_trial(args, n, first_delay)
            keep_trial_data(args.out_dir, n)
            write_json(trial_path(args, n), rec)
        else:
            if not all(os.path.isfile(p) for p in kept_paths(args.out_dir, n)) \
                    and os.path.isdir(os.path.join(args.out_dir, "trial-%02d" % n)):
                keep_trial_data(args.out_dir, n)   # a trial finished by an older gate_trials.py
            print("%s: trial %d/%d already finished (%s)" % (PROG, n, args.trials,
                                                            trial_path(args, n)),
                  file=sys.stderr)
        if args.mode == "sensitivity" and first_delay is None:
            first_delay = (rec["delay_ns"], rec["expected_slowdown_pct"])
        records.append(rec)
    return records


# ------------------------------------------------------- offline: noise and rejudge

def judge_again(plan, directory, n, noise_doc):
    """(compare report, NEW's env) of finished trial n, judged now with the plan's settings
    (and noise_doc, when given); its kept files are read, nothing is run."""
    base_path, new_path = trial_files(directory, n)
    cmp_argv = [base_path, new_path, "--threshold", repr(plan["threshold"]),
                "--max-inconclusive", repr(plan["max_inconclusive"])]
    if plan.get("normalize_floors"):
        cmp_argv.append("--normalize-floors")
    cargs = compare.build_parser().parse_args(cmp_argv)
    cargs.noise_doc = noise_doc
    try:
        new = load(new_path)
        return gate.compare(load(base_path), new, cargs), new.env
    except (ResultsError, gate.UsageError) as e:
        raise TrialError("%s trial %d: %s" % (directory, n, e))


def learning_set(sources):
    """[(trial id, compare report without learned bands, NEW's env)] of every finished
    A/A trial in the directories, and their configuration; trials of one profile, rounds
    and repetitions, over the whole profile, or TrialError."""
    learned, first = [], None
    for directory in unique_dirs(sources):
        plan, trials = finished_trials(directory)
        first = first or plan
        for k in ("profile", "rounds", "repetitions", "slices", "focus", "focus_rounds"):
            if plan.get(k) != first.get(k):
                raise TrialError("--from %s: %s %s, but the other trials ran with %s; learn "
                                 "from trials of one configuration" % (directory, k, plan.get(k),
                                                                       first.get(k)))
        if plan.get("mode") != "aa" or plan.get("filter"):
            raise TrialError("--from %s: noise is learned from A/A trials of the whole "
                             "profile (this holds %s%s)" % (
                                 directory, plan.get("mode"),
                                 ", --filter " + plan["filter"] if plan.get("filter") else ""))
        for n, _ in trials:
            report, env = judge_again(plan, directory, n, None)
            learned.append((trial_id(directory, n), report, env))
    return learned, first


def learn_noise(args):
    learned, first = learning_set(args.sources)
    doc = noise_from(learned, args.k, args.out, first)
    del doc["path"]
    write_json(args.out, doc)
    bands = sorted(r["unchanged_within_pct"] for r in doc["rows"].values()) or [0.0]
    lines = ["learned from %d A/A trials (%s): %d comparisons with a spread, K = %g"
             % (len(learned), ", ".join(args.sources), len(doc["rows"]), args.k),
             "unchanged within (K x spread): median %.1f%%, 90th percentile %.1f%%, max %.1f%%"
             % (bands[len(bands) // 2], bands[int(0.9 * (len(bands) - 1))], bands[-1]),
             "written: %s" % args.out]
    return lines


# The settings every directory judged together must share (the binary, the delay and the
# noise file it ran with may differ: each trial compares one build with itself or its
# delayed self, and is judged again here anyway).
COMBINED_KEYS = ("mode", "rounds", "repetitions", "slices", "focus", "focus_rounds",
                 "threshold", "max_inconclusive",
                 "profile", "filter", "normalize_floors", "target", "slowdown")


def rejudge(args):
    sets, first = [], None
    args.sources = unique_dirs(args.sources)
    for directory in args.sources:
        plan, trials = finished_trials(directory)
        first = first or plan
        differ = [k for k in COMBINED_KEYS if plan.get(k) != first.get(k)]
        if differ:
            raise TrialError("--from %s: %s %s, but %s has %s; judge trials of one "
                             "configuration together" % (directory, differ[0], plan.get(differ[0]),
                                                         args.sources[0], first.get(differ[0])))
        sets.append((directory, plan, trials))
    fixed, learned, how = None, None, "the bands they ran with"
    if args.noise:
        try:
            fixed = gate_noise.load(args.noise)
        except gate_noise.NoiseError as e:
            raise TrialError("--noise %s" % e)
        taught = set(fixed.get("sources", []))
        used = ["%s trial %d" % (d, n) for d, _, trials in sets for n, _ in trials
                if trial_id(d, n) in taught]
        if used:
            raise TrialError("%s taught %s its bands and cannot also validate them"
                             % (", ".join(used), args.noise))
        how = "bands learned from other trials (%s)" % args.noise
        name = os.path.splitext(os.path.basename(args.noise))[0]
    elif args.learn_from:
        learned, learned_plan = learning_set(args.learn_from)
        how = ("bands learned from the A/A trials of %s, leaving out the trial judged, "
               "K = %g" % (", ".join(args.learn_from), args.k))
        name = "leave-one-out-k%g" % args.k
    else:
        name = "plain"
    if args.out_dir is None and len(sets) > 1:
        raise TrialError("--out-dir is needed to judge several directories together")
    out_dir = args.out_dir or os.path.join(args.sources[0], "rejudged-" + name)
    problem = atomic.foreign_dir_problem(out_dir)
    if problem:
        raise TrialError("--out-dir " + problem)
    ns = argparse.Namespace(**{k: first.get(k) for k in PLAN_KEYS if k != "bin_sha256"})
    ns.bin = first.get("bin")
    ns.ci_differences = ci_differences(ns, workflow_settings(missing_ok=True))
    records = []
    for directory, plan, trials in sets:
        for n, old in trials:
            noise_doc = fixed
            if learned is not None:
                others = [t for t in learned if t[0] != trial_id(directory, n)]
                if not others:
                    raise TrialError("--learn-from: no A/A trial left to learn from once "
                                     "%s trial %d is left out" % (directory, n))
                noise_doc = noise_from(others, args.k, "leave-one-out (%d trials)" % len(others),
                                       learned_plan)
            report, _ = judge_again(plan, directory, n, noise_doc)
            extra = {"source": trial_id(directory, n),
                     "noise_learned_from": None if noise_doc is None else noise_doc["trials"]}
            if plan["mode"] == "sensitivity":
                extra.update(sensitivity_facts(ns, report, old["delay_ns"],
                                               old["expected_slowdown_pct"], (directory, n)))
                extra["delay_from"] = old.get("delay_from")
            rec = trial_record(len(records) + 1, report["exit_code"], report, old["minutes"],
                               extra)
            rec["finished"] = old.get("finished")
            records.append(rec)
    summarize = summarize_aa if first["mode"] == "aa" else summarize_sensitivity
    summary, lines = summarize(ns, records)
    summary["rejudged_with"] = {"how": how, "from": [dir_id(d) for d, _, _ in sets]}
    # Written only once every trial is judged: a trial that cannot be leaves nothing behind.
    os.makedirs(out_dir, exist_ok=True)
    outputs = {os.path.join(out_dir, "trial-%02d.json" % r["trial"]): atomic.json_text(r)
               for r in records}
    outputs[os.path.join(out_dir, "summary.json")] = atomic.json_text(summary)
    atomic.write_files(outputs)
    return ["rejudged with %s" % how] + lines + ["details: %s" % out_dir], summary["goal_met"]


def run_mode(args):
    """aa or sensitivity: every trial (resumed where DIR has them), then the summary."""
    plan = settle(args)
    keep_planned_delay(args, plan, PROG)
    open_out_dir(args.out_dir, plan)
    check_runner_of(args.out_dir, args.trials, args.bin, args.profile,
                    getattr(args, "delay_from", None))
    print("%s: trials in %s (rerun with --out-dir %s to resume)"
          % (PROG, args.out_dir, args.out_dir), file=sys.stderr)
    records = run_trials(args)
    summarize = summarize_aa if args.mode == "aa" else summarize_sensitivity
    summary, lines = summarize(args, records)
    write_json(os.path.join(args.out_dir, "summary.json"), summary)
    return lines + ["details: %s" % args.out_dir], summary["goal_met"]


def main(argv=None):
    args = build_parser().parse_args(argv)
    modes = {"noise": lambda: (learn_noise(args), True), "rejudge": lambda: rejudge(args)}
    try:
        lines, ok = modes.get(args.mode, lambda: run_mode(args))()
    except TrialError as e:
        print("%s: %s" % (PROG, e), file=sys.stderr)
        return 2
    except OSError as e:
        print("%s: %s: %s" % (PROG, e.filename or "?", e.strerror or e), file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
