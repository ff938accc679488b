#!/usr/bin/python3
"""Trends of ipcmeter's primary metrics across commits, with detected change points.

  history.py RESULTS.json [MORE.json ...] -o DIR [--group-by host|hardware]
             [--alpha A] [--min-step PCT] [--noise-multiple K] [--git REPO]

RESULTS are ipcmeter results files of many revisions (CI artifacts, results/runs/). Each is
placed at its revision: env.git_revision, ordered by env.commit_date (for older files, the
revision's committer date in --git REPO), else by the run's date.
Writes DIR/history.html (one self-contained page: per benchmark, each primary metric's
trend over revisions, one line per machine, the repetitions' min-max, the fitted levels
with their noise band and the change points), DIR/history.json (the series and steps, for
machines) and DIR/history.md (the change points and a table of the series).

A change point is the revision where a series' level stepped: found by binary segmentation
with a permutation test on the revision medians (confidence = 1 - p), kept only when the
step is at least --min-step percent and --noise-multiple times the revision-to-revision
noise. Which metrics are primary, and which way is better, is each file's ipcmeter.schema
(`ipcmeter --describe`). Machines are never mixed: --group-by host (default) keeps a line
per hostname and hardware, --group-by hardware one per CPU model, counts and hypervisor
(for CI runners whose hostname changes every job). See docs/history.md.

Exit status: 0 written; 2 unusable input (one line on stderr, nothing written in DIR).
"""

from __future__ import annotations

import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ipcmeter import atomic, history, history_render, schema  # noqa: E402
from ipcmeter.cli import ArgumentParser, add_ipcmeter_bin, refuse  # noqa: E402
from ipcmeter.results import ResultsError, load  # noqa: E402

PROG = "history.py"
OUTPUTS = ("history.html", "history.json", "history.md")


def build_parser():
    p = ArgumentParser(prog=PROG, description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+", metavar="RESULTS.json", help="ipcmeter results files")
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="output directory (created; its history files are replaced)")
    p.add_argument("--group-by", choices=history.GROUP_BY, default="host",
                   help="what makes a machine's line: hostname and hardware (default), or "
                        "hardware alone for runners whose hostname changes every job")
    p.add_argument("--alpha", type=float, default=history.ALPHA,
                   help="largest permutation p-value of a change point (default %g)"
                        % history.ALPHA)
    p.add_argument("--min-step", type=float, default=history.MIN_STEP_PCT, metavar="PCT",
                   help="smallest step reported, in percent of the level before "
                        "(default %g)" % history.MIN_STEP_PCT)
    p.add_argument("--noise-multiple", type=float, default=history.NOISE_MULTIPLE, metavar="K",
                   help="a step must also exceed K revision-noise sigmas (default %g)"
                        % history.NOISE_MULTIPLE)
    p.add_argument("--git", metavar="REPO",
                   help="a clone of the measured repository: revisions whose files predate "
                        "env.commit_date get their committer date from it (else they are "
                        "placed by their run date)")
    add_ipcmeter_bin(p)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    schema.use_binary(args.ipcmeter_bin)
    try:
        if not 0 < args.alpha < 1:
            raise history.HistoryError(f"--alpha {args.alpha:g}: must be between 0 and 1")
        if not (math.isfinite(args.min_step) and args.min_step >= 0):
            raise history.HistoryError(f"--min-step {args.min_step:g}: must be a percentage "
                                       f"of 0 or more")
        if not (math.isfinite(args.noise_multiple) and args.noise_multiple >= 0):
            raise history.HistoryError(f"--noise-multiple {args.noise_multiple:g}: must be 0 "
                                       f"or more")
        if os.path.exists(args.output) and not os.path.isdir(args.output):
            raise history.HistoryError(f"{args.output}: exists and is not a directory")
        if args.git is not None and not os.path.isdir(args.git):
            raise history.HistoryError(f"--git {args.git}: no such directory")
        detector = history.Detector(args.alpha, args.min_step, args.noise_multiple)
        h = history.build([load(path) for path in args.results], args.group_by, detector,
                          args.git)
        files = {"history.json": history_render.render_json(h).encode("utf-8"),
                 "history.md": history_render.render_md(h).encode("utf-8"),
                 "history.html": history_render.render_html(
                     h, history_render.plots(h)).encode("utf-8")}
        atomic.write_dir(args.output, files, stale=OUTPUTS)
    except (ResultsError, history.HistoryError) as e:
        refuse(PROG, e)
        return 2
    except OSError as e:
        refuse(PROG, f"cannot write {args.output}: {e.strerror or e}")
        return 2
    print(f"{PROG}: wrote {os.path.join(args.output, 'history.html')}, history.json and "
          f"history.md: {len(h.machines)} machine line(s), {len(h.revision_order)} "
          f"revision(s), {len(h.steps())} change point(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
