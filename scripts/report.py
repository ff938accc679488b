#!/usr/bin/python3
"""Turn ipcmeter results into plots, a self-contained HTML report and a Markdown summary.

Writes DIR/report.html (one file, plots embedded, opens offline), DIR/summary.md
(the same findings for a PR comment or a wiki) and each plot as DIR/<name>.png.
Several result files (other machines, or one machine at other times) give one
report comparing them side by side, each labelled by host and date.

The recommendation is computed from the measured numbers and quotes them: per
message-size band (small <= 1 KiB, medium <= 64 KiB, large) the lowest-latency
option, the cheapest in CPU, the highest throughput and the queue / pipe /
shared-memory verdict; fork vs spawn at your memory size (--rss-mib); whether
processes or threads scale better; the cheapest pool per task size.

A file with CPython rows (py_*) gets a "CPython" section: its interpreters (ipcmeter.python),
each Python row beside its native analogue of the same run as "the Python tax" (×, with its
interval when both have repetitions; ipcmeter/cpython.py names the analogues), the tutorials'
questions answered by the same rule (Queue or Pipe; which start method at --rss-mib; threads
or processes for pure Python under the GIL; how many processes on these CPUs; which chunksize
makes Pool.map's overhead negligible), each saying which rows it needs when they are absent,
and the Python rows that could not run with their reasons.

It recommends only what the repetitions (--benchmark_repetitions) support: every
figure is the median with its range and n; an option is called better only when
the 95% interval of the ratio of medians excludes 1 and lies beyond +-5%, "no
measurable difference" otherwise; with fewer than 3 repetitions a comparison is
"inconclusive", with what would decide it. A speedup above min(workers, CPUs) is
reported as a measurement error, never as advice. Families absent from a file
are skipped with a note. Runs with warnings, floors drifting > 20% or
repetitions with cv > 10% are flagged noisy.

--guide CASE prints the decision guide for your case instead, as text on stdout, and
writes nothing: the measured options that meet the case, ranked by p99 at your rate (then
CPU per message; by throughput for rate=max), options within the measured noise sharing a
rank, and why each other option fails (too slow at that rate, p99 over budget, spins a
core, cannot cross processes, over the size limit, not measured at that size). CASE is
comma-separated key=value: size (bytes) and rate (messages/s, or max) are required;
p99_us (budget, µs; omitted: none), cpu (cores that may spin; 0: nothing may spin;
omitted: no limit), peer (thread | process | any; default any), lang (native | python |
any; default any). For example:
  report.py RESULT.json --guide size=64,rate=100000,p99_us=50,cpu=1

Exit status: 0 report written (or guide printed); 2 unusable input (one line on stderr,
nothing written in DIR).
"""

from __future__ import annotations

import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ipcmeter import atomic, schema  # noqa: E402
from ipcmeter.cli import ArgumentParser, add_ipcmeter_bin, refuse  # noqa: E402
from ipcmeter.guide import CaseError, guide_text, parse_case  # noqa: E402
from ipcmeter.plots import PLOTS, make_plots  # noqa: E402
from ipcmeter.recommend import recommend  # noqa: E402
from ipcmeter.results import Results, ResultsError, load  # noqa: E402
from ipcmeter.writers.html import render_html  # noqa: E402
from ipcmeter.writers.markdown import render_md  # noqa: E402
from ipcmeter.writers.tables import labels_for, short_labels  # noqa: E402

PROG = "report.py"


class UsageError(Exception):
    """Bad input or output location; str() is the one line to print."""


def load_all(paths) -> list[Results]:
    results = []
    for path in paths:
        r = load(path)
        benches = r.benchmarks()
        if not benches:
            raise UsageError(f"{path}: no benchmarks in the file")
        if r.all_errored():
            first = next(iter(r.errors().items()))
            raise UsageError(f"{path}: every benchmark errored, nothing to report "
                             f"(first: {first[0]}: {first[1]})")
        results.append(r)
    return results


def main(argv=None) -> int:
    ap = ArgumentParser(prog=PROG, description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", metavar="RESULT.json", help="ipcmeter results file(s)")
    ap.add_argument("-o", "--output", metavar="DIR",
                    help="output directory (created; existing report files in it are replaced); "
                         "required unless --guide")
    ap.add_argument("--guide", metavar="CASE",
                    help="print the decision guide for CASE on stdout instead of writing a report, "
                         "e.g. size=64,rate=100000,p99_us=50,cpu=1[,peer=thread|process|any]"
                         "[,lang=native|python|any]; rate may be max (see above)")
    ap.add_argument("--rss-mib", type=float, metavar="N",
                    help="your process's resident memory in MiB, for the fork vs spawn advice "
                         "(default: advice at every measured size)")
    add_ipcmeter_bin(ap)
    args = ap.parse_args(argv)
    if args.guide is not None and args.output is not None:
        ap.error("--guide prints the guide on stdout and writes no files: drop -o")
    if args.guide is None and args.output is None:
        ap.error("the following arguments are required: -o/--output (or --guide CASE)")
    schema.use_binary(args.ipcmeter_bin)
    if args.guide is not None:
        return print_guide(args)
    try:
        if args.rss_mib is not None and not (args.rss_mib > 0 and math.isfinite(args.rss_mib)):
            raise UsageError(f"--rss-mib {args.rss_mib:g}: must be a positive number of MiB")
        if os.path.exists(args.output) and not os.path.isdir(args.output):
            raise UsageError(f"{args.output}: exists and is not a directory")
        results = load_all(args.results)
        labels = labels_for(results)
        recs = {r.path: recommend(r, args.rss_mib) for r in results}
        charts: dict = {}
        plots, skipped = make_plots(results, short_labels(results), args.rss_mib, charts)
        files = {f"{name}.png": data for name, data in plots.items()}
        files["report.html"] = render_html(results, labels, recs, plots, skipped,
                                           charts).encode("utf-8")
        files["summary.md"] = render_md(results, labels, recs, plots, skipped).encode("utf-8")
        # Plots an earlier report wrote and this one skipped go, so DIR shows one report.
        atomic.write_dir(args.output, files, stale=[f"{name}.png" for name in PLOTS])
    except (ResultsError, UsageError) as e:
        refuse(PROG, e)
        return 2
    except OSError as e:
        refuse(PROG, f"cannot write {args.output}: {e.strerror or e}")
        return 2
    print(f"{PROG}: wrote {os.path.join(args.output, 'report.html')}, summary.md and "
          f"{len(plots)} plot(s)")
    return 0


def print_guide(args) -> int:
    try:
        case = parse_case(args.guide)
        text = guide_text(load_all(args.results), case)
    except (CaseError, ResultsError, UsageError) as e:
        refuse(PROG, e)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
