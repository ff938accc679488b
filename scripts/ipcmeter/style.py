"""How every plot draws a series, decided once: a colour and marker per transport (and per
Python channel), a line style and marker fill per wait strategy. The PNGs and the HTML's
interactive charts read the same choices, so a transport looks the same everywhere.

The order comes from the results' schema (the binary's registry order of the `transport`
key, then the Python families' `channel` key), never from a list kept here: the n-th name
gets the n-th colour, so a new transport gets a colour of its own without an edit, and two
reports of one binary colour alike. Names a schema does not list (an older file's) follow in
sorted order. Other series (peers, executors, spawn methods) are coloured the same way,
each key's names in the schema's order.
"""

from __future__ import annotations

# Twenty colours, each at least 27 ΔE (CIELAB) from every other and from the black and grey
# of the reference lines: matplotlib's tab10 without its grey, then a farthest-point pick from
# the xkcd and CSS colours dark and saturated enough to read as a line on white.
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#bcbd22", "#0000ff", "#ff00ff", "#3c4d03", "#0165fc", "#ff0789",
           "#8fb67b", "#750851", "#9a6200", "#fe828c", "#9932cc", "#137e6d")

# (matplotlib marker, Chart.js pointStyle, Chart.js rotation in degrees): shapes both draw.
# 8 markers against 20 colours: the (colour, marker) pair repeats only after 40 names.
MARKERS = (("o", "circle", 0), ("s", "rect", 0), ("^", "triangle", 0), ("D", "rectRot", 0),
           ("v", "triangle", 180), ("X", "crossRot", 0), ("P", "cross", 0), ("*", "star", 0))

# The n-th wait strategy in the schema's order: (matplotlib linestyle, Chart.js borderDash,
# marker fill). No wait (a transport that only blocks) draws like the first.
DASHES = (("-", [], "full"), ("--", [6, 3], "left"), (":", [2, 2], "none"),
          ("-.", [6, 3, 2, 3], "full"))
NO_WAIT = DASHES[0]

# Keys whose names share one colour sequence: a transport and a Python channel are both
# "what carries the message" and may sit side by side in one plot.
CARRIER_KEYS = ("transport", "channel")


def _ordered(results, key) -> list:
    """The names `key` takes, in the order the results' schemas list them (each family that
    has the key, in family order), then names found only in the data, sorted."""
    names: dict = {}
    for r in results:
        sch = r.schema
        for fam in sch.family_order:
            for v in sch.key_values(fam, key):
                names.setdefault(v, None)
        if key == "transport" and isinstance(sch.raw.get("transports"), dict):
            for v in sch.raw["transports"]:
                names.setdefault(v, None)
        if key == "wait" and isinstance(sch.raw.get("waits"), list):
            for v in sch.raw["waits"]:
                if isinstance(v, str):
                    names.setdefault(v, None)
    if key == "transport":
        for r in results:
            for v in r.transports:  # files without a schema still list their transports
                names.setdefault(v, None)
    seen = {str(rec.params[key]) for r in results for rec in r.records
            if rec.params.get(key) is not None}
    return list(names) + sorted(seen - set(names))


class Style:
    """The drawing choices for the results of one report. Every plot builds its own from the
    same results and so draws alike; a name neither the schemas nor the data know (a label
    made up by a plot) takes the next free slot."""

    def __init__(self, results=()):
        self.order: dict = {}
        carriers: list = []
        for key in CARRIER_KEYS:
            carriers += [n for n in _ordered(results, key) if n not in carriers]
        self.order["carrier"] = carriers
        self.results = list(results)

    def _index(self, key, name) -> int:
        group = "carrier" if key in CARRIER_KEYS else key
        if group not in self.order:
            self.order[group] = _ordered(self.results, key)
        names = self.order[group]
        name = str(name)
        if name not in names:
            names.append(name)  # not in any schema: next free slot, kept for this report
        return names.index(name)

    def color(self, key, name) -> str:
        return PALETTE[self._index(key, name) % len(PALETTE)]

    def marker(self, key, name) -> str:
        return MARKERS[self._index(key, name) % len(MARKERS)][0]

    def dash(self, wait):
        """(matplotlib linestyle, Chart.js borderDash, marker fillstyle) of a wait strategy."""
        if wait is None:
            return NO_WAIT
        if "wait" not in self.order:
            self.order["wait"] = _ordered(self.results, "wait")
        waits = self.order["wait"]
        if wait not in waits:
            waits.append(wait)
        return DASHES[waits.index(wait) % len(DASHES)]

    def line_kw(self, key, name, wait=None) -> dict:
        """matplotlib keyword arguments for a series: colour and marker of `name` under `key`,
        line style and marker fill of `wait`."""
        ls, _, fill = self.dash(wait)
        color = self.color(key, name)
        return {"color": color, "marker": self.marker(key, name), "ls": ls, "fillstyle": fill,
                "markerfacecoloralt": "white" if fill == "left" else color}


def chartjs_marker(mpl_marker):
    """The Chart.js (pointStyle, rotation) drawing a matplotlib marker; a circle for others."""
    for m, style, rotation in MARKERS:
        if m == mpl_marker:
            return style, rotation
    return "circle", 0


def chartjs_dash(mpl_linestyle):
    for ls, dash, _ in DASHES:
        if ls == mpl_linestyle:
            return dash
    return []
