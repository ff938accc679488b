"""What the HTML and Markdown writers both show: the environment table, one table of
results per family, the recommendation as sections, the noise warnings and the labels
that tell several results files apart."""

from __future__ import annotations

import os

from ..fmt import fmt_metric, fmt_size
from ..points import points
from ..results import NOISY_CV, NOISY_DRIFT
from ..where_time import where_time_goes


def _scalar(v) -> str:
    if v is None:
        return "unknown"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_scalar(x)}" for k, x in v.items()) or "none"
    if isinstance(v, list):
        return "; ".join(_scalar(x) for x in v) or "none"
    return f"{v:g}" if isinstance(v, float) else str(v)


ENV_KEYS = ("cpu_model", "cpu_signature", "microcode", "logical_cpus", "physical_cores", "smt",
            "numa_nodes", "kernel", "virtualization", "governor", "cpuidle", "turbo",
            "mitigations", "thp", "clocksource", "compiler", "cxx_flags", "build_type",
            "git_revision", "commit_date")


def environment_rows(results) -> list[list[str]]:
    rows = [["file"] + [os.path.basename(r.path) for r in results],
            ["host"] + [r.host for r in results],
            ["date"] + [r.date or "unknown" for r in results],
            ["profile"] + [r.profile or "unknown" for r in results]]
    keys = list(ENV_KEYS) + [k for r in results for k in r.env if k not in ENV_KEYS and k != "hostname"]
    for key in dict.fromkeys(keys):
        rows.append([key] + [_scalar(r.env.get(key)) for r in results])
    floor_keys = dict.fromkeys(k for r in results for k in list(r.floors) + list(r.floors_end))
    for key in floor_keys:
        cells = []
        for r in results:
            start, end = r.floors.get(key), r.floors_end.get(key)
            if isinstance(start, dict) or isinstance(end, dict):
                cells.append("start: " + _by_size(start) + " / end: " + _by_size(end))
                continue
            drift = r.floor_drift().get(key)
            cell = f"{_scalar(start)} → {_scalar(end)}"
            if drift is not None:
                cell += f" ({drift * 100:+.0f}%{', drifted' if abs(drift) > NOISY_DRIFT else ''})"
            cells.append(cell)
        rows.append([f"floor {key} (start → end)"] + cells)
    rows.append(["placement"] + [_scalar(r.placement) if r.placement else "unknown" for r in results])
    rows.append(["transports"] + [", ".join(f"{t} ({r.transport_kind(t) or 'kind unknown'})"
                                            for t in r.transports) or "unknown" for r in results])
    rows.append(["warnings"] + [_scalar(r.warnings) for r in results])
    verdicts = []
    for r in results:
        why = r.noisy()
        n = len(r.noisy_benchmarks())
        if n:
            why.append(f"{n} benchmark(s) with repetition cv > {NOISY_CV * 100:.0f}%")
        verdicts.append("NOISY: " + "; ".join(why) if why else "quiet")
    rows.append(["noise"] + verdicts)
    return rows


def _by_size(d) -> str:
    if not isinstance(d, dict) or not d:
        return "none"
    out = []
    for k, v in d.items():
        try:
            out.append(f"{fmt_size(int(k))}: {_scalar(v)}")
        except ValueError:
            out.append(f"{k}: {_scalar(v)}")
    return ", ".join(out)


def family_table(results, family) -> list[list[str]] | None:
    """Header plus one row per benchmark, a column per (file, primary metric)."""
    per_file = [{p.base: p for p in points(r, family)} for r in results]
    bases = list(dict.fromkeys(b for pf in per_file for b in pf))
    if not bases:
        return None
    primary = list(dict.fromkeys(m for r in results for m in r.schema.primary.get(family, ())))
    metrics = primary or sorted(
        {m for pf in per_file for p in pf.values() for m in p.metrics})[:3]
    many = len(results) > 1
    header = ["benchmark"] + [m + (f" · {r.host}" if many else "") for r in results for m in metrics]
    rows = [header]
    for base in bases:
        row = [base.split("/", 1)[1] if "/" in base else base]
        for pf in per_file:
            p = pf.get(base)
            for m in metrics:
                if p is None:
                    row.append("—")
                elif p.error is not None:
                    row.append(f"cannot run: {p.error}")
                elif m in p.metrics:
                    row.append(fmt_metric(m, p.metrics[m]) + (f" ⚠ noisy (cv {p.cv * 100:.0f}%)" if p.cv else ""))
                else:
                    row.append("—")
        rows.append(row)
    return rows


