"""The report's decision guide: a user's case in, the measured options that meet it out.

A case is a message size, a rate (messages/s, or "max"), an optional p99 budget, the cores
the user lets spin, the peer (thread | process | any) and the language (native | python |
any). Every measured option (transport × peer × wait for native rows; channel × peer ×
interpreter for the py_* rows) either meets the case or fails it for reasons said in words
with the figure behind them:

  cannot_cross   a thread-only transport (transports table: crosses_processes) asked for
                 processes
  size_limit     the size is over the transport's max_msg_bytes, or its row was refused for
                 the size
  not_measured   nothing measured at the size or larger (the nearest measured size >= the
                 asked one is used, and said, whenever the asked size itself was not run)
  error          the row at that size errored for another reason (quoted)
  spins          wait:spin or hybrid busy-waits the receiver: a core, which cpu=0 forbids
  too_slow       its capacity at that size is below the rate: the highest offered rate its
                 load curve kept up with, else its one-way stream's messages/s, else its
                 round trips/s
  p99_over       its p99 is over the budget: at the rate, interpolated between the load rows
                 around it, else the unloaded round trip's (pingpong rtt_p99_ns)

The options that meet the case are ranked by p99 (then CPU per message), or by throughput
(then p99) for rate=max. A difference within the measured noise is never called: two
figures of the same kind at the same size are compared as rules.Comparison compares them
(the bootstrap interval of the ratio of medians, recommend.py's machinery); figures that are
not such a pair (interpolated on a load curve, or at different sizes) are told apart only
when each has MIN_REPETITIONS values, their ranges do not overlap and their medians differ
by more than rules.EQUIVALENCE. Options that cannot be told apart from the best of a rank
share that rank ("tied within noise").

This Python is the reference. guide_page.py lays the guide out for the report's pages: the
HTML fragment embeds these options as JSON, with every comparison the ranking can need
computed here (precompute_relations), and guide.js re-ranks them client-side with the same
rules, mirroring evaluate() step by step.
"""

from __future__ import annotations

import math
import re
import statistics

from . import results as ir
from . import rules as rc
from .fmt import _sig, fmt_ns, fmt_size
from .points import machine, option_label, points
from .recommend import values_at

KEYS = ("size", "rate", "p99_us", "cpu", "peer", "lang")
PEERS = ("thread", "process", "any")
LANGS = ("native", "python", "any")
SPIN_WAITS = ("spin", "hybrid")
# A one-way message stream has one side waiting for messages: the receiver. A spinning wait
# keeps that side's core busy whatever the rate (a sender that waits for replies spins a
# second one, as both sides of a pingpong row do).
SPIN_CORES = 1
# Load rows without a `saturated` counter count as saturated when they achieved less than
# this share of the offered rate.
KEPT_UP = 0.95
SIZE_REFUSAL = re.compile(r"(?i)\bsize\b.*\b(exceed|limit)|too (large|big|long)|does not fit|"
                          r"EMSGSIZE")

# Cases the page opens with, and the ones summary.md lists: (title, case text).
PRESETS = (("small messages, low rate", "size=64,rate=10000,p99_us=100,cpu=0"),
           ("64 KiB at 1 k/s", "size=65536,rate=1000,p99_us=1000,cpu=0"),
           ("max rate, cpu=1", "size=64,rate=max,cpu=1"))

NO_PYTHON = "no Python rows measured in this run"


class CaseError(Exception):
    """str() is the one line to print (what is wrong and where)."""


# ---------------------------------------------------------------- the case

def parse_case(text: str) -> dict:
    """"size=64,rate=100000,p99_us=50,cpu=1[,peer=…][,lang=…]" -> a case dict.

    size and rate are required; p99_us omitted is no latency budget, cpu omitted is no limit
    on spinning, peer and lang default to any."""
    case = {"size": None, "rate": None, "p99_us": None, "cpu": None, "peer": "any", "lang": "any"}
    seen = set()
    for i, item in enumerate(str(text).split(",")):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        where = f"--guide item {i + 1} ({item.strip() or 'empty'!r})"
        if not sep or not key:
            raise CaseError(f"{where}: expected key=value (keys: {', '.join(KEYS)})")
        if key not in KEYS:
            raise CaseError(f"{where}: unknown key {key!r} (keys: {', '.join(KEYS)})")
        if key in seen:
            raise CaseError(f"{where}: {key} given twice")
        seen.add(key)
        case[key] = _value(key, value, where)
    for key in ("size", "rate"):
        if key not in seen:
            raise CaseError(f"--guide {text!r}: {key} is required "
                            "(e.g. size=64,rate=10000,p99_us=100,cpu=0)")
    return case


