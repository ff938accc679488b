"""The ipcmeter scripts' shared code: one loader, one name parser, one atomic writer.

The commands in scripts/ (report.py, compare.py, ab.py, gate_trials.py) are thin CLIs over
these modules; none of them is a command itself.

  schema        facts about the binary and its results format: families and their keys,
                primary metrics, which metrics are higher-is-better, peer kinds. The one
                module to change when these come from `ipcmeter --describe` instead.
  names         benchmark name <-> family and parameters (the one parser of names).
  results       the loader: a results file becomes Results and Records, or a ResultsError.
  atomic        writing outputs whole or not at all (files, JSON, a report directory).
  cli           the suite's rule for bad command lines (one line on stderr, exit 2).
  gate_stats    the gate's statistics (paired t, Mann-Whitney, Benjamini-Hochberg).
  gate, gate_render     compare.py's judgement, and its text, Markdown and JSON.
  ab_rounds, trials     ab.py's ABBA rounds and merged files; gate_trials.py's summaries.
  rules         when the report may recommend: repetitions -> a verdict in words.
  points, fmt, recommend    the report's view of a run, its number formats, its advice.
  where_time    the report's "Where the time goes": latency next to the kernel's counts.
  guide, guide_page    the decision guide: a case in, the measured options that meet it ranked
                and why each other fails out (report.py --guide); its HTML fragment and
                Markdown (guide.js: the page's copy of the rules).
  plots/        one module per plot, registered in plots.PLOTS.
  style         each transport's, channel's and wait's colour, marker and line style, once.
  interactive   the plots' panels read off their figures as the HTML's Chart.js charts.
  writers/      the report's HTML page and Markdown summary over shared tables.
"""
