#!/usr/bin/python3
"""Measure the regression gate itself, the way CI runs it: false alarms and sensitivity.

  gate_trials.py aa --bin BIN [--trials 20] [--out-dir DIR] [options]
  gate_trials.py sensitivity --bin BIN --target REGEX [--slowdown 10] [--delay-ns N]
                 [--calibrate-once] [--trials 10] [--out-dir DIR] [options]

Every trial is one scripts/ab.py run over the WHOLE profile (no --benchmark_filter), with
the rounds, repetitions, threshold, --max-inconclusive and profile of the CI workflow
(.github/workflows/ipcmeter-gate.yml, its env ROUNDS, REPETITIONS, THRESHOLD,
MAX_INCONCLUSIVE and PROFILE), so Benjamini-Hochberg corrects over as many comparisons as
in CI. --rounds, --repetitions, --threshold, --max-inconclusive and --profile override
them; --filter narrows the rows for a quick look, and the summary then says that it is
not the CI configuration.

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
             (p <= alpha / tests and beyond the threshold). Without --delay-ns, N is calibrated before every trial: one run
             of BIN on --target, N = --slowdown percent of its median rtt_p50_ns
             (--calibrate-once: before the first trial only); target one transport and
             size per invocation. A trial is "on target" when the change the gate
             measured lies within 0.7-1.5 x --slowdown.

Resumable: each trial's result is written to DIR/trial-NN.json as soon as it finishes
(its ab.py output stays in DIR/trial-NN/). Rerun the same command with the same
--out-dir to go on: finished trials are skipped, a trial that was cut short is run again,
and a DIR holding trials of other settings is refused. DIR defaults to
results/runs/gate-<mode>-<UTC time>. At the end a table with the minutes per trial is
printed and DIR/summary.json written.

Exit status: 0 goal met, 1 goal not met, 2 unusable input or a failed run (one line on
stderr; finished trials are kept).
"""

import argparse
import datetime
import hashlib
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ipcmeter.atomic import write_json  # noqa: E402
from ipcmeter.cli import ArgumentParser  # noqa: E402
from ipcmeter.results import ResultsError, load  # noqa: E402

PROG = "gate_trials.py"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
AB = os.path.join(HERE, "ab.py")
WORKFLOW = os.path.join(REPO, ".github", "workflows", "ipcmeter-gate.yml")
# workflow env name -> (setting, type): what CI passes to ab.py.
WORKFLOW_ENV = {"ROUNDS": ("rounds", int), "REPETITIONS": ("repetitions", int),
                "THRESHOLD": ("threshold", float),
                "MAX_INCONCLUSIVE": ("max_inconclusive", float),
                "PROFILE": ("profile", str)}
AA_GOAL = 0.05          # at most this share of A/A trials may end in anything but exit 0
SENSITIVITY_GOAL = 0.9  # at least this share of trials detect the slowdown
DEFAULT_TRIALS = {"aa": 20, "sensitivity": 10}
# A trial's slowdown is "on target" when the change the gate measured lies within these
# factors of --slowdown (7-15% for 10%). A busy delay is not always the share of the round
# trip it was calibrated to be: the host may move the vCPUs between calibration and trial,
# and on a sub-microsecond spinning round trip a delay before the send also shifts when the
# ring's cache line moves (on the development VM 24 ns asked added 15 ns, 60 ns added 71).
# Off-target trials are counted as they fell; the summary says how many there were.
ON_TARGET = (0.7, 1.5)
# The settings a resumed run must share with the trials already in DIR.
PLAN_KEYS = ("mode", "bin_sha256", "rounds", "repetitions", "threshold", "max_inconclusive",
             "profile", "filter", "normalize_floors", "target", "slowdown", "delay_ns",
             "calibrate_once")


class TrialError(Exception):
    """str(e) is the one line to print."""