def _value(key, value, where):
    if key in ("peer", "lang"):
        allowed = PEERS if key == "peer" else LANGS
        if value not in allowed:
            raise CaseError(f"{where}: {key} must be one of {' | '.join(allowed)}")
        return value
    if key == "rate" and value == "max":
        return "max"
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if key in ("size", "cpu"):
        if not math.isfinite(number) or number != int(number) or number < (1 if key == "size" else 0):
            what = "a whole number of bytes >= 1" if key == "size" else "a whole number of cores >= 0"
            raise CaseError(f"{where}: {key} must be {what}")
        return int(number)
    if not math.isfinite(number) or number <= 0:
        what = "messages/s > 0, or max" if key == "rate" else "microseconds > 0"
        raise CaseError(f"{where}: {key} must be {what}")
    return number


def case_text(case) -> str:
    rate = "the highest rate" if case["rate"] == "max" else f"{_rate(case['rate'])}"
    p99 = f"p99 ≤ {case['p99_us']:g} µs" if case["p99_us"] is not None else "no p99 budget"
    cpu = ("no limit on spinning" if case["cpu"] is None
           else "nothing may spin" if case["cpu"] == 0 else f"{case['cpu']} core(s) may spin")
    peer = {"any": "threads or processes", "thread": "threads", "process": "processes"}[case["peer"]]
    lang = {"any": "native or Python", "native": "native", "python": "Python"}[case["lang"]]
    return f"{fmt_size(case['size'])} messages at {rate}, {p99}, {cpu}, {peer}, {lang}"


# ---------------------------------------------------------------- the measured options

def _fig(values, src=None) -> dict:
    v = sorted(float(x) for x in values)
    return {"values": v, "median": float(statistics.median(v)), "min": v[0], "max": v[-1],
            "n": len(v), "src": src}


def options_data(r: ir.Results) -> dict:
    """Every measured option of one results file, per size, as plain JSON-able data: what
    evaluate() (and the page's script) need and nothing else."""
    opts: dict = {}

    def option(lang, p):
        if lang == "native":
            key = ("native", p.get("transport"), p.get("peer"), p.get("wait"))
        else:
            key = ("python", p.get("channel"), p.get("peer"), p.get("python"))
        if key not in opts:
            t = r.transports.get(key[1]) if lang == "native" else None
            t = t if isinstance(t, dict) else {}
            label = (option_label(p) if lang == "native"
                     else "Python " + option_label(p, ("python", "channel", "peer")))
            opts[key] = {
                "id": ":".join("-" if k is None else str(k) for k in key), "label": label, "lang": lang,
                "transport": key[1], "peer": p.get("peer"), "wait": key[3] if lang == "native" else None,
                "process": p.get("peer") != "thread",
                "crosses_processes": t.get("crosses_processes") if isinstance(
                    t.get("crosses_processes"), bool) else None,
                "max_msg_bytes": t.get("max_msg_bytes") if ir.is_positive_number(
                    t.get("max_msg_bytes")) else None,
                "limit_note": t.get("limit_note") or "",
                "spins": lang == "native" and p.get("wait") in SPIN_WAITS,
                "sizes": {}}
        return opts[key]

    def entry(o, size):
        return o["sizes"].setdefault(str(size), {"lat": None, "rt": None, "tput": None, "cpu": None,
                                                 "cpu_src": None, "load": [], "error": None,
                                                 "size_refused": False})

    for lang, fams in (("native", ("pingpong", "stream", "load")),
                       ("python", ("py_pingpong", "py_stream"))):
        for fam in fams:
            for p in points(r, fam):
                size = p.get("size")
                if not isinstance(size, int) or (lang == "native" and p.get("transport") is None) \
                        or (lang == "python" and p.get("channel") is None):
                    continue
                o = option(lang, p)
                e = entry(o, size)
                if p.error is not None:
                    if e["error"] is None:
                        e["error"] = p.error
                        e["size_refused"] = bool(SIZE_REFUSAL.search(p.error)) or (
                            o["max_msg_bytes"] is not None and size > o["max_msg_bytes"])
                    continue
                v = p.values
                if fam.endswith("pingpong"):
                    if "rtt_p99_ns" in v:
                        e["lat"] = _fig(v["rtt_p99_ns"], f"pp:{size}")
                    if "items_per_second" in v:
                        e["rt"] = _fig(v["items_per_second"], f"rt:{size}")
                    if "cpu_ns_per_msg" in v and e["cpu_src"] != "stream":
                        e["cpu"], e["cpu_src"] = _fig(v["cpu_ns_per_msg"]), "pingpong"
                elif fam.endswith("stream"):
                    if "items_per_second" in v:
                        e["tput"] = _fig(v["items_per_second"], f"st:{size}")
                    if "cpu_ns_per_msg" in v:
                        e["cpu"], e["cpu_src"] = _fig(v["cpu_ns_per_msg"]), "stream"
                elif "offered_per_second" in p.metrics and "lat_p99_ns" in v:
                    offered = p.metrics["offered_per_second"]
                    achieved = p.metrics.get("achieved_per_second")
                    saturated = (p.metrics["saturated"] > 0.5 if "saturated" in p.metrics
                                 else achieved is not None and achieved < KEPT_UP * offered)
                    e["load"].append({"offered": offered, "achieved": achieved,
                                      "saturated": bool(saturated), "p99": _fig(v["lat_p99_ns"])})
    for o in opts.values():
        for e in o["sizes"].values():
            e["load"].sort(key=lambda row: row["offered"])
            if _usable(e):
                e["error"], e["size_refused"] = None, False
        o["sizes"] = dict(sorted(o["sizes"].items(), key=lambda kv: int(kv[0])))
    python = [p for f in ("py_pingpong", "py_stream") for p in points(r, f)]
    n = max((len(vals) for o in opts.values() for e in o["sizes"].values()
             for f in (e["lat"], e["tput"]) if f for vals in [f["values"]]), default=0)
    return {"label": r.label, "machine": machine(r), "repetitions": n,
            "python_measured": bool(python), "options": list(opts.values()), "relations": {}}


