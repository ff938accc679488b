"""The ipcmeter scripts' shared code: one loader, one name parser, one atomic writer.

The commands in scripts/ (report.py, compare.py, ab.py, gate_trials.py) are thin CLIs over
these modules; none of them is a command itself.

  schema    facts about the binary and its results format: families and their keys,
            primary metrics, which metrics are higher-is-better. The one module to change
            when these come from `ipcmeter --describe` instead of lists kept here.
  names     benchmark name <-> family and parameters.
  results   the loader: a results file becomes Results and Records, or a ResultsError.
  atomic    writing outputs whole or not at all.
  cli       the suite's rule for bad command lines (one line on stderr, exit 2).
  gate_stats, rules     the statistics of the gate, and the report's rules of evidence.
  points, fmt, recommend    the report's view of a run, its number formats and advice.
  plots/, writers/          one module per plot; the HTML and Markdown writers.
  gate, gate_render         compare.py's judgement and its text, Markdown and JSON.
"""
