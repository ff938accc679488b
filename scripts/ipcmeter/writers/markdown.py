"""The report as Markdown (summary.md): the same findings, plots named by file."""

from __future__ import annotations

from .. import guide_page
from ..plots import MODULES, PLOTS
from .placement import placement_table
from .load import load_table
from .tables import (FAMILY_TITLES, environment_rows, families, family_table, noisy_lines,
                     sections, where_time_sections)


def _md_cell(c: str) -> str:
    return c.replace("|", "\\|").replace("\n", " ")


def _md_table(rows) -> str:
    lines = ["| " + " | ".join(_md_cell(c) for c in rows[0]) + " |",
             "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def _cpython_md(py) -> list[str]:
    md = [f"- Interpreter {x}" for x in py["interpreters"]] or ["- No ipcmeter.python in the file."]
    md += ["", "### The Python tax", ""]
    md += [_md_table(py["tax"]), ""] if py["tax"] else ["No Python row that ran has a native family to weigh it against.", ""]
    md += [f"- {n}" for n in py["notes"]] + [""]
    for question, lines in py["answers"]:
        md += [f"### {question}", ""] + [f"- {x}" for x in lines] + [""]
    if py["errors"]:
        md += ["### Python rows that cannot run", ""] + [f"- {_md_cell(x)}" for x in py["errors"]] + [""]
    return md


def render_md(results, labels, recs, plots, skipped) -> str:
    title = "ipcmeter report — " + ", ".join(labels[r.path] for r in results)
    # The answer first (the decision guide), the environment last.
    md = [f"# {title}", ""]
    noisy = noisy_lines(results, labels)
    if noisy:
        md += ["**Noisy results**", ""] + [f"- ⚠ {x}" for x in noisy] + [""]
    md += [guide_page.guide_markdown(results), ""]
    for title_, items in sections(results, recs, labels):
        md += [f"## {title_}", ""]
        for kind, payload in items:
            if kind == "sub":
                md += [f"### {payload}", ""]
            elif kind == "list":
                md += [f"- {x}" for x in payload] + [""]
            elif kind == "warn":
                md += [f"> ⚠ {payload}", ""]
            else:
                md += [f"_{payload}_", ""]
    for title_, caption, rows, notes in where_time_sections(results, labels):
        md += [f"## {title_}", "", f"_{caption}_", "", _md_table(rows), ""]
        md += [f"- {n}" for n in notes] + ([""] if notes else [])
    md += ["## Plots", ""]
    for name in PLOTS:
        heading = MODULES[name].TITLE
        md.append(f"- {heading}: `{name}.png`" if name in plots else f"- {heading}: {skipped[name]}")
    for r in results:
        rows = placement_table(r)
        if rows:
            md += ["", f"## Where the two sides run — {labels[r.path]}", "", _md_table(rows)]
    for r in results:
        rows = load_table(r)
        if rows:
            md += ["", f"## Latency under load — {labels[r.path]}", "", _md_table(rows)]
    for r in results:
        py = recs[r.path].get("python")
        if py:
            md += ["", f"## CPython — {labels[r.path]}", ""] + _cpython_md(py)
    md += ["", "## All results", ""]
    for family in families(results):
        rows = family_table(results, family)
        if rows:
            md += [f"### {FAMILY_TITLES.get(family, family)}", "", _md_table(rows), ""]
    md += ["## Environment", "", _md_table(environment_rows(results)), ""]
    return "\n".join(md) + "\n"