def _usable(e) -> bool:
    return bool(e["lat"] or e["rt"] or e["tput"] or e["load"])


# ---------------------------------------------------------------- noise

def relation(data, a: dict, b: dict, ia: int, ib: int, metric: str, higher: bool):
    """["same" | "inconclusive" | "apart", why] for figures a and b of options ia, ib.

    Two figures of one kind at one size (a["src"] == b["src"]) are compared as rules.py
    compares them (bootstrap of the ratio of medians); the answer is kept in data["relations"]
    so that the page's script reads the same one. Other pairs get the loose rule."""
    if a.get("src") is None or a.get("src") != b.get("src"):
        return loose_relation(a, b)
    i, j = min(ia, ib), max(ia, ib)
    table = data["relations"].setdefault(f"{a['src']}:{metric}", {})
    key = f"{i},{j}"
    if key not in table and _clearly_apart(a, b):
        table[key] = ["apart", ""]
    if key not in table:
        x, y = (a, b) if ia == i else (b, a)
        c = rc.Comparison(rc.Option("a", x["values"]), rc.Option("b", y["values"]), higher)
        if c.status == rc.SAME:
            table[key] = ["same", "no measurable difference (" + c.interval_text() + ")"]
        elif c.status == rc.INCONCLUSIVE:
            table[key] = ["inconclusive", "inconclusive (" + c.why_undecided() + ")"]
        else:
            table[key] = ["apart", ""]
    return table[key]


def _clearly_apart(a: dict, b: dict) -> bool:
    """What rules.Comparison would decide without running it (a page's worth of options makes
    thousands of pairs): with MIN_REPETITIONS positive values each and every value of one
    beyond every value of the other by more than EQUIVALENCE, every bootstrap median ratio,
    hence the whole interval, lies beyond the margin on the medians' side."""
    if min(a["n"], b["n"]) < rc.MIN_REPETITIONS or min(a["min"], b["min"]) <= 0:
        return False
    lo, hi = (a, b) if a["max"] < b["min"] else (b, a)
    return hi["min"] > lo["max"] * (1.0 + rc.EQUIVALENCE)


