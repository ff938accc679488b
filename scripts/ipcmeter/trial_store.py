"""Finished gate_trials.py trials on disk: what each keeps, where, and how it is read.

Beside trial-NN.json go trial-NN-baseline.json.xz and -candidate.json.xz, the trial's two
results files cut down to what the gate judges (gate.judged_part), so a directory of trials
can be committed and judged again (gate_trials.py rejudge, noise) on another day and
checkout, after the trial's 35 MB of runs are gone.
"""

import hashlib
import json
import lzma
import os
import re
import statistics
import subprocess
import sys
import tempfile

from . import atomic, children, gate, gate_noise
from .ab_rounds import probe_argv
from .results import ResultsError, load

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class TrialError(Exception):
    """str(e) is the one line to print."""


# The floor probe that tells a resumed run which runner it is on takes a few seconds.
RUNNER_PROBE_S = 120
# Settings added to plan.json after trials were kept: what a plan without them ran with.
PLAN_DEFAULTS = {"slices": 1, "focus": None, "focus_rounds": 0, "delay_from": None}


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_plan(directory):
    """DIR/plan.json, its missing settings filled from PLAN_DEFAULTS; OSError, ValueError."""
    with open(os.path.join(directory, "plan.json"), encoding="utf-8") as f:
        plan = json.load(f)
    if not isinstance(plan, dict):
        raise ValueError("not an object")
    return dict(PLAN_DEFAULTS, **plan)


def kept_paths(directory, n):
    """Trial n's two kept results files (the module's docstring says what they hold)."""
    stem = os.path.join(directory, "trial-%02d" % n)
    return stem + "-baseline.json.xz", stem + "-candidate.json.xz"


def keep_trial_data(directory, n):
    """Write kept_paths(directory, n) from trial n's ab.py output (trial-NN/)."""
    trial_dir = os.path.join(directory, "trial-%02d" % n)
    try:
        base = load(os.path.join(trial_dir, "baseline.json"))
        new = load(os.path.join(trial_dir, "candidate.json"))
    except ResultsError as e:
        raise TrialError("trial %d: %s" % (n, e))
    atomic.write_files({
        path: lzma.compress(json.dumps(gate.judged_part(res, new.schema),
                                       separators=(",", ":")).encode("utf-8"))
        for path, res in zip(kept_paths(directory, n), (base, new))})


def trial_files(directory, n):
    """(BASE, NEW) results files of finished trial n: the kept copies, else the trial's
    ab.py output."""
    kept = kept_paths(directory, n)
    if all(os.path.isfile(p) for p in kept):
        return kept
    trial_dir = os.path.join(directory, "trial-%02d" % n)
    return os.path.join(trial_dir, "baseline.json"), os.path.join(trial_dir, "candidate.json")


def dir_id(directory):
    """A trial directory's name in noise files and summaries: its path relative to the
    repository when it lies inside it, so that committed trials are recognised in any
    checkout."""
    path = os.path.abspath(directory)
    return os.path.relpath(path, REPO) if os.path.commonpath([path, REPO]) == REPO else path


def trial_id(directory, n):
    return os.path.join(dir_id(directory), "trial-%02d" % n)


def finished_trials(directory, flag="--from"):
    """The plan of a gate_trials.py directory and [(n, record)] of its finished trials
    (flag: the option that named the directory, for the errors)."""
    try:
        plan = read_plan(directory)
    except (OSError, ValueError):
        raise TrialError("%s %s: holds no plan.json of gate_trials.py" % (flag, directory))
    out = []
    for name in sorted(os.listdir(directory)):
        m = re.fullmatch(r"trial-(\d+)\.json", name)
        if not m:
            continue
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            out.append((int(m.group(1)), json.load(f)))
    if not out:
        raise TrialError("%s %s: no finished trial" % (flag, directory))
    return plan, out