def workflow_settings(path=WORKFLOW):
    """{setting: value} from the top-level env block of the CI workflow."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
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
        s.add_argument("--profile", help="default: the workflow's")
        s.add_argument("--threshold", type=float, metavar="PCT",
                       help="default: the workflow's")
        s.add_argument("--max-inconclusive", type=float, metavar="PCT",
                       help="default: the workflow's")
        s.add_argument("--filter", metavar="REGEX",
                       help="judge only these benchmarks (not the CI configuration; "
                            "default: the whole profile)")
        s.add_argument("--normalize-floors", action="store_true")
        s.add_argument("--out-dir", metavar="DIR",
                       help="where the trials go; an existing DIR of the same settings "
                            "is resumed")
        if mode == "sensitivity":
            s.add_argument("--target", required=True, metavar="REGEX",
                           help="benchmarks the delay should slow (one transport and size)")
            s.add_argument("--slowdown", type=float, default=10.0, metavar="PCT",
                           help="slowdown to calibrate the delay for (default 10)")
            s.add_argument("--delay-ns", type=int, metavar="N",
                           help="use this delay in every trial instead of calibrating")
            s.add_argument("--calibrate-once", action="store_true",
                           help="calibrate before the first trial only")
    return p


# ----------------------------------------------------------------- set-up

def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def settle(args):
    """Fill the workflow's settings into args and check everything; return the plan."""
    if not (os.path.isfile(args.bin) and os.access(args.bin, os.X_OK)):
        raise TrialError("--bin %s: not an executable file" % args.bin)
    if args.trials < 1:
        raise TrialError("--trials %d: must be at least 1" % args.trials)
    missing = {env: key for env, (key, _) in WORKFLOW_ENV.items()
               if getattr(args, key) is None}
    if missing:
        found = workflow_settings()
        for env, key in missing.items():
            if key not in found:
                raise TrialError("%s has no env %s; give --%s"
                                 % (WORKFLOW, env, key.replace("_", "-")))
            setattr(args, key, found[key])
    if args.rounds < 3:
        raise TrialError("--rounds %d: the paired test needs at least 3" % args.rounds)
    if args.repetitions < 1:
        raise TrialError("--repetitions %d: must be at least 1" % args.repetitions)
    for flag in ("filter", "target"):
        value = getattr(args, flag, None)
        if value is not None:
            try:
                re.compile(value)
            except re.error as e:
                raise TrialError("--%s %r: not a regular expression: %s" % (flag, value, e))
    if args.out_dir is None:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        args.out_dir = os.path.join(REPO, "results", "runs", "gate-%s-%s" % (args.mode, stamp))
    plan = {key: getattr(args, key, None) for key in PLAN_KEYS
            if key not in ("mode", "bin_sha256")}
    plan.update({"mode": args.mode, "bin": os.path.abspath(args.bin),
                 "bin_sha256": file_sha256(args.bin)})
    return plan