def loose_relation(a: dict, b: dict):
    """Figures that are not a pair of one kind at one size (interpolated, other sizes): apart
    only with MIN_REPETITIONS values each, ranges that do not overlap and medians more than
    rules.EQUIVALENCE apart."""
    if a["n"] < rc.MIN_REPETITIONS or b["n"] < rc.MIN_REPETITIONS:
        return ["inconclusive", f"inconclusive (n={a['n']} vs n={b['n']}; a comparison needs "
                                f"{rc.MIN_REPETITIONS} repetitions of each)"]
    if a["min"] <= b["max"] and b["min"] <= a["max"]:
        return ["same", "no measurable difference (their ranges overlap)"]
    if min(a["median"], b["median"]) > 0 and abs(a["median"] / b["median"] - 1.0) <= rc.EQUIVALENCE:
        return ["same", f"no measurable difference (medians within ±{rc.EQUIVALENCE:.0%})"]
    return ["apart", ""]


def precompute_relations(data) -> None:
    """Every comparison evaluate() can ask for, so the page's script never needs a bootstrap."""
    opts = data["options"]
    for size in sorted({s for o in opts for s in o["sizes"]}, key=int):
        for kind, higher in (("lat", False), ("tput", True), ("rt", True)):
            have = [(i, o["sizes"][size][kind]) for i, o in enumerate(opts)
                    if size in o["sizes"] and o["sizes"][size][kind]]
            for x in range(len(have)):
                for y in range(x + 1, len(have)):
                    relation(data, have[x][1], have[y][1], have[x][0], have[y][0],
                             "p99" if kind == "lat" else "rate", higher)


# ---------------------------------------------------------------- the rules

def _interpolate(rows, rate):
    """(p99 figure at `rate`, how it was had) on the rows of a load curve the transport kept
    up with (sorted by offered rate); recommend.values_at interpolates each quantile."""
    if rate <= rows[0]["offered"]:
        return rows[0]["p99"], f"at its lowest offered load, {_rate(rows[0]['offered'])}"
    for lo, hi in zip(rows, rows[1:]):
        if rate == hi["offered"]:
            return hi["p99"], f"at its offered load {_rate(hi['offered'])}"
        if lo["offered"] < rate < hi["offered"]:
            values, _ = values_at([(lo["offered"], lo["p99"]["values"]),
                                   (hi["offered"], hi["p99"]["values"])], rate)
            return _fig(values), (f"interpolated between its offered loads {_rate(lo['offered'])} "
                                  f"and {_rate(hi['offered'])}")
    return rows[-1]["p99"], f"at its highest unsaturated load, {_rate(rows[-1]['offered'])}"


def _capacity(e, rate):
    """(messages/s figure, the words that quote it) of one size's entry, or (None, None). A load
    curve's capacity is the highest offered rate it kept up with, a setting rather than a
    measurement: no spread to quote. A curve saturated at every offered load says only that
    the capacity is below the lowest one; under that, the stream decides."""
    if e["load"]:
        kept = [row for row in e["load"] if not row["saturated"]]
        if kept:
            return (_fig([kept[-1]["offered"]]), "the highest offered load its load curve kept up "
                                                 f"with, {_rate(kept[-1]['offered'])}")
        lowest = e["load"][0]["offered"]
        if rate != "max" and rate >= lowest:
            return _fig([0.0]), f"its load curve saturated at every offered load, from {_rate(lowest)}"
    if e["tput"]:
        return e["tput"], f"its one-way stream {figure(e['tput'], _rate)}"
    if e["rt"]:
        return e["rt"], f"round trips/s (no stream measured) {figure(e['rt'], _rate)}"
    return None, None


