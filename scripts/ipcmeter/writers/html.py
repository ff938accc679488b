"""The report as one self-contained HTML page: the answer first (the decision guide, then the
recommendations), the plots as interactive charts over the static PNGs, the tables, the
environment last. Nothing is fetched: the charting library is Debian's Chart.js, inlined."""

from __future__ import annotations

import base64
import html
import json
import os

from .. import guide_page
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
details.env>summary,details.png>summary{cursor:pointer;color:#444}
.charts{display:flex;flex-wrap:wrap;gap:1em}
.chart{flex:1 1 520px;min-width:420px;border:1px solid #eee;padding:.3em}
.chart .box{position:relative;height:400px}.chart button{font-size:.8em}
.chart.failed{display:none}
"""

# Debian's libjs-chart.js (Chart.js 3.9), read at report time and written into the page.
CHARTJS = "/usr/share/javascript/chart.js/chart.min.js"

# Runs first: keeps every error and console.error/warn of the page, so the page can say it
# (and the browser test read it) in <body data-console-errors>.
ERRORS_JS = """window.ipcmErrors=[];
window.addEventListener('error',function(e){ipcmErrors.push('error: '+e.message);});
['error','warn'].forEach(function(k){var f=console[k];console[k]=function(){
ipcmErrors.push(k+': '+Array.prototype.join.call(arguments,' '));return f.apply(console,arguments);};});"""

# Draws each <div class="chart" data-chart=ID> from the JSON in #ipcm-charts (the panels of
# ipcmeter/interactive.py), then marks it data-rendered="N points" and data-ink (canvas pixels
# drawn); a chart that fails is hidden and its plot's PNG stays open.
CHARTS_JS = r"""(function(){
var specs=JSON.parse(document.getElementById('ipcm-charts').textContent);
function eng(v){if(v===null||v===undefined)return'';var a=Math.abs(v);
 if(a>=1e9)return(v/1e9).toPrecision(3)+'G';if(a>=1e6)return(v/1e6).toPrecision(3)+'M';
 if(a>=1e3)return(v/1e3).toPrecision(3)+'k';return a>=1||a===0?String(+v.toPrecision(3)):v.toPrecision(3);}
function tick(v){if(this.type!=='logarithmic'||v<=0)return eng(v);
 var m=Math.round(v/Math.pow(10,Math.floor(Math.log10(v)+1e-9))*100)/100;
 return m===1||m===2||m===5?eng(v):'';}
function fill(c,f){return f==='none'?'#ffffff':f==='full'?c:c+'66';}
function scale(kind,spec,axis){var s={title:{display:true,text:spec[axis+'label']||''},
 type:spec[axis+'scale']==='log'?'logarithmic':'linear',ticks:{callback:tick}};
 if(axis==='x'&&kind==='bar'){s.type='category';s.ticks={autoSkip:false,maxRotation:40};}
 var t=axis==='x'&&spec.xticks;
 if(t){var names={};t.forEach(function(p){names[p[0]]=p[1];});
  s.afterBuildTicks=function(ax){ax.ticks=t.map(function(p){return{value:p[0]};});};
  s.ticks={autoSkip:false,callback:function(v){return v in names?names[v]:eng(v);}};}
 return s;}
function datasets(spec){if(spec.kind==='bar')return spec.datasets.map(function(d){return{
 label:d.label,data:d.values.map(function(v){return v[0];}),meta:d.values.map(function(v){return v[1];}),
 errors:d.errors||[],backgroundColor:d.color,borderColor:d.color};});
 return spec.datasets.map(function(d){var ref=!!d.ref;return{label:d.label,isRef:ref,
  data:d.points.map(function(p){return{x:p[0],y:p[1],meta:p[2]||null};}),
  borderColor:d.color,backgroundColor:ref?d.color:fill(d.color,d.fill),showLine:ref||!!d.line,
  borderDash:d.dash||[],borderWidth:ref?1:1.6,pointStyle:ref?'line':d.marker,
  rotation:d.rotation||0,pointRadius:ref?0:4,pointHoverRadius:ref?0:7,pointBorderWidth:1.4};});}
// A combination that cannot run is a cross at the foot of its bar's place, as in the PNG.
var crosses={id:'crosses',afterDatasetsDraw:function(chart){var c=chart.ctx,a=chart.chartArea;
 chart.data.datasets.forEach(function(d,i){var m=chart.getDatasetMeta(i);if(m.hidden||!d.errors)return;
  d.errors.forEach(function(e,j){if(!e||!m.data[j])return;c.save();c.fillStyle=d.borderColor;
   c.font='bold 16px sans-serif';c.textAlign='center';c.fillText('\u00d7',m.data[j].x,a.bottom-4);c.restore();});});}};
function points(cfg){var n=0;cfg.data.datasets.forEach(function(d){if(d.isRef)return;
 d.data.forEach(function(p){var y=(p&&typeof p==='object')?p.y:p;if(y!==null&&y!==undefined)n++;});});return n;}
function ink(canvas){var c=canvas.getContext('2d'),d=c.getImageData(0,0,canvas.width,canvas.height).data,n=0;
 for(var i=3;i<d.length;i+=4)if(d[i])n++;return n;}
function draw(box,spec){var canvas=box.querySelector('canvas');
 var cfg={type:spec.kind==='bar'?'bar':'scatter',data:{datasets:datasets(spec)},
 options:{animation:false,responsive:true,maintainAspectRatio:false,
  interaction:{mode:'nearest',intersect:true},
  scales:{x:scale(spec.kind,spec,'x'),y:scale(spec.kind,spec,'y')},
  plugins:{title:{display:true,text:String(spec.title||'').split('\n')},
   legend:{position:'bottom',labels:{usePointStyle:true,boxWidth:8,font:{size:11}}},
   tooltip:{filter:function(it){return !it.dataset.isRef;},callbacks:{
    label:function(it){return it.dataset.label+': '+eng(it.parsed.y);},
    afterLabel:function(it){var m=spec.kind==='bar'?it.dataset.meta[it.dataIndex]:(it.raw&&it.raw.meta);
     if(!m)return'';return[m.row].concat(m.values.map(function(v){return v[0]+' = '+v[1];}));}}}}}};
 if(spec.kind==='bar'){cfg.data.labels=spec.groups;cfg.plugins=[crosses];}
 var chart=new Chart(canvas,cfg);
 var b=box.querySelector('button.scale');
 b.textContent='y axis: '+(spec.yscale==='log'?'log':'linear')+' (switch)';
 b.addEventListener('click',function(){var y=chart.options.scales.y;
  y.type=y.type==='logarithmic'?'linear':'logarithmic';
  b.textContent='y axis: '+(y.type==='logarithmic'?'log':'linear')+' (switch)';chart.update();});
 box.dataset.rendered=points(cfg)+' points';box.dataset.ink=String(ink(canvas));}
var ok=0,bad=0;
document.querySelectorAll('.chart[data-chart]').forEach(function(box){
 try{draw(box,specs[box.dataset.chart]);ok++;}
 catch(e){bad++;box.classList.add('failed');box.dataset.rendered='failed: '+e;
  console.error('chart '+box.dataset.chart+': '+e);
  var d=document.getElementById(box.dataset.png);if(d)d.open=true;}});
document.querySelectorAll('details.png').forEach(function(d){
 if(!d.parentNode.querySelector('.chart.failed'))d.open=false;});
document.body.dataset.charts=ok+' rendered, '+bad+' failed';
document.body.dataset.consoleErrors=JSON.stringify(window.ipcmErrors);
})();"""


def _chartjs() -> tuple[str | None, str]:
    """(Chart.js source, None) or (None, why the page falls back to the static images)."""
    try:
        with open(CHARTJS, encoding="utf-8") as f:
            src = f.read()
    except OSError as e:
        return None, (f"{CHARTJS} cannot be read ({e.strerror or e}); install Debian's "
                      "libjs-chart.js for interactive charts")
    if "</script" in src.lower() or "<!--" in src:
        return None, f"{CHARTJS} cannot be inlined (it contains </script or <!--)"
    return src, ""


def _guide_html(results) -> str:
    """The decision guide (guide_page.py): the answer first."""
    return guide_page.guide_html(results)


def _json_for_script(data) -> str:
    """JSON safe inside <script>: no '<' can end the element or open a comment."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")



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




def _plot_html(name, png, specs, lib_ok) -> str:
    """One plot: its panels as interactive charts over the PNG, which stays for readers
    without JavaScript (open until the charts have drawn) and for saving."""
    heading, caption = MODULES[name].TITLE, MODULES[name].CAPTION
    img = (f"<img alt=\"{html.escape(heading)}\" "
           f"src=\"data:image/png;base64,{base64.b64encode(png).decode('ascii')}\">")
    out = [f"<figure id=\"{name}\"><h3>{html.escape(heading)}</h3>"
           f"<figcaption>{html.escape(caption)}</figcaption>"]
    if lib_ok and specs:
        out.append("<div class=\"charts\">")
        for i, _ in enumerate(specs):
            out.append(f"<div class=\"chart\" data-chart=\"{name}-{i}\" data-png=\"png-{name}\">"
                       "<button class=\"scale\" type=\"button\">y axis</button>"
                       "<div class=\"box\"><canvas></canvas></div></div>")
        out.append("</div>")
        out.append(f"<details class=\"png\" id=\"png-{name}\" open><summary>Static image "
                   f"({name}.png)</summary>{img}</details>")
    else:
        out.append(f"{img}<p class=\"note\">({name}.png)</p>")
    out.append("</figure>")
    return "".join(out)


def _list(items) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in items) + "</ul>"


