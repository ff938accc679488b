"""The report's view of one run: each benchmark as a Point (its parameters and medians),
the message-size bands, and the orderings the report lists things in."""

from __future__ import annotations

import math

from . import results as ir
from . import rules as rc

BANDS = (("small", "<= 1 KiB", 0, 1024),
         ("medium", "<= 64 KiB", 1025, 64 * 1024),
         ("large", "> 64 KiB", 64 * 1024 + 1, math.inf))


def sort_key(value):
    return (0, value, "") if isinstance(value, (int, float)) else (1, 0, str(value))


def peer_sorter(results):
    """A sort key for peer kinds: the order the results' schemas list them in, then others."""
    order = list(dict.fromkeys(p for r in results for p in r.schema.peers))
    return lambda peer: (order.index(peer) if peer in order else len(order), str(peer))


class Point:
    """One benchmark's summary: params plus median metrics, or an error.

    values: metric -> its value in each repetition (the median alone when the file holds
    aggregates only), the evidence behind the recommendation's comparisons.
    family, schema: what the point is, and the description of its run that says which of its
    metrics are better high.
    """

    def __init__(self, base, params, metrics, error, cv, values, family=None, schema=None):
        self.base, self.params, self.metrics, self.error, self.cv = base, params, metrics, error, cv
        self.values = values
        self.family, self.schema = family, schema

    def higher_is_better(self, metric):
        return self.schema.higher_is_better(self.family, metric)

    def get(self, key, default=None):
        return self.params.get(key, default)

    def option(self, metric, keys=("transport", "peer", "wait")) -> rc.Option:
        """This benchmark as a choice the recommendation weighs; a row that reports the spread
        of its own rounds (metric_min, metric_max) keeps it for when there is one repetition."""
        lo, hi = self.metrics.get(metric + "_min"), self.metrics.get(metric + "_max")
        return rc.Option(option_label(self, keys), self.values[metric],
                         rounds=(lo, hi) if lo is not None and hi is not None else None)


_POINTS: dict = {}


def points(r: ir.Results, family: str) -> list[Point]:
    """Every benchmark of a family in file order, metrics as medians over repetitions."""
    key = (id(r), family)
    if key not in _POINTS:
        _POINTS[key] = (r, _points(r, family))  # r kept so its id stays unique
    return _POINTS[key][1]


def _points(r: ir.Results, family: str) -> list[Point]:
    benches = r.benchmarks()
    noisy = r.noisy_benchmarks()
    errors = r.errors()
    metric_names = sorted({m for recs in benches.values() for x in recs for m in x.metrics})
    medians = {m: r.summary(m) for m in metric_names}
    out = []
    for base, recs in benches.items():
        if recs[0].family != family:
            continue
        metrics = {m: medians[m][base] for m in metric_names if base in medians[m]}
        values: dict = {}
        for rec in recs:
            if rec.error is None and rec.run_type != "aggregate":
                for m, v in rec.metrics.items():
                    values.setdefault(m, []).append(v)
        for m, v in metrics.items():
            values.setdefault(m, [v])
        out.append(Point(base, recs[0].params, metrics, errors.get(base), noisy.get(base), values,
                         family, r.schema))
    return out


def ok_points(r, family, metric=None):
    return [p for p in points(r, family)
            if p.error is None and (metric is None or metric in p.metrics)]


def option_label(p: Point, keys=("transport", "peer", "wait")) -> str:
    """"shm_ring · fork · spin"; numeric parameters keep their key ("chunk 16")."""
    return " · ".join(f"{k} {p.get(k)}" if isinstance(p.get(k), int) else str(p.get(k))
                      for k in keys if p.get(k) is not None)


def logical_cpus(r: ir.Results):
    n = r.env.get("logical_cpus")
    if isinstance(n, int) and n > 0:
        return n
    n = r.context.get("num_cpus")
    return n if isinstance(n, int) and n > 0 else None


def machine(r: ir.Results) -> str:
    cpu = r.env.get("cpu_model")
    return f"{r.host} ({cpu})" if cpu else r.host


def band_of(size) -> int | None:
    if not isinstance(size, (int, float)):
        return None
    for i, (_, _, lo, hi) in enumerate(BANDS):
        if lo <= size <= hi:
            return i
    return None


def band_sizes(pts: list[Point]) -> list:
    """Each band's representative size, smallest band first; bands without one left out."""
    return [s for s in (representative_size(pts, b) for b in range(len(BANDS))) if s is not None]


def representative_size(pts: list[Point], band: int):
    """The size in the band measured by the most options (ties: the smallest)."""
    counts: dict = {}
    for p in pts:
        if band_of(p.get("size")) == band:
            counts[p.get("size")] = counts.get(p.get("size"), 0) + 1
    if not counts:
        return None
    return min(counts, key=lambda s: (-counts[s], s))