def evaluate(data, case) -> dict:
    """The guide's answer for one file's options: {"groups": [{"ids", "why"}], "failed":
    [{"id", "reasons": [[code, text]]}], "notes": [[code, text]], "shown": {id: [texts]}}.
    Pure over `data` (options_data) and `case` (parse_case); GUIDE_JS mirrors it."""
    opts = data["options"]
    failed, passing, shown, notes = [], [], {}, []
    rate, size = case["rate"], case["size"]
    if case["lang"] != "native" and not data["python_measured"]:
        notes.append(["no_python", f"Python: {NO_PYTHON}."])
    for idx, o in enumerate(opts):
        if case["lang"] != "any" and o["lang"] != case["lang"]:
            continue
        thread_only = o["crosses_processes"] is False
        if o["process"] and thread_only:
            continue   # its thread row says "cannot cross processes" once
        if case["peer"] == "thread" and o["process"]:
            continue
        if case["peer"] == "process" and not o["process"] and not thread_only:
            continue
        reasons, lines = [], []
        if case["peer"] == "process" and thread_only:
            reasons.append(["cannot_cross", f"cannot cross processes ({o['transport']} connects "
                                            "threads of one process only)"])
        if o["max_msg_bytes"] is not None and size > o["max_msg_bytes"]:
            note = f"; {o['limit_note']}" if o["limit_note"] else ""
            reasons.append(["size_limit", f"over the size limit: at most "
                                          f"{fmt_size(o['max_msg_bytes'])} on this machine{note}"])
        at, e = None, None
        for s, entry in o["sizes"].items():
            if int(s) >= size and (_usable(entry) or entry["error"]):
                at, e = int(s), entry
                break
        if e is None:
            if not any(r[0] == "size_limit" for r in reasons):
                largest = [int(s) for s, x in o["sizes"].items() if _usable(x)]
                reasons.append(["not_measured", f"not measured at {fmt_size(size)} or larger"
                                + (f" (largest measured: {fmt_size(max(largest))})" if largest else "")])
        elif not _usable(e):
            if e["size_refused"] and at != size:
                reasons.append(["not_measured", f"not measured at {fmt_size(size)}; the nearest "
                                                f"measured size above, {fmt_size(at)}, is over its "
                                                f"size limit: {e['error']}"])
            elif e["size_refused"]:
                if not any(r[0] == "size_limit" for r in reasons):
                    reasons.append(["size_limit", f"over the size limit: {e['error']}"])
            else:
                reasons.append(["error", f"could not run at {fmt_size(at)}: {e['error']}"])
            e = None
        if at is not None and at != size and e is not None:
            lines.append(f"measured at {fmt_size(at)}, the nearest measured size above "
                         f"{fmt_size(size)}")
        cpu = e["cpu"] if e else None
        if o["spins"]:
            burn = ""
            if cpu:
                burn = f", where the work itself is {figure(cpu, fmt_ns)} per message"
                if rate != "max":
                    burn += f", {cpu['median'] * rate / 1e9:.3g} of a core at {_rate(rate)}"
            spin = f"spins a core: wait:{o['wait']} busy-waits the receiver, a whole core at any rate{burn}"
            if case["cpu"] is not None and case["cpu"] < SPIN_CORES:
                reasons.append(["spins", spin])
            else:
                lines.append(spin)
        elif cpu:
            work = f", {cpu['median'] * rate / 1e9:.3g} of a core at {_rate(rate)}" if rate != "max" else ""
            lines.append(f"CPU per message {figure(cpu, fmt_ns)} ({e['cpu_src']}){work}")
        cap = lat = None
        if e is not None:
            cap, cap_text = _capacity(e, rate)
            kept = [row for row in e["load"] if not row["saturated"]]
            if cap is None:
                reasons.append(["not_measured", f"no throughput measured at {fmt_size(at)}"])
            elif rate != "max" and cap["median"] < rate:
                reasons.append(["too_slow", f"too slow at {_rate(rate)}: {cap_text}"])
            else:
                lines.append(f"throughput: {cap_text}")
            if kept:
                lat, how = _interpolate(kept, cap["median"] if rate == "max" else rate)
                how = f"from its load curve {how}"
            elif e["lat"]:
                lat, how = e["lat"], "of an unloaded round trip (pingpong)"
            if lat is None:
                reasons.append(["not_measured", f"no p99 measured at {fmt_size(at)}"])
            elif case["p99_us"] is not None and lat["median"] > case["p99_us"] * 1e3:
                reasons.append(["p99_over", f"p99 over budget: {figure(lat, fmt_ns)} {how}, more "
                                            f"than {case['p99_us']:g} µs"])
            else:
                lines.insert(0, f"p99 {figure(lat, fmt_ns)} {how}")
        if reasons:
            failed.append({"id": o["id"], "reasons": reasons})
        else:
            shown[o["id"]] = lines
            passing.append({"i": idx, "id": o["id"], "lat": lat, "cap": cap, "cpu": cpu})
    groups = _rank(data, passing, rate == "max")
    if any(g["undecided"] for g in groups):
        notes.append(["undecided", f"Some options share a rank because their comparison was "
                                   f"inconclusive, not because they are alike; {rc.DECIDE_HINT}."])
    return {"groups": groups, "failed": failed, "notes": notes, "shown": shown}


