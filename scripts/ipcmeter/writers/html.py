"""The report as one self-contained HTML page: plots embedded, nothing fetched."""

from __future__ import annotations

import base64
import html

from ..plots import MODULES, PLOTS
from .placement import placement_table
from .load import load_table
from .tables import (FAMILY_TITLES, environment_rows, families, family_table, noisy_lines,
                     sections, where_time_sections)

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5em auto;max-width:1200px;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.5em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.5em 0;font-size:.85em;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.err{color:#a40}td.noisy{background:#fff4d6}
.note{color:#666;font-style:italic}.warn{background:#fff4d6;padding:.4em .6em;border-left:4px solid #e0a000}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#444}li{margin:.2em 0}
"""


def _html_table(rows) -> str:
    out = ["<table><thead><tr>"]
    out += [f"<th>{html.escape(c)}</th>" for c in rows[0]]
    out.append("</tr></thead><tbody>")
    for row in rows[1:]:
        out.append("<tr>")
        for i, c in enumerate(row):
            if i == 0:
                out.append(f"<th>{html.escape(c)}</th>")
                continue
            cls = " class=\"err\"" if c.startswith("cannot run") else (
                " class=\"noisy\"" if "noisy" in c.lower() else "")
            out.append(f"<td{cls}>{html.escape(c)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def render_html(results, labels, recs, plots, skipped) -> str:
    title = "ipcmeter report — " + ", ".join(labels[r.path] for r in results)
    h = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
         f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
         f"<h1>{html.escape(title)}</h1>",
         "<h2>Environment</h2>", _html_table(environment_rows(results))]
    noisy = noisy_lines(results, labels)
    if noisy:
        h.append("<div class=\"warn\"><b>Noisy results</b><ul>" +
                 "".join(f"<li>{html.escape(x)}</li>" for x in noisy) + "</ul></div>")
    for title_, items in sections(results, recs, labels):
        h.append(f"<h2>{html.escape(title_)}</h2>")
        for kind, payload in items:
            if kind == "sub":
                h.append(f"<h3>{html.escape(payload)}</h3>")
            elif kind == "list":
                h.append("<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in payload) + "</ul>")
            elif kind == "warn":
                h.append(f"<p class=\"warn\">{html.escape(payload)}</p>")
            else:
                h.append(f"<p class=\"note\">{html.escape(payload)}</p>")
    for title_, caption, rows, notes in where_time_sections(results, labels):
        h.append(f"<h2>{html.escape(title_)}</h2>"
                 f"<p class=\"note\">{html.escape(caption)}</p>{_html_table(rows)}")
        if notes:
            h.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    h.append("<h2>Plots</h2>")
    for name in PLOTS:
        heading, caption = MODULES[name].TITLE, MODULES[name].CAPTION
        if name in plots:
            data = base64.b64encode(plots[name]).decode("ascii")
            h.append(f"<figure id=\"{name}\"><h3>{html.escape(heading)}</h3>"
                     f"<img alt=\"{html.escape(heading)}\" src=\"data:image/png;base64,{data}\">"
                     f"<figcaption>{html.escape(caption)} ({name}.png)</figcaption></figure>")
        else:
            h.append(f"<h3>{html.escape(heading)}</h3><p class=\"note\">{html.escape(skipped[name])}</p>")
    for r in results:
        rows = placement_table(r)
        if rows:
            h.append(f"<h2>Where the two sides run — {html.escape(labels[r.path])}</h2>{_html_table(rows)}")
    for r in results:
        rows = load_table(r)
        if rows:
            h.append(f"<h2>Latency under load — {html.escape(labels[r.path])}</h2>{_html_table(rows)}")
    h.append("<h2>All results</h2><p class=\"note\">Medians over repetitions; "
             "“cannot run” rows are combinations that were listed but could not be measured.</p>")
    for family in families(results):
        rows = family_table(results, family)
        if rows:
            h.append(f"<h3>{html.escape(FAMILY_TITLES.get(family, family))}</h3>{_html_table(rows)}")
    h.append("</body></html>\n")
    return "\n".join(h)