def _cpython_html(py) -> str:
    h = [_list(f"Interpreter {x}" for x in py["interpreters"]) if py["interpreters"]
         else "<p class=\"note\">No ipcmeter.python in the file.</p>", "<h3>The Python tax</h3>"]
    h.append(_html_table(py["tax"]) if py["tax"] else
             "<p class=\"note\">No Python row that ran has a native family to weigh it against.</p>")
    h.append("".join(f"<p class=\"note\">{html.escape(n)}</p>" for n in py["notes"]))
    for question, lines in py["answers"]:
        h.append(f"<h3>{html.escape(question)}</h3>{_list(lines)}")
    if py["errors"]:
        h.append(f"<h3>Python rows that cannot run</h3>{_list(py['errors'])}")
    return "".join(h)


def render_html(results, labels, recs, plots, skipped, charts=None) -> str:
    """The page; `charts`: plot name -> its interactive panels (plots.make_plots), none for a
    page of static images only."""
    charts = charts or {}
    title = "ipcmeter report — " + ", ".join(labels[r.path] for r in results)
    lib, why_static = _chartjs() if charts else (None, "")
    h = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
         f"<title>{html.escape(title)}</title><style>{CSS}</style>",
         "<noscript><style>.charts{display:none}</style></noscript>"]
    if lib:
        h.append(f"<script>{ERRORS_JS}</script>")
    h += ["</head><body>", f"<h1>{html.escape(title)}</h1>"]
    # The answer first: the decision guide (guide.py, another part of issue 17), then the
    # recommendations and where the time goes, then the plots and tables, the environment last.
    h.append(_guide_html(results))
    noisy = noisy_lines(results, labels)
    if noisy:
        h.append("<div class=\"warn\"><b>Noisy results</b> (see Environment, at the end)<ul>" +
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
    if lib:
        h.append("<p class=\"note\">Hover over a point for its row, p50 and p99; click a legend "
                 "entry to hide its series; each chart's button switches its y axis between "
                 "log and linear. The static image of each plot is under it.</p>")
    elif why_static:
        h.append(f"<p class=\"warn\">Static images only: {html.escape(why_static)}.</p>")
    specs = {}
    for name in PLOTS:
        if name in plots:
            mine = charts.get(name) or []
            specs.update({f"{name}-{i}": spec for i, spec in enumerate(mine)})
            h.append(_plot_html(name, plots[name], mine, bool(lib)))
        else:
            heading = MODULES[name].TITLE
            h.append(f"<h3>{html.escape(heading)}</h3><p class=\"note\">{html.escape(skipped[name])}</p>")
    for r in results:
        rows = placement_table(r)
        if rows:
            h.append(f"<h2>Where the two sides run — {html.escape(labels[r.path])}</h2>{_html_table(rows)}")
    for r in results:
        rows = load_table(r)
        if rows:
            h.append(f"<h2>Latency under load — {html.escape(labels[r.path])}</h2>{_html_table(rows)}")
    for r in results:
        py = recs[r.path].get("python")
        if py:
            h.append(f"<h2>CPython — {html.escape(labels[r.path])}</h2>{_cpython_html(py)}")
    h.append("<h2>All results</h2><p class=\"note\">Medians over repetitions; "
             "“cannot run” rows are combinations that were listed but could not be measured.</p>")
    for family in families(results):
        rows = family_table(results, family)
        if rows:
            h.append(f"<h3>{html.escape(FAMILY_TITLES.get(family, family))}</h3>{_html_table(rows)}")
    h.append("<h2 id=\"environment\">Environment</h2><details class=\"env\"><summary>Machine, "
             "build, floors and noise of each run</summary>"
             f"{_html_table(environment_rows(results))}</details>")
    if lib:
        h.append(f"<script id=\"chartjs-lib\">{lib}</script>")
        h.append(f"<script type=\"application/json\" id=\"ipcm-charts\">{_json_for_script(specs)}</script>")
        h.append(f"<script>{CHARTS_JS}</script>")
    h.append("</body></html>\n")
    return "\n".join(h)