FAMILY_TITLES = {"floor": "Floors", "pingpong": "Ping-pong (round trip)",
                 "stream": "Stream (one way)", "placement": "Placement (where the two sides run)",
                 "fanin": "Fan-in", "spawn": "Worker start",
                 "compute": "Compute scaling", "pool": "Pools", "sync": "Synchronisation",
                 "state": "Shared state", "load": "Load (latency vs offered rate)"}


def sections(results, recs, labels):
    """The findings as (title, [(kind, payload)]) shared by the HTML and Markdown writers."""
    out = []
    for r in results:
        rec = recs[r.path]
        items = []
        for band in rec["bands"]:
            claims = [c["text"] for c in band["claims"]]
            items.append(("sub", f"{band['band'].capitalize()} messages ({band['bounds']})"))
            items.append(("list", claims or ["no measurement in this band"]))
        if rec["spawn"]:
            items.append(("sub", "fork vs spawn"))
            items.append(("list", [c["text"] for c in rec["spawn"]]))
        if rec["scaling"]:
            items.append(("sub", "Processes vs threads"))
            items.append(("list", [c["text"] for c in rec["scaling"]]))
        if rec["pool"]:
            items.append(("sub", "Pools"))
            items.append(("list", [c["text"] for c in rec["pool"]]))
        absent = [f for f in r.schema.family_order if f != "floor" and not any(p.error is None for p in points(r, f))]
        if absent:
            items.append(("note", "No usable results for: " + ", ".join(absent) +
                          " (not in the file or every combination errored); their advice is skipped."))
        if r.noisy() or r.noisy_benchmarks():
            items.append(("warn", "This run is noisy (see Environment): treat small differences with care."))
        out.append((f"Recommendation — {labels[r.path]}", items))
    return out


def where_time_sections(results, labels):
    """"Where the time goes" per file as (title, caption, rows, notes); files without usable
    pingpong rows are left out."""
    out = []
    for r in results:
        view = where_time_goes(r)
        if view is None:
            continue
        caption, rows, notes = view
        title = "Where the time goes" + (f" — {labels[r.path]}" if len(results) > 1 else "")
        out.append((title, caption, rows, notes))
    return out


def short_labels(results) -> dict:
    """Compact per-file labels for plot titles: host and day, numbered if repeated."""
    base = {r.path: f"{r.host} {r.date[:10]}".strip() for r in results}
    if len(set(base.values())) == len(base):
        return base
    return {r.path: f"{base[r.path]} #{i + 1}" for i, r in enumerate(results)}


def labels_for(results) -> dict:
    labels = {}
    counts: dict = {}
    for r in results:
        counts[r.label] = counts.get(r.label, 0) + 1
    for r in results:
        labels[r.path] = r.label if counts[r.label] == 1 else f"{r.label} ({os.path.basename(r.path)})"
    return labels


def families(results):
    known = list(dict.fromkeys(f for r in results for f in r.schema.family_order))
    found = dict.fromkeys(f for r in results for f in r.families())
    return [f for f in known if f in found] + [f for f in found if f not in known]


def noisy_lines(results, labels):
    out = []
    for r in results:
        for why in r.noisy():
            out.append(f"{labels[r.path]}: {why}")
        for base, cv in r.noisy_benchmarks().items():
            out.append(f"{labels[r.path]}: {base} varies {cv * 100:.0f}% between repetitions (cv)")
    return out
