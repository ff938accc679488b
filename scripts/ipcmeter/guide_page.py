"""The decision guide on the report's pages: guide_html() for report.html, guide_markdown() for
summary.md. The rules and their words are guide.py's; this module lays them out.

guide_html() is a self-contained fragment (no network, no library): the preset cases rendered
here, a form, the options as JSON and guide.js, which re-ranks them client-side for the user's
own case by the same rules. guide.py is the reference: every comparison the script may need is
computed here (guide.precompute_relations), and the script checks its own answers for the
presets against the ones rendered here before it shows anything, saying on the console and on
the page if they differ (tests/scripts/test_guide.py runs it under node and in Chromium).
"""

from __future__ import annotations

import html
import json
import os

from . import rules as rc
from .guide import (LANGS, NO_PYTHON, PEERS, PRESETS, SPIN_CORES, case_text, evaluate,
                    options_data, outcome, parse_case, precompute_relations, render_text,
                    tie_text)

def guide_markdown(results) -> str:
    """The preset cases as text, for summary.md."""
    out = ["## Decision guide", "",
           "The measured options for three common cases (`scripts/report.py RESULTS --guide "
           "size=…,rate=…` answers your own).", ""]
    for r in results:
        data = options_data(r)
        for title, text in PRESETS:
            out += [f"### {title} (`{text}`)", "", "```", render_text(data, parse_case(text)).rstrip(),
                    "```", ""]
    return "\n".join(out)


def guide_html(results) -> str:
    """A self-contained HTML fragment: the preset cases rendered here, a form, and a script
    that re-ranks the embedded options for the user's own case (GUIDE_JS, same rules)."""
    files = []
    for r in results:
        data = options_data(r)
        precompute_relations(data)
        presets = []
        for title, text in PRESETS:
            case = parse_case(text)
            res = evaluate(data, case)
            presets.append({"title": title, "text": text, "case": case, "outcome": outcome(res),
                            "html": render_html_result(data, case, res)})
        files.append({"data": data, "presets": presets})
    payload = json.dumps({"files": files, "no_python": NO_PYTHON, "decide_hint": rc.DECIDE_HINT,
                          "spin_cores": SPIN_CORES, "min_reps": rc.MIN_REPETITIONS,
                          "equivalence": rc.EQUIVALENCE}, separators=(",", ":"))
    payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    first = PRESETS[0][1]
    case0 = parse_case(first)
    buttons = "".join(f'<button type="button" data-case="{html.escape(t)}">{html.escape(n)}</button> '
                      for n, t in PRESETS)
    static = "".join(f"<div class=\"ipcm-guide-file\">{f['presets'][0]['html']}</div>" for f in files)
    noscript = "".join(f"<h4>{html.escape(p['title'])} ({html.escape(p['text'])})</h4>{p['html']}"
                       for f in files for p in f["presets"][1:])
    return (
        '<section id="ipcm-guide"><h2>Decision guide</h2>'
        '<p class="note">State your case; the options measured on this machine that meet it are '
        'ranked, with each figure\'s median, range and n, and every other option says why it '
        'fails. Options whose difference is within the measured noise share a rank. Empty p99 or '
        'cpu: no budget, no limit. rate: messages/s or max.</p>'
        f'<form id="ipcm-guide-form" onsubmit="return false">{buttons}<br>'
        + _field("size", case0["size"]) + _field("rate", case0["rate"])
        + _field("p99_us", case0["p99_us"]) + _field("cpu", case0["cpu"])
        + _select("peer", PEERS, case0["peer"]) + _select("lang", LANGS, case0["lang"])
        + '</form><p id="ipcm-guide-error" class="warn" hidden></p>'
        f'<div id="ipcm-guide-out">{static}</div>'
        f'<noscript><h3>More cases</h3>{noscript}</noscript>'
        f'<script type="application/json" id="ipcm-guide-data">{payload}</script>'
        f"<script>{GUIDE_JS}</script></section>")


def _field(key, value) -> str:
    shown = "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
    return f'<label>{key} <input name="{key}" value="{html.escape(shown)}" size="8"></label> '


def _select(key, values, current) -> str:
    return (f'<label>{key} <select name="{key}">'
            + "".join(f'<option{" selected" if v == current else ""}>{v}</option>' for v in values)
            + "</select></label> ")


def render_html_result(data, case, result) -> str:
    by_id = {o["id"]: o for o in data["options"]}
    esc = html.escape
    h = [f"<h3>{esc(data['machine'])} ({esc(data['label'])})</h3>",
         f"<p>Case: {esc(case_text(case))}.</p>"]
    if result["groups"]:
        h.append("<ol class=\"ipcm-guide-ranks\">")
        for g in result["groups"]:
            tied = len(g["ids"]) > 1
            h.append("<li>" + (f"<i>{esc(tie_text(data, g, case))}</i>"
                               if tied else ""))
            h.append("<ul>" + "".join(f"<li><b>{esc(by_id[i]['label'])}</b>: "
                                      f"{esc('; '.join(result['shown'][i]))}</li>" for i in g["ids"])
                     + "</ul></li>")
        h.append("</ol>")
    else:
        h.append("<p><b>Nothing measured meets the case.</b></p>")
    if result["failed"]:
        h.append("<details><summary>Fails the case (" + str(len(result["failed"])) + ")</summary><ul>"
                 + "".join(f"<li>{esc(by_id[f['id']]['label'])}: "
                           f"{esc('; '.join(r[1] for r in f['reasons']))}</li>" for f in result["failed"])
                 + "</ul></details>")
    for _, text in result["notes"]:
        h.append(f"<p class=\"note\">{esc(text)}</p>")
    return "".join(h)


with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "guide.js"),
          encoding="utf-8") as _f:
    GUIDE_JS = _f.read()