def open_out_dir(out_dir, plan):
    """Create DIR with its plan, or check that an existing DIR holds this plan."""
    plan_path = os.path.join(out_dir, "plan.json")
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        try:
            with open(plan_path, encoding="utf-8") as f:
                old = json.load(f)
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
    try:
        with open(trial_path(args, n), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def ab_argv(args, out_dir, candidate_args=""):
    argv = [sys.executable, AB, "--baseline", args.bin, "--candidate", args.bin,
            "--rounds", str(args.rounds), "--repetitions", str(args.repetitions),
            "--profile", args.profile, "--threshold", repr(args.threshold),
            "--max-inconclusive", repr(args.max_inconclusive), "--out-dir", out_dir]
    if args.filter:
        argv += ["--filter", args.filter]
    if candidate_args:
        argv += ["--candidate-args", candidate_args]
    if args.normalize_floors:
        argv.append("--normalize-floors")
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
        proc = subprocess.run(ab_argv(args, trial_dir, candidate_args), stdout=f,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False)
    minutes = (time.monotonic() - started) / 60.0
    if proc.returncode not in (0, 1, 3):
        raise TrialError("trial %d: ab.py failed (exit %d); see %s" % (n, proc.returncode, log))
    try:
        with open(os.path.join(trial_dir, "compare.json"), encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        raise TrialError("trial %d: no readable compare.json (%s); see %s" % (n, e, log))
    return proc.returncode, report, minutes


def _quantile(values, q):
    v = sorted(values)
    return v[int(q * (len(v) - 1))] if v else None


def row_brief(c):
    return {k: c.get(k) for k in ("benchmark", "metric", "verdict", "change_pct", "p_value",
                                  "q_value", "mde_pct", "base", "rounds_left_out")}


def trial_record(n, code, report, minutes, extra=None):
    """What a trial's summary needs, small enough to commit beside the docs."""
    comps = report["comparisons"]
    changes = [abs(c["change_pct"]) for c in comps if c["change_pct"] is not None]
    mdes = [c["mde_pct"] for c in comps if c.get("mde_pct") is not None]
    rec = {
        "trial": n, "exit_code": code, "status": report["gate"]["status"],
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "minutes": round(minutes, 2),
        "counts": report["counts"], "gate": report["gate"],
        "comparisons": len(comps),
        "tests": sum(1 for c in comps if c["p_value"] is not None),
        "alpha": report["alpha"],
        "rounds_left_out": report.get("rounds_left_out", []),
        "flagged": [row_brief(c) for c in comps if c["verdict"] in ("regressed", "improved")],
        "abs_change_p95_pct": _quantile(changes, 0.95),
        "abs_change_max_pct": max(changes) if changes else None,
        "mde_median_pct": statistics.median(mdes) if mdes else None,
        "mde_p90_pct": _quantile(mdes, 0.9),
    }
    rec.update(extra or {})
    return rec


def calibrate(args, n):
    """(delay in ns that adds --slowdown percent to the target's median rtt_p50_ns,
    {benchmark: that delay as a percentage of its rtt_p50_ns})."""
    stem = os.path.join(args.out_dir, "calibration-%02d" % n)
    out = stem + ".json"
    argv = [args.bin, "--profile", args.profile, "--benchmark_filter=" + args.target,
            "--benchmark_repetitions=5", "--benchmark_out=" + out,
            "--benchmark_out_format=json"]
    with open(stem + ".log", "wb") as f:
        proc = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        raise TrialError("calibration run of %s exited with status %d" % (args.bin, proc.returncode))
    try:
        medians = load(out).summary("rtt_p50_ns")
    except ResultsError as e:
        raise TrialError("calibration: %s" % e)
    if not medians:
        raise TrialError("calibration: --target %r matched no benchmark with rtt_p50_ns "
                         "(the delay is calibrated on pingpong round trips)" % args.target)
    typical = statistics.median(medians.values())
    delay = max(1, round(typical * args.slowdown / 100.0))
    return delay, {name: 100.0 * delay / v for name, v in medians.items()}


def run_aa_trial(args, n):
    code, report, minutes = run_ab(args, n)
    return trial_record(n, code, report, minutes)


def run_sensitivity_trial(args, n, first_delay):
    if args.delay_ns is not None:
        delay, expected = args.delay_ns, {}
    elif args.calibrate_once and first_delay is not None:
        delay, expected = first_delay
    else:
        delay, expected = calibrate(args, n)
    print("%s: sensitivity trial %d/%d (delay %d ns)" % (PROG, n, args.trials, delay),
          file=sys.stderr)
    # Only the target rows are slowed, as a PR that regresses one row would slow them;
    # every other regressed row is then a false alarm of that trial.
    code, report, minutes = run_ab(args, n, "--calibration_delay_ns=%d --calibration_delay_filter=%s"
                                   % (delay, shlex.quote(args.target)))
    target = re.compile(args.target)
    mine = [c for c in report["comparisons"] if target.search(c["benchmark"])]
    others = [c for c in report["comparisons"]
              if not target.search(c["benchmark"]) and c["verdict"] == "regressed"]
    return trial_record(n, code, report, minutes, {
        "delay_ns": delay, "expected_slowdown_pct": expected,
        "target_rows": [row_brief(c) for c in mine],
        "target_not_compared": [nc for nc in report["not_compared"]
                                if target.search(nc["benchmark"])],
        "other_rows_regressed": len(others),
    })


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
            write_json(trial_path(args, n), rec)
        else:
            print("%s: trial %d/%d already finished (%s)" % (PROG, n, args.trials,
                                                            trial_path(args, n)),
                  file=sys.stderr)
        if args.mode == "sensitivity" and first_delay is None:
            first_delay = (rec["delay_ns"], rec["expected_slowdown_pct"])
        records.append(rec)
    return records


# ---------------------------------------------------------------- summaries

def configuration(args):
    text = ("%s profile, %d rounds x %d repetitions, threshold %g%%, max inconclusive %g%%"
            % (args.profile, args.rounds, args.repetitions, args.threshold,
               args.max_inconclusive))
    if args.filter:
        text += ", --filter %r (NOT the CI configuration)" % args.filter
    else:
        text += ", every benchmark (the CI configuration)"
    return text


def table(header, rows):
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]


def _pct(v):
    return "-" if v is None else "%.1f%%" % v


def minutes_lines(records):
    minutes = [r["minutes"] for r in records]
    return ["minutes per trial: median %.1f, min %.1f, max %.1f; %.1f hours in all"
            % (statistics.median(minutes), min(minutes), max(minutes), sum(minutes) / 60.0)]


def summarize_aa(args, records):
    comps = sum(r["comparisons"] for r in records)
    flagged = sum(len(r["flagged"]) for r in records)
    inconclusive = sum(r["counts"]["inconclusive"] for r in records)
    exits = {str(code): sum(1 for r in records if r["exit_code"] == code) for code in (0, 1, 3)}
    not_zero = len(records) - exits["0"]
    share = not_zero / len(records)
    summary = {
        "mode": "aa", "bin": os.path.abspath(args.bin), "configuration": configuration(args),
        "trials": len(records), "rounds": args.rounds, "repetitions": args.repetitions,
        "profile": args.profile, "filter": args.filter, "threshold_pct": args.threshold,
        "max_inconclusive_pct": args.max_inconclusive, "normalized": args.normalize_floors,
        "exit_codes": exits, "trials_not_exit_0": not_zero, "trials_not_exit_0_share": share,
        "comparisons": comps, "flagged": flagged,
        "flagged_share": flagged / comps if comps else 0.0,
        "inconclusive": inconclusive,
        "inconclusive_share": inconclusive / comps if comps else 0.0,
        "abs_change_p95_pct_median": statistics.median(
            [r["abs_change_p95_pct"] for r in records if r["abs_change_p95_pct"] is not None]
            or [0.0]),
        "abs_change_max_pct": max((r["abs_change_max_pct"] or 0.0) for r in records),
        "minutes": [r["minutes"] for r in records],
        "flagged_list": ["trial %d: %s %s %+.1f%%" % (r["trial"], c["benchmark"], c["metric"],
                                                      c["change_pct"])
                         for r in records for c in r["flagged"]],
        "goal": "trials ending in anything but exit 0 <= %g" % AA_GOAL,
        "goal_met": share <= AA_GOAL,
    }
    rows = [[r["trial"], r["exit_code"], r["status"], r["counts"]["regressed"],
             r["counts"]["improved"], r["counts"]["inconclusive"], r["comparisons"],
             _pct(r["gate"]["undecided_pct"]), _pct(r["abs_change_p95_pct"]),
             _pct(r["mde_median_pct"]), len(r["rounds_left_out"]), "%.1f" % r["minutes"]]
            for r in records]
    lines = ["A/A: " + configuration(args)]
    lines += table(["trial", "exit", "status", "regressed", "improved", "inconclusive",
                    "compared", "undecided", "|change| p95", "mde median", "rounds out",
                    "minutes"], rows)
    lines += ["trials ending in anything but exit 0: %d of %d (%.1f%%; goal <= %.0f%%) -> %s"
              % (not_zero, len(records), 100 * share, 100 * AA_GOAL,
                 "met" if summary["goal_met"] else "NOT met"),
              "exit codes: %s" % ", ".join("%s: %d" % kv for kv in exits.items()),
              "comparisons flagged: %d of %d (%.2f%%); inconclusive: %d (%.1f%%)"
              % (flagged, comps, 100 * summary["flagged_share"], inconclusive,
                 100 * summary["inconclusive_share"]),
              "|change| between identical builds: median of the trials' 95th percentiles "
              "%.1f%%, max %.1f%%" % (summary["abs_change_p95_pct_median"],
                                     summary["abs_change_max_pct"])]
    lines += minutes_lines(records)
    lines += ["flagged: " + f for f in summary["flagged_list"]]
    return summary, lines


def target_outcome(args, rec):
    """(detected, detected as a lone change, on target) for one sensitivity trial."""
    rows = rec["target_rows"]
    names = sorted({c["benchmark"] for c in rows})
    hit = {n: any(c["verdict"] == "regressed" for c in rows if c["benchmark"] == n)
           for n in names}
    detected = rec["exit_code"] == 1 and bool(hit) and all(hit.values()) \
        and not rec["target_not_compared"]
    # Were it the only slowed row, Benjamini-Hochberg would flag it only at p <= alpha/m.
    level = rec["alpha"] / max(rec["tests"], 1)
    lone = {n: any(c["verdict"] == "regressed" and c["p_value"] is not None
                   and c["p_value"] <= level for c in rows if c["benchmark"] == n)
            for n in names}
    p50 = [c for c in rows if c["metric"] == "rtt_p50_ns"]
    on_target = bool(p50) and all(
        c["change_pct"] is not None
        and ON_TARGET[0] * args.slowdown <= c["change_pct"] <= ON_TARGET[1] * args.slowdown
        for c in p50)
    return detected, detected and bool(lone) and all(lone.values()), on_target


def summarize_sensitivity(args, records):
    outcomes = [target_outcome(args, r) for r in records]
    detected = sum(1 for d, _, _ in outcomes if d)
    lone = sum(1 for _, a, _ in outcomes if a)
    on_target = [d for d, _, t in outcomes if t]
    rows = []
    for rec, (hit, alone, on) in zip(records, outcomes):
        p50 = [c for c in rec["target_rows"] if c["metric"] == "rtt_p50_ns"] \
            or rec["target_rows"] or [{}]
        c = p50[0]
        rows.append([rec["trial"], rec["delay_ns"], rec["exit_code"], c.get("verdict", "-"),
                     "-" if c.get("change_pct") is None else "%+.1f%%" % c["change_pct"],
                     _pct(c.get("mde_pct")),
                     "yes" if hit else "no", "yes" if alone else "no",
                     "yes" if on else "no", rec["other_rows_regressed"],
                     "%.1f" % rec["minutes"]])
    summary = {
        "mode": "sensitivity", "bin": os.path.abspath(args.bin),
        "configuration": configuration(args), "target": args.target,
        "trials": len(records), "rounds": args.rounds, "repetitions": args.repetitions,
        "profile": args.profile, "filter": args.filter, "threshold_pct": args.threshold,
        "max_inconclusive_pct": args.max_inconclusive, "normalized": args.normalize_floors,
        "calibration": ("fixed --delay-ns" if args.delay_ns is not None else
                        "once" if args.calibrate_once else "before every trial"),
        "calibration_delay_ns": [r["delay_ns"] for r in records],
        "detected": detected, "detected_as_lone_change": lone,
        "on_target_pct": [ON_TARGET[0] * args.slowdown, ON_TARGET[1] * args.slowdown],
        "on_target_trials": len(on_target), "detected_on_target": sum(on_target),
        "minutes": [r["minutes"] for r in records],
        "goal": "detected (exit 1 naming every target benchmark) >= %g of trials"
                % SENSITIVITY_GOAL,
        "goal_met": detected >= SENSITIVITY_GOAL * len(records),
    }
    lines = ["sensitivity on %s (%s), delay calibrated %s"
             % (args.target, configuration(args), summary["calibration"])]
    lines += table(["trial", "delay ns", "exit", "target p50", "change", "mde", "detected",
                    "lone", "on target", "others regressed", "minutes"], rows)
    lines += ["detected (exit 1, every target benchmark regressed) in %d of %d trials "
              "(goal >= %d) -> %s" % (detected, len(records),
                                      round(SENSITIVITY_GOAL * len(records)),
                                      "met" if summary["goal_met"] else "NOT met"),
              "would also have been flagged as the only slowed row (p <= alpha / tests) "
              "in %d of %d" % (lone, len(records)),
              "measured slowdown on target (%.0f-%.0f%%) in %d of %d trials; detected in %d "
              "of those" % (summary["on_target_pct"][0], summary["on_target_pct"][1],
                            len(on_target), len(records), summary["detected_on_target"])]
    lines += minutes_lines(records)
    return summary, lines


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        plan = settle(args)
        open_out_dir(args.out_dir, plan)
        print("%s: trials in %s (rerun with --out-dir %s to resume)"
              % (PROG, args.out_dir, args.out_dir), file=sys.stderr)
        records = run_trials(args)
        summarize = summarize_aa if args.mode == "aa" else summarize_sensitivity
        summary, lines = summarize(args, records)
        write_json(os.path.join(args.out_dir, "summary.json"), summary)
    except TrialError as e:
        print("%s: %s" % (PROG, e), file=sys.stderr)
        return 2
    except OSError as e:
        print("%s: %s: %s" % (PROG, e.filename or "?", e.strerror or e), file=sys.stderr)
        return 2
    print("\n".join(lines))
    print("details: %s" % args.out_dir)
    return 0 if summary["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