def unique_dirs(dirs):
    """dirs without repeats (a shell glob and a name can both give one directory), in order."""
    seen, out = set(), []
    for d in dirs:
        if os.path.realpath(d) not in seen:
            seen.add(os.path.realpath(d))
            out.append(d)
    return out


# What a noise file records of the A/A trials it was learned from (compare.py refuses one
# learned with other focus rounds than the files it judges).
NOISE_CONFIGURATION = ("profile", "rounds", "repetitions", "slices", "focus", "focus_rounds",
                       "threshold", "bin_sha256")


def noise_from(learned, k, label, plan):
    """The noise document learned from [(trial id, report, env)], A/A trials of `plan`."""
    if not k > 0:
        raise TrialError("--k %g: must be above 0" % k)
    try:
        doc = gate_noise.learn([r for _, r, _ in learned], [e for _, _, e in learned], k,
                               [i for i, _, _ in learned])
    except gate_noise.NoiseError as e:
        raise TrialError(str(e))
    doc["path"] = label
    doc["configuration"] = {key: plan.get(key) for key in NOISE_CONFIGURATION}
    return doc


def baseline_p50(directory, n, target):
    """{benchmark matching target (a compiled regex): median rtt_p50_ns over the rounds of
    finished trial n's baseline}."""
    try:
        medians = load(trial_files(directory, n)[0]).summary("rtt_p50_ns")
    except ResultsError as e:
        raise TrialError("%s trial %d: %s" % (directory, n, e))
    return {b: v for b, v in medians.items() if target.search(b)}


def delay_for(medians, slowdown):
    """(delay in ns that adds slowdown percent to the typical of {benchmark: rtt_p50_ns},
    {benchmark: that delay as a percentage of its p50})."""
    delay = max(1, round(statistics.median(medians.values()) * slowdown / 100.0))
    return delay, {b: 100.0 * delay / v for b, v in medians.items()}


def delay_from_baselines(directory, trials, target, slowdown):
    """(delay in ns, {benchmark: that delay as a percentage of its p50}, where it came from):
    --slowdown percent of the target's rtt_p50_ns in the baselines of the earlier trials
    (the median over their trials of each one's median over its rounds). Those rounds ran
    inside the whole profile, as the trial will, over hours; a calibration run of the target
    alone lasts seconds and catches whichever vCPU placement the host holds then (in the
    trials of 2026-12-03 on the development VM, the shm_ring fork spin 64 B round trip sat
    near 150 ns in 35 of 240 rounds and near 470 ns in the others)."""
    per_trial = {}
    for n in trials:
        for name, p50 in baseline_p50(directory, n, target).items():
            per_trial.setdefault(name, []).append(p50)
    medians = {b: statistics.median(v) for b, v in per_trial.items()}
    if not medians:
        raise TrialError("the trials hold no rtt_p50_ns of the target to calibrate on")
    which = (", ".join(str(n) for n in trials) if len(trials) < 3
             else "%d-%d" % (trials[0], trials[-1]))
    return delay_for(medians, slowdown) + (
        "the baselines of trial%s %s" % ("s" if len(trials) > 1 else "", which),)


def delay_from_trials_of(directory, target, slowdown, profile):
    """delay_from_baselines over every finished trial of another gate_trials.py directory
    (--delay-from): one delay, fixed before trial 1, from baselines that ran inside the
    whole profile over hours, so no trial's delay hangs on a calibration run's placement."""
    plan, trials = finished_trials(directory, "--delay-from")
    if plan.get("profile") != profile:
        raise TrialError("--delay-from %s: its trials ran the %s profile, these run %s"
                         % (directory, plan.get("profile"), profile))
    try:
        delay, expected, source = delay_from_baselines(directory, [n for n, _ in trials],
                                                       target, slowdown)
    except TrialError as e:
        raise TrialError("--delay-from %s: %s" % (directory, e))
    return delay, expected, "%s in %s" % (source, dir_id(directory))