def _rank(data, passing, by_rate):
    """Groups of options in rank order; an option joins the group whose best it cannot be told
    apart from. Within a group, by the second key (CPU per message, or p99 at max rate)."""
    first, higher = ("cap", True) if by_rate else ("lat", False)
    second = "lat" if by_rate else "cpu"
    inf = math.inf

    def med(p, k, sign):
        return sign * p[k]["median"] if p[k] else inf

    order = sorted(passing, key=lambda p: (med(p, first, -1 if higher else 1),
                                           med(p, second, 1), p["id"]))
    groups = []
    for p in order:
        if groups:
            head = groups[-1]["members"][0]
            rel = relation(data, head[first], p[first], head["i"], p["i"],
                           "rate" if by_rate else "p99", higher)
            if rel[0] != "apart":
                groups[-1]["members"].append(p)
                groups[-1]["why"].append(rel[1])
                groups[-1]["undecided"] |= rel[0] == "inconclusive"
                continue
        groups.append({"members": [p], "why": [], "undecided": False})
    out = []
    for g in groups:
        members = sorted(g["members"], key=lambda p: (med(p, second, 1), p["id"]))
        out.append({"ids": [p["id"] for p in members], "head": g["members"][0]["id"], "why": g["why"],
                    "undecided": g["undecided"]})
    return out


def outcome(result) -> dict:
    """The decisions of an evaluate() result without its words: what the page's script must
    reproduce exactly (ids per rank, reason codes per failing option, note codes)."""
    return {"groups": [g["ids"] for g in result["groups"]],
            "failed": {f["id"]: [r[0] for r in f["reasons"]] for f in result["failed"]},
            "notes": [n[0] for n in result["notes"]]}


# ---------------------------------------------------------------- words

def _rate(v) -> str:
    if v >= 1e6:
        return f"{_sig(v / 1e6)} M msg/s"
    if v >= 1e3:
        return f"{_sig(v / 1e3)} k msg/s"
    return f"{_sig(v)} msg/s"


def figure(f: dict, fmt) -> str:
    """rules.figure() of a figure dict: median, range, n."""
    return rc.figure(rc.Option("", f["values"]), fmt)


def tie_text(data, group, case) -> str:
    """Why the options of a rank share it: each one against the rank's best."""
    head = next(o["label"] for o in data["options"] if o["id"] == group["head"])
    best = "highest throughput" if case["rate"] == "max" else "lowest p99"
    return (f"tied within noise: {len(group['ids'])} options, each against {head}, the {best}: "
            + "; ".join(dict.fromkeys(group["why"])))


def render_text(data, case, result=None) -> str:
    result = result or evaluate(data, case)
    by_id = {o["id"]: o for o in data["options"]}
    out = [f"Decision guide for {data['machine']} ({data['label']}), from its measurements",
           f"Case: {case_text(case)}.",
           "Figures: median of the repetitions, their range, and n. Ranked by "
           + ("throughput, then p99" if case["rate"] == "max" else "p99, then CPU per message")
           + "; options that cannot be told apart share a rank.", ""]
    if result["groups"]:
        out.append("Meets the case:")
        for rank, g in enumerate(result["groups"], 1):
            tied = len(g["ids"]) > 1
            head = f"{rank}."
            if tied:
                out.append(f"  {head} {tie_text(data, g, case)}")
            for oid in g["ids"]:
                out.append(("     - " if tied else f"  {head} ") + by_id[oid]["label"])
                out += [("         " if tied else "       ") + line for line in result["shown"][oid]]
    else:
        out.append("Nothing measured meets the case.")
    if result["failed"]:
        out += ["", "Fails the case:"]
        for f in result["failed"]:
            out.append(f"  - {by_id[f['id']]['label']}: " + "; ".join(r[1] for r in f["reasons"]))
    for _, text in result["notes"]:
        out += ["", text]
    return "\n".join(out) + "\n"


def guide_text(results, case) -> str:
    """The guide for each results file, as the CLI prints it."""
    return "\n".join(render_text(options_data(r), case) for r in results)