def runner_now(binary, profile):
    """This machine's env, from one floor probe run of the binary (a few seconds): the facts
    are the binary's, not read again here."""
    with tempfile.TemporaryDirectory(prefix="ipcmeter-runner-") as tmp:
        out = os.path.join(tmp, "runner-probe.json")
        try:
            proc = children.run(probe_argv(binary, profile, out), timeout=RUNNER_PROBE_S,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        except subprocess.TimeoutExpired:
            raise TrialError("--bin %s: its floor probe, run to learn this runner, did not end "
                             "within %d s" % (binary, RUNNER_PROBE_S))
        try:
            return load(out).env
        except ResultsError as e:
            raise TrialError("--bin %s: its floor probe, run to learn this runner, wrote no "
                             "results (exit %d): %s" % (binary, proc.returncode, e))


def read_record(directory, n):
    """Finished trial n's record (trial-NN.json), or None when it has not finished."""
    try:
        with open(os.path.join(directory, "trial-%02d.json" % n), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def trial_env(directory, n, flag):
    """The env of DIR's finished trial n, from its kept baseline."""
    base_path, _ = trial_files(directory, n)
    try:
        return load(base_path).env
    except ResultsError as e:
        raise TrialError("%s %s trial %d: %s" % (flag, directory, n, e))


def check_runner_of(directory, trials, binary, profile, delay_from=None):
    """Refuse to add trials to DIR (trials 1..trials, some finished, some not) on another
    runner than its finished trials ran on (the first one's kept baseline says which): a
    proof holds per runner, and a directory that mixes two would count one runner's trials
    for the other's. The development VM came back from a restart on 2026-12-05 with
    page-table isolation on and no idle driver, and a resume in the second host's
    directories would have gone on without a word. The same for the --delay-from directory,
    whose baselines set every trial's delay: learned on another runner, the delay is another
    share of the target's round trip here."""
    finished = [n for n in range(1, trials + 1) if read_record(directory, n) is not None]
    if len(finished) == trials:
        return  # nothing left to run
    then = []
    if finished:
        then.append(("--out-dir", directory, trial_env(directory, finished[0], "--out-dir")))
    if delay_from:
        _, sources = finished_trials(delay_from, "--delay-from")
        then.append(("--delay-from", delay_from,
                     trial_env(delay_from, sources[0][0], "--delay-from")))
    if not then:
        return
    now = runner_now(binary, profile)
    for flag, where, env in then:
        differs = gate_noise.env_difference(env, now)
        if differs is not None:
            raise TrialError("%s %s: its trials ran on another runner (%s; the second value "
                             "is this machine's); give another directory" % (flag, where, differs))


def keep_planned_delay(args, plan, prog):
    """A resumed DIR of --delay-from trials keeps the delay its plan fixed before trial 1,
    though the --delay-from directory may hold more trials now and give another: every
    trial of a directory runs one delay."""
    if not getattr(args, "delay_from", None):
        return
    try:
        old = read_plan(args.out_dir)
    except (OSError, ValueError):
        return
    kept = old.get("delay_ns")
    if old.get("delay_from") != plan["delay_from"] or not isinstance(kept, int) \
            or kept == plan["delay_ns"] or kept <= 0:
        return
    print("%s: --delay-from %s now gives %d ns; the trials of %s keep the %d ns their plan "
          "fixed" % (prog, args.delay_from, plan["delay_ns"], args.out_dir, kept),
          file=sys.stderr)
    # What trial 1 was told, when it has finished: the trials of DIR then share every fact
    # of their delay. Else the kept delay's share of the p50s the directory gives now.
    first = read_record(args.out_dir, 1) or {}
    args.delay_expected = first.get("expected_slowdown_pct") or {
        b: pct * kept / plan["delay_ns"] for b, pct in args.delay_expected.items()}
    args.delay_source = first.get("delay_from") or "the plan of %s" % args.out_dir
    args.delay_ns = plan["delay_ns"] = kept
