#!/usr/bin/python3
"""Turn ipcmeter results into plots, a self-contained HTML report and a Markdown summary.

Writes DIR/report.html (one file, plots embedded, opens offline), DIR/summary.md
(the same findings for a PR comment or a wiki) and each plot as DIR/<name>.png.
Several result files (other machines, or one machine at other times) give one
report comparing them side by side, each labelled by host and date.

The recommendation is computed from the measured numbers and quotes them: per
message-size band (small <= 1 KiB, medium <= 64 KiB, large) the lowest-latency
option, the cheapest in CPU, the highest throughput and the queue / pipe /
shared-memory verdict; fork vs spawn at your memory size (--rss-mib); whether
processes or threads scale better; the cheapest pool per task size.

It recommends only what the repetitions (--benchmark_repetitions) support: every
figure is the median with its range and n; an option is called better only when
the 95% interval of the ratio of medians excludes 1 and lies beyond +-5%, "no
measurable difference" otherwise; with fewer than 3 repetitions a comparison is
"inconclusive", with what would decide it. A speedup above min(workers, CPUs) is
reported as a measurement error, never as advice. Families absent from a file
are skipped with a note. Runs with warnings, floors drifting > 20% or
repetitions with cv > 10% are flagged noisy.

Exit status: 0 report written; 2 unusable input (one line on stderr, nothing
written in DIR).
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import math
import os
import shutil
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipcmeter_results as ir  # noqa: E402
import recommend as rc  # noqa: E402

PROG = "report.py"

BANDS = (("small", "<= 1 KiB", 0, 1024),
         ("medium", "<= 64 KiB", 1025, 64 * 1024),
         ("large", "> 64 KiB", 64 * 1024 + 1, math.inf))

PEER_ORDER = ("thread", "fork", "spawn", "forkserver")
# Preferred peer for the kind verdict: queues, pipes and shm matter most
# between processes.
VERDICT_PEERS = ("fork", "spawn", "forkserver", "thread")
WAIT_MARKERS = {"spin": "o", "hybrid": "s", "block": "^", None: "D"}
PERCENTILES = (("p50", "rtt_p50_ns", 50.0), ("p90", "rtt_p90_ns", 90.0),
               ("p99", "rtt_p99_ns", 99.0), ("p99.9", "rtt_p999_ns", 99.9),
               ("max", "rtt_max_ns", None))

# Plot file names, in report order; every name here may be written to DIR.
PLOTS = ("latency_vs_size", "peer_comparison", "throughput_vs_size",
         "latency_percentiles", "latency_vs_cpu", "spawn_cost",
         "compute_scaling", "pool_overhead", "sync_handoff")


class UsageError(Exception):
    """Bad input or output location; str() is the one line to print."""


# ---------------------------------------------------------------- formatting

def fmt_ns(v: float) -> str:
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if abs(v) >= scale:
            return f"{_sig(v / scale)} {unit}"
    return f"{_sig(v)} ns"


def fmt_bps(v: float) -> str:
    for unit, scale in (("TB/s", 1e12), ("GB/s", 1e9), ("MB/s", 1e6), ("kB/s", 1e3)):
        if abs(v) >= scale:
            return f"{_sig(v / scale)} {unit}"
    return f"{_sig(v)} B/s"


def fmt_size(b) -> str:
    if not isinstance(b, (int, float)):
        return str(b)
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if b >= scale and b % scale == 0:
            return f"{int(b // scale)} {unit}"
    return f"{b:g} B"


def _sig(v: float) -> str:
    if v == 0:
        return "0"
    digits = max(0, 2 - int(math.floor(math.log10(abs(v)))))
    return f"{v:.{digits}f}"


def fmt_metric(metric: str, v: float) -> str:
    if metric.endswith("_ns") or "_ns_" in metric:
        return fmt_ns(v)
    if metric == "bytes_per_second":
        return fmt_bps(v)
    if metric.endswith("_per_second"):
        return f"{_sig(v / 1e6)} M/s" if v >= 1e6 else f"{_sig(v)} /s"
    if metric in ("speedup",):
        return f"{v:.2f}×"
    return _sig(v)


def sort_key(value):
    return (0, value, "") if isinstance(value, (int, float)) else (1, 0, str(value))


def peer_key(peer):
    return (PEER_ORDER.index(peer) if peer in PEER_ORDER else len(PEER_ORDER), str(peer))


# ---------------------------------------------------------------- data access

class Point:
    """One benchmark's summary: params plus median metrics, or an error.

    values: metric -> its value in each repetition (the median alone when the file holds
    aggregates only), the evidence behind the recommendation's comparisons.
    """

    def __init__(self, base, params, metrics, error, cv, values):
        self.base, self.params, self.metrics, self.error, self.cv = base, params, metrics, error, cv
        self.values = values

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
        out.append(Point(base, recs[0].params, metrics, errors.get(base), noisy.get(base), values))
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
    n = ir._dict(r.raw.get("context")).get("num_cpus")
    return n if isinstance(n, int) and n > 0 else None


def machine(r: ir.Results) -> str:
    cpu = r.env.get("cpu_model")
    return f"{r.host} ({cpu})" if cpu else r.host


# ---------------------------------------------------------------- recommendation

def band_of(size) -> int | None:
    if not isinstance(size, (int, float)):
        return None
    for i, (_, _, lo, hi) in enumerate(BANDS):
        if lo <= size <= hi:
            return i
    return None


def representative_size(pts: list[Point], band: int):
    """The size in the band measured by the most options (ties: the smallest)."""
    counts: dict = {}
    for p in pts:
        if band_of(p.get("size")) == band:
            counts[p.get("size")] = counts.get(p.get("size"), 0) + 1
    if not counts:
        return None
    return min(counts, key=lambda s: (-counts[s], s))


def _claim(kind, text, **numbers):
    return {"kind": kind, "text": text, **numbers}


def _rank(pts, metric, keys=("transport", "peer", "wait")):
    """(Ranking of the points that have `metric`, the point that ranks first), or None."""
    pts = [p for p in pts if metric in p.metrics]
    if not pts:
        return None
    opts = [p.option(metric, keys) for p in pts]
    rk = rc.Ranking(opts, ir.is_higher_better(metric))
    return rk, next(p for p, o in zip(pts, opts) if o is rk.best)


def _ranked_claim(kind, lead, rk, fmt, worse, about="", more="", **numbers):
    """A claim naming what ranks first; `about` (more on the winner) only once decided, then
    `more`."""
    about = about if rk.decided else ""
    return _claim(kind, f"{lead}{rk.sentence(fmt, worse)}{about}{more}.", option=rk.best.label,
                  value=rk.best.median, n=rk.best.n, status=rk.status, **numbers)


def _formatter(metric):
    return lambda v: fmt_metric(metric, v)


_speedup = _formatter("speedup")


def recommend_bands(r: ir.Results) -> list[dict]:
    pp = ok_points(r, "pingpong")
    pp_all = points(r, "pingpong")
    st = ok_points(r, "stream")
    out = []
    for band, (name, bounds, _, _) in enumerate(BANDS):
        size = representative_size(pp, band)
        ssize = representative_size(st, band)
        if size is None and ssize is None:
            continue
        claims = []
        entry = {"band": name, "bounds": bounds, "size": size, "stream_size": ssize,
                 "claims": claims}
        at = [p for p in pp if p.get("size") == size]
        lowest = _rank(at, "rtt_p50_ns")
        if lowest:
            rk, best = lowest
            claims.append(_ranked_claim("lowest_latency", f"Lowest latency at {fmt_size(size)}, "
                                        "p50 round trip: ", rk, fmt_ns, "slower"))
            procs = best.get("peer") == "thread" and _rank(
                [p for p in at if p.get("peer") != "thread"], "rtt_p50_ns")
            if procs:
                claims.append(_ranked_claim("lowest_latency_processes", "Lowest latency between "
                                            f"processes at {fmt_size(size)}: ", procs[0], fmt_ns,
                                            "slower"))
        cheap = _rank(at, "cpu_ns_per_msg")
        if cheap:
            rk, best = cheap
            tail = (f" (its p50 round trip: {rc.figure(best.option('rtt_p50_ns'), fmt_ns)})"
                    if "rtt_p50_ns" in best.metrics else "")
            claims.append(_ranked_claim("cheapest_cpu", f"Cheapest in CPU at {fmt_size(size)}, CPU "
                                        "time per message: ", rk, fmt_ns, "more CPU", tail))
        fast = _rank([p for p in st if p.get("size") == ssize], "bytes_per_second")
        if fast:
            rk, best = fast
            memcpy = "ratio_to_memcpy"
            tail = (f" (its ratio to one-core memcpy: {rc.figure(best.option(memcpy), _formatter(memcpy))})"
                    if memcpy in best.metrics else "")
            claims.append(_ranked_claim("highest_throughput", f"Highest throughput at "
                                        f"{fmt_size(ssize)}, one-way stream: ", rk, fmt_bps,
                                        "lower", tail))
        if size is not None:
            verdict = kind_verdict(r, pp_all, size)
            if verdict:
                claims.append(verdict)
        out.append(entry)
    return out


def kind_verdict(r: ir.Results, pts: list[Point], size) -> dict | None:
    """Queue vs pipe vs shared memory at one size, between one kind of peer: each kind's
    fastest option against the fastest kind's, as far as the repetitions tell them apart."""
    at = [p for p in pts if p.get("size") == size]
    kinds_by_peer: dict = {}
    for p in at:
        if p.error is None and "rtt_p50_ns" in p.metrics:
            kinds_by_peer.setdefault(p.get("peer"), set()).add(
                r.transport_kind(p.get("transport")) or "unknown")
    if not kinds_by_peer:
        return None
    peers = sorted(kinds_by_peer, key=lambda q: (-len(kinds_by_peer[q]),
                   VERDICT_PEERS.index(q) if q in VERDICT_PEERS else 99, str(q)))
    peer = peers[0]
    ranking, cannot = [], {}
    kinds = sorted({r.transport_kind(p.get("transport")) or "unknown" for p in at})
    for kind in kinds:
        mine = [p for p in at if p.get("peer") == peer
                and (r.transport_kind(p.get("transport")) or "unknown") == kind]
        best = _rank([p for p in mine if p.error is None], "rtt_p50_ns", ("transport", "wait"))
        if best:
            ranking.append((kind, best[1]))
        elif mine:
            cannot[kind] = next(p for p in mine if p.error)
    if len(ranking) + len(cannot) < 2:
        return None
    ranking.sort(key=lambda kb: kb[1].metrics["rtt_p50_ns"])
    top_kind, top = ranking[0]
    options = {kind: p.option("rtt_p50_ns", ("transport", "wait")) for kind, p in ranking}
    parts = [f"{top_kind} ({options[top_kind].label}) {rc.figure(options[top_kind], fmt_ns)}"]
    factors, statuses, hint = {top_kind: 1.0}, {}, False
    for kind, p in ranking[1:]:
        c = rc.Comparison(options[top_kind], options[kind], higher_is_better=False)
        factors[kind] = p.metrics["rtt_p50_ns"] / top.metrics["rtt_p50_ns"]
        statuses[kind] = c.status
        if c.decided:
            how = c.gap_text("slower")
        elif c.status == rc.SAME:
            how = f"no measurable difference from {top_kind} ({c.interval_text()})"
        else:
            how = f"inconclusive against {top_kind} ({c.why_undecided()})"
            hint = hint or c.too_few
        parts.append(f"{kind} ({options[kind].label}) {rc.figure(options[kind], fmt_ns)}, {how}")
    for kind, p in cannot.items():
        parts.append(f"{kind} ({p.get('transport')}) cannot run: {p.error}")
    text = (f"Queue vs pipe vs shared memory between {peer} peers at {fmt_size(size)}, "
            f"p50 round trip: " + "; ".join(parts) + (f"; {rc.DECIDE_HINT}" if hint else "") + ".")
    return _claim("kinds", text, peer=peer, order=[k for k, _ in ranking], factors=factors,
                  statuses=statuses, values={k: p.metrics["rtt_p50_ns"] for k, p in ranking})


def values_at(curve: list[tuple[float, list]], x: float):
    """(repetition values at parent size x, outside the measured range?) from [(size, values)].

    Between two measured sizes each quantile is interpolated linearly, so the spread is
    carried along with the median; outside the range, the nearest size's values.
    """
    curve = sorted(curve, key=lambda c: c[0])
    for xi, vi in curve:
        if xi == x:
            return vi, False
    if x < curve[0][0]:
        return curve[0][1], True
    if x > curve[-1][0]:
        return curve[-1][1], True
    (x0, v0), (x1, v1) = next((a, b) for a, b in zip(curve, curve[1:]) if a[0] < x < b[0])
    t = (x - x0) / (x1 - x0)
    q = np.linspace(0.0, 1.0, min(len(v0), len(v1)))
    return list((1 - t) * np.quantile(v0, q) + t * np.quantile(v1, q)), False


def recommend_spawn(r: ir.Results, rss_mib: float | None) -> list[dict]:
    pts = ok_points(r, "spawn", "ready_p50_ns")
    curves: dict = {}
    for p in pts:
        if isinstance(p.get("rss_mib"), (int, float)):
            curves.setdefault(p.get("method"), []).append((p.get("rss_mib"), p.values["ready_p50_ns"]))
    if "fork" not in curves:
        return []
    spawners = {m: c for m, c in curves.items() if m not in ("fork", "thread")}
    if not spawners:
        return []
    measured = sorted({x for c in curves.values() for x, _ in c})
    sizes = [rss_mib] if rss_mib is not None else measured
    claims = []
    for size in sizes:
        fork_values, f_out = values_at(curves["fork"], size)
        fork = rc.Option("fork", fork_values)
        at = {m: values_at(c, size) for m, c in spawners.items()}
        spawned = rc.Ranking([rc.Option(m, v) for m, (v, _) in at.items()], higher_is_better=False)
        best = spawned.best
        best_m = best.label
        how = ""
        if rss_mib is not None:
            how = (" (outside the measured range; nearest measurement used)" if f_out or at[best_m][1]
                   else "" if size in measured else " (interpolated between measured sizes)")
        c = rc.Comparison(fork, best, higher_is_better=False)
        winner = {rc.BETTER: "fork", rc.WORSE: best_m}.get(c.status)
        if c.status == rc.BETTER:
            verdict = f"use fork, {c.gap_text('faster')}"
        elif c.status == rc.WORSE:
            verdict = f"use {best_m}, {c.gap_text('faster than fork')}"
            if spawned.ties:
                verdict += (" (no measurable difference from "
                            + ", ".join(t.b.label for t in spawned.ties) + ")")
        elif c.status == rc.SAME:
            verdict = f"no measurable difference between fork and {best_m} ({c.interval_text()})"
        else:
            verdict = c.inconclusive_text()
        thread = ""
        if "thread" in curves:
            thread = f" (a thread: {rc.figure(rc.Option('thread', values_at(curves['thread'], size)[0]), fmt_ns)})"
        text = (f"At {size:g} MiB parent memory, asked → the child's first message: fork "
                f"{rc.figure(fork, fmt_ns)} vs {best_m} {rc.figure(best, fmt_ns)}{thread}{how} "
                f"-> {verdict}.")
        if best_m + "_self" in spawners:
            real = rc.Option(best_m + "_self", values_at(spawners[best_m + "_self"], size)[0])
            text += (f" That {best_m} execs a tiny static helper: the mechanism's own cost. A child "
                     f"that is a real program pays for loading it too ({best_m}_self, which execs "
                     f"ipcmeter's own image: {rc.figure(real, fmt_ns)}).")
        if best_m == "forkserver":
            text += (" A fork server's children inherit none of the parent's data: whatever they "
                     "need must then be sent to them, and that transfer is not in this figure.")
        claims.append(_claim("spawn", text, rss_mib=size, winner=winner, status=c.status,
                             fork_ns=fork.median, spawn_method=best_m, spawn_ns=best.median))
    if rss_mib is None and len(claims) > 1:
        for a, b in zip(claims, claims[1:]):
            if a["winner"] == "fork" and b["winner"] not in (None, "fork"):
                claims.append(_claim("spawn_crossover",
                                     f"fork stops being the faster between {a['rss_mib']:g} and "
                                     f"{b['rss_mib']:g} MiB; pass --rss-mib for your own size."))
    return claims


def recommend_scaling(r: ir.Results) -> list[dict]:
    """Threads against the best process peer at the most workers the CPUs can run at once;
    a speedup the CPUs cannot give is reported as a measurement error and left out."""
    pts = ok_points(r, "compute", "speedup")
    cpus = logical_cpus(r)
    on = f" on {cpus} CPUs" if cpus else ""
    claims = []
    for kernel in sorted({p.get("kernel") for p in pts}, key=str):
        mine = [p for p in pts if p.get("kernel") == kernel and isinstance(p.get("workers"), int)]
        sound = []
        for p in mine:
            limit = rc.superlinear(p.metrics["speedup"], p.get("workers"), cpus)
            if limit is None:
                sound.append(p)
                continue
            claims.append(_claim(
                "scaling_error",
                f"{kernel}: measurement error, not a result: {p.get('peer')} with {p.get('workers')} "
                f"workers{on} measured a speedup of {rc.figure(p.option('speedup', ('peer',)), _speedup)}, "
                f"more than the {limit}× that is possible; this row is left out of the advice.",
                kernel=kernel, peer=p.get("peer"), workers=p.get("workers"),
                speedup=p.metrics["speedup"], limit=limit))
        within = [p for p in sound if 1 < p.get("workers") <= (cpus or p.get("workers"))]
        both = ({p.get("workers") for p in within if p.get("peer") == "thread"}
                & {p.get("workers") for p in within if p.get("peer") != "thread"})
        if not both:
            continue
        w = max(both)
        thread = next(p for p in within if p.get("workers") == w and p.get("peer") == "thread")
        thread = thread.option("speedup", ("peer",))
        proc = rc.Ranking([p.option("speedup", ("peer",)) for p in within
                           if p.get("workers") == w and p.get("peer") != "thread"], True).best
        c = rc.Comparison(thread, proc, higher_is_better=True)
        figures = (f"threads {rc.figure(thread, _speedup)} vs {proc.label} {rc.figure(proc, _speedup)} "
                   f"with {w} workers{on}")
        winner = {rc.BETTER: "thread", rc.WORSE: "process"}.get(c.status)
        if winner:
            text = (f"{kernel}: {'threads' if winner == 'thread' else 'processes'} scale better "
                    f"here: {figures}, {c.gap_text('the speedup')}")
        elif c.status == rc.SAME:
            text = (f"{kernel}: no measurable difference between threads and processes: {figures} "
                    f"({c.interval_text()})")
        else:
            text = f"{kernel}: threads vs processes, {figures}: {c.inconclusive_text()}"
        over = [p for p in sound if cpus is not None and p.get("workers") > cpus]
        if over:
            most = max(p.get("workers") for p in over)
            at = sorted((p for p in over if p.get("workers") == most), key=lambda p: peer_key(p.get("peer")))
            text += (f"; oversubscribed at {most} workers: "
                     + ", ".join(f"{p.get('peer')} {rc.figure(p.option('speedup', ('peer',)), _speedup)}"
                                 for p in at))
        claims.append(_claim("scaling", text + ".", kernel=kernel, workers=w, thread=thread.median,
                             process=proc.median, process_peer=proc.label, winner=winner,
                             status=c.status))
    return claims


def recommend_pool(r: ir.Results) -> list[dict]:
    pts = ok_points(r, "pool", "overhead_ns_per_task")
    keys = ("executor", "chunk")
    claims = []
    for task in sorted({p.get("task_us") for p in pts}, key=sort_key):
        at = [p for p in pts if p.get("task_us") == task]
        rk, best = _rank(at, "overhead_ns_per_task", keys)
        procs = [p for p in at if str(p.get("executor")).startswith("process")]
        more = ""
        if procs and best not in procs:
            more = ("; across processes: "
                    + _rank(procs, "overhead_ns_per_task", keys)[0].sentence(fmt_ns, "more overhead"))
        claims.append(_ranked_claim("pool", f"Tasks of {task} µs, lowest overhead per task: ", rk,
                                    fmt_ns, "more overhead", more=more, task_us=task,
                                    executor=best.get("executor")))
    return claims


def recommend(r: ir.Results, rss_mib: float | None = None) -> dict:
    return {"bands": recommend_bands(r), "spawn": recommend_spawn(r, rss_mib),
            "scaling": recommend_scaling(r), "pool": recommend_pool(r)}


# ---------------------------------------------------------------- plots

def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"font.size": 8, "axes.titlesize": 9, "legend.fontsize": 7,
                         "figure.dpi": 100})
    return plt


def _grid(plt, results, ncols, title):
    nrows = len(results)
    fig, axes = plt.subplots(nrows, ncols, figsize=(min(4.2 * ncols, 16) + 1.5, 3.3 * nrows + 0.6),
                             squeeze=False)
    fig.suptitle(f"{title} — " + "; ".join(machine(r) for r in _unique_hosts(results)), fontsize=10)
    return fig, axes


def _size_axis(ax, sizes):
    ax.set_xscale("log", base=2)
    sizes = sorted(set(sizes))
    ax.set_xticks(sizes)
    ax.set_xticklabels([fmt_size(x) for x in sizes])
    ax.minorticks_off()
    ax.set_xlabel("message size (bytes)")


def _unique_hosts(results):
    seen, out = set(), []
    for r in results:
        if r.host not in seen:
            seen.add(r.host)
            out.append(r)
    return out


def _empty(ax, text):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=8,
            color="#555", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _finish(fig):
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def _row_title(r, labels, extra=""):
    return f"{labels[r.path]}{extra}"


def plot_latency_vs_size(plt, results, labels):
    if not any(ok_points(r, "pingpong", "rtt_p50_ns") for r in results):
        return None
    peers = sorted({p.get("peer") for r in results for p in ok_points(r, "pingpong")}, key=peer_key)
    fig, axes = _grid(plt, results, len(peers), "Round-trip latency vs message size")
    for row, r in enumerate(results):
        pts = ok_points(r, "pingpong", "rtt_p50_ns")
        for col, peer in enumerate(peers):
            ax = axes[row][col]
            mine = [p for p in pts if p.get("peer") == peer and isinstance(p.get("size"), (int, float))]
            if not mine:
                _empty(ax, f"no pingpong results with a {peer} peer")
                continue
            series: dict = {}
            for p in mine:
                series.setdefault(option_label(p, ("transport", "wait")), []).append(
                    (p.get("size"), p.metrics["rtt_p50_ns"]))
            for label, xy in sorted(series.items()):
                xy.sort()
                ax.plot([x for x, _ in xy], [y for _, y in xy], marker="o", ms=3, label=label)
            floor = r.c2c_floor_ns()
            if floor:
                ax.axhline(floor, color="k", ls="--", lw=1, label=f"core-to-core floor {fmt_ns(floor)}")
            end = r.floors_end.get("c2c_rtt_ns")
            if ir._is_number(end) and floor and abs(end - floor) > 0.05 * floor:
                ax.axhline(end, color="k", ls=":", lw=1, label=f"floor at end {fmt_ns(end)}")
            ax.set_yscale("log")
            _size_axis(ax, [p.get("size") for p in mine])
            ax.set_ylabel("round-trip p50 (ns)")
            ax.set_title(f"peer: {peer} — {labels[r.path]}")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(loc="upper left")
    return _finish(fig)


def _bars(ax, groups, series, values, errors, ylabel):
    """Grouped bars: values[(group, series)] -> float; errors[(group, series)] -> reason."""
    import numpy as np
    width = 0.8 / max(1, len(series))
    x = np.arange(len(groups))
    ymin = min(values.values()) if values else 1.0
    ymax = max(values.values()) if values else 10.0
    bottom = ymin / 4
    for i, s in enumerate(series):
        ys = [values.get((g, s), bottom) - bottom for g in groups]
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, ys, width, bottom=bottom, label=s)
        for j, g in enumerate(groups):
            if (g, s) not in values and (g, s) in errors:
                ax.text(bars[j].get_x() + width / 2, bottom * 1.15, "×", ha="center", va="bottom",
                        color=bars[j].get_facecolor(), fontsize=10, fontweight="bold")
    ax.set_ylim(bottom, ymax * 2)
    ax.set_yscale("log")
    ax.set_xticks(x)
    ax.set_xticklabels(groups, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", which="both", alpha=0.3)


def plot_peer_comparison(plt, results, labels):
    if not any(ok_points(r, "pingpong", "rtt_p50_ns") for r in results):
        return None
    sizes_per = []
    for r in results:
        pts = ok_points(r, "pingpong")
        sizes_per.append([s for s in (representative_size(pts, b) for b in range(len(BANDS))) if s is not None])
    ncols = max(len(s) for s in sizes_per)
    fig, axes = _grid(plt, results, ncols, "Thread vs fork vs spawn peer per transport")
    for row, r in enumerate(results):
        pts = points(r, "pingpong")
        for col in range(ncols):
            ax = axes[row][col]
            if col >= len(sizes_per[row]):
                _empty(ax, "no further size band")
                continue
            size = sizes_per[row][col]
            at = [p for p in pts if p.get("size") == size]
            transports = sorted({p.get("transport") for p in at}, key=str)
            peers = sorted({p.get("peer") for p in at}, key=peer_key)
            values, errors = {}, {}
            for p in at:
                key = (p.get("transport"), p.get("peer"))
                if p.error is None and "rtt_p50_ns" in p.metrics:
                    values[key] = min(values.get(key, math.inf), p.metrics["rtt_p50_ns"])
                elif p.error:
                    errors[key] = p.error
            _bars(ax, transports, peers, values, errors, "round-trip p50 (ns), best wait")
            ax.set_title(f"{fmt_size(size)} messages — {labels[r.path]}\n(× = cannot run)")
            ax.legend(title="peer")
    return _finish(fig)


def plot_throughput_vs_size(plt, results, labels):
    if not any(ok_points(r, "stream", "bytes_per_second") for r in results):
        return None
    peers = sorted({p.get("peer") for r in results for p in ok_points(r, "stream")}, key=peer_key)
    fig, axes = _grid(plt, results, len(peers), "Stream throughput vs message size")
    for row, r in enumerate(results):
        pts = ok_points(r, "stream", "bytes_per_second")
        for col, peer in enumerate(peers):
            ax = axes[row][col]
            mine = [p for p in pts if p.get("peer") == peer and isinstance(p.get("size"), (int, float))]
            if not mine:
                _empty(ax, f"no stream results with a {peer} peer")
                continue
            series: dict = {}
            for p in mine:
                series.setdefault(option_label(p, ("transport", "wait")), []).append(
                    (p.get("size"), p.metrics["bytes_per_second"]))
            for label, xy in sorted(series.items()):
                xy.sort()
                ax.plot([x for x, _ in xy], [y for _, y in xy], marker="o", ms=3, label=label)
            # The references ratio_to_memcpy used are measured during the run, so the end-of-run
            # floors hold them; keep only the sizes streamed, so the ceiling spans the same axis.
            by_size = {}
            for floors in (r.floors, r.floors_end):
                if isinstance(floors.get("memcpy_gbps_by_size"), dict):
                    by_size.update(floors["memcpy_gbps_by_size"])
            streamed = {p.get("size") for p in mine}
            curve = []
            for k, v in by_size.items():
                try:
                    if int(k) in streamed:
                        curve.append((float(k), float(v) * 1e9))
                except (TypeError, ValueError):
                    pass
            if len(curve) >= 2:
                curve.sort()
                ax.plot([x for x, _ in curve], [y for _, y in curve], "k--", lw=1,
                        label="memcpy ceiling (one core)")
            else:
                for key, ls in (("memcpy_gbps_cache", "--"), ("memcpy_gbps_dram", ":")):
                    v = r.floors.get(key)
                    if ir._is_number(v):
                        ax.axhline(v * 1e9, color="k", ls=ls, lw=1,
                                   label=f"memcpy ceiling, {key.rsplit('_', 1)[1]} {v:g} GB/s")
            ax.set_yscale("log")
            _size_axis(ax, [p.get("size") for p in mine])
            ax.set_ylabel("throughput (bytes/s)")
            ax.set_title(f"peer: {peer} — {labels[r.path]}")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(loc="lower right")
    return _finish(fig)


def _nines(p):
    return -math.log10(1 - p / 100.0)


def plot_latency_percentiles(plt, results, labels):
    if not any(ok_points(r, "pingpong", "rtt_p50_ns") for r in results):
        return None
    fig, axes = _grid(plt, results, 1, "Round-trip latency distribution, key transports")
    for row, r in enumerate(results):
        ax = axes[row][0]
        pts = ok_points(r, "pingpong", "rtt_p50_ns")
        size = next((s for s in (representative_size(pts, b) for b in range(len(BANDS))) if s), None)
        at = [p for p in pts if p.get("size") == size]
        best: dict = {}
        for p in at:  # per transport, its lowest-latency configuration
            t = p.get("transport")
            if t not in best or p.metrics["rtt_p50_ns"] < best[t].metrics["rtt_p50_ns"]:
                best[t] = p
        xs_all = [_nines(q) if q is not None else _nines(99.99) for _, _, q in PERCENTILES]
        for t, p in sorted(best.items(), key=lambda tp: tp[1].metrics["rtt_p50_ns"])[:8]:
            xy = [(x, p.metrics[m]) for (_, m, _), x in zip(PERCENTILES, xs_all) if m in p.metrics]
            ax.plot([x for x, _ in xy], [y for _, y in xy], marker="o", ms=3, label=option_label(p))
        ax.set_xticks(xs_all)
        ax.set_xticklabels([n for n, _, _ in PERCENTILES])
        ax.set_yscale("log")
        ax.set_xlabel("percentile")
        ax.set_ylabel("round trip (ns)")
        ax.set_title(f"{fmt_size(size)} messages, each transport's fastest configuration — {labels[r.path]}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="upper left")
    return _finish(fig)


def plot_latency_vs_cpu(plt, results, labels):
    if not any(ok_points(r, "pingpong", "cpu_ns_per_msg") for r in results):
        return None
    from matplotlib.lines import Line2D
    sizes_per = []
    for r in results:
        pts = ok_points(r, "pingpong", "cpu_ns_per_msg")
        sizes_per.append([s for s in (representative_size(pts, b) for b in range(len(BANDS))) if s is not None])
    ncols = max(len(s) for s in sizes_per)
    fig, axes = _grid(plt, results, ncols, "Latency vs CPU cost per message (spin / hybrid / block)")
    transports = sorted({p.get("transport") for r in results for p in ok_points(r, "pingpong")}, key=str)
    colors = {t: f"C{i % 10}" for i, t in enumerate(transports)}
    for row, r in enumerate(results):
        pts = ok_points(r, "pingpong", "cpu_ns_per_msg")
        for col in range(ncols):
            ax = axes[row][col]
            if col >= len(sizes_per[row]):
                _empty(ax, "no further size band")
                continue
            size = sizes_per[row][col]
            at = [p for p in pts if p.get("size") == size and "rtt_p50_ns" in p.metrics]
            for p in at:
                ax.scatter(p.metrics["cpu_ns_per_msg"], p.metrics["rtt_p50_ns"], s=22,
                           color=colors[p.get("transport")],
                           marker=WAIT_MARKERS.get(p.get("wait"), "D"))
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("CPU time per message (ns)")
            ax.set_ylabel("round-trip p50 (ns)")
            ax.set_title(f"{fmt_size(size)} messages — {labels[r.path]}")
            ax.grid(True, which="both", alpha=0.3)
            handles = [Line2D([], [], ls="", marker="o", color=colors[t], label=t)
                       for t in sorted({p.get("transport") for p in at}, key=str)]
            waits = sorted({p.get("wait") for p in at}, key=lambda w: (w is None, str(w)))
            handles += [Line2D([], [], ls="", marker=WAIT_MARKERS.get(w, "D"), color="grey",
                               label=f"wait: {w or 'n/a'}") for w in waits]
            ax.legend(handles=handles, loc="best")
    return _finish(fig)


def _lines(ax, pts, xkey, ykey, series_keys):
    series: dict = {}
    for p in pts:
        if isinstance(p.get(xkey), (int, float)):
            series.setdefault(option_label(p, series_keys), []).append((p.get(xkey), p.metrics[ykey]))
    for label, xy in sorted(series.items()):
        xy.sort()
        ax.plot([x for x, _ in xy], [y for _, y in xy], marker="o", ms=3, label=label)


def plot_spawn_cost(plt, results, labels, rss_mib=None):
    if not any(ok_points(r, "spawn", "ready_p50_ns") for r in results):
        return None
    fig, axes = _grid(plt, results, 1, "Worker start cost vs parent memory")
    for row, r in enumerate(results):
        ax = axes[row][0]
        pts = ok_points(r, "spawn", "ready_p50_ns")
        if not pts:
            _empty(ax, "no spawn results")
            continue
        _lines(ax, pts, "rss_mib", "ready_p50_ns", ("method",))
        if rss_mib is not None:
            ax.axvline(rss_mib, color="k", ls=":", lw=1, label=f"your size {rss_mib:g} MiB")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        rss = sorted({p.get("rss_mib") for p in pts if isinstance(p.get("rss_mib"), (int, float))})
        ax.set_xticks(rss)
        ax.set_xticklabels([f"{x:g}" for x in rss])
        ax.minorticks_off()
        ax.set_xlabel("parent resident memory (MiB)")
        ax.set_ylabel("asked → first message, p50 (ns)")
        ax.set_title(labels[r.path])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="upper left")
    return _finish(fig)


def plot_compute_scaling(plt, results, labels):
    if not any(ok_points(r, "compute", "speedup") for r in results):
        return None
    kernels = sorted({p.get("kernel") for r in results for p in ok_points(r, "compute")}, key=str)
    fig, axes = _grid(plt, results, len(kernels), "Speedup vs workers, threads vs processes")
    for row, r in enumerate(results):
        pts = ok_points(r, "compute", "speedup")
        cpus = logical_cpus(r)
        for col, kernel in enumerate(kernels):
            ax = axes[row][col]
            mine = [p for p in pts if p.get("kernel") == kernel]
            if not mine:
                _empty(ax, f"no compute results for kernel {kernel}")
                continue
            _lines(ax, mine, "workers", "speedup", ("peer",))
            top = max(p.get("workers") for p in mine if isinstance(p.get("workers"), int))
            ax.plot([1, top], [1, top], color="grey", ls="--", lw=1, label="ideal")
            if cpus and top > cpus:
                ax.axvspan(cpus, top, color="red", alpha=0.08,
                           label=f"oversubscribed (> {cpus} CPUs)")
            ax.set_xlabel("workers")
            ax.set_ylabel("speedup (× one worker)")
            ax.set_title(f"kernel: {kernel} — {labels[r.path]}")
            ax.grid(True, alpha=0.3)
            ax.legend(loc="upper left")
    return _finish(fig)


def plot_pool_overhead(plt, results, labels):
    if not any(ok_points(r, "pool", "overhead_ns_per_task") for r in results):
        return None
    fig, axes = _grid(plt, results, 1, "Pool overhead per task vs task size")
    for row, r in enumerate(results):
        ax = axes[row][0]
        pts = ok_points(r, "pool", "overhead_ns_per_task")
        if not pts:
            _empty(ax, "no pool results")
            continue
        _lines(ax, pts, "task_us", "overhead_ns_per_task", ("executor", "chunk"))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("task size (µs of work)")
        ax.set_ylabel("overhead per task (ns)")
        ax.set_title(labels[r.path])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="upper left", ncol=2)
    return _finish(fig)


def plot_sync_handoff(plt, results, labels):
    if not any(ok_points(r, "sync", "handoff_p50_ns") for r in results):
        return None
    fig, axes = _grid(plt, results, 1, "Synchronisation hand-off per primitive, threads vs processes")
    for row, r in enumerate(results):
        ax = axes[row][0]
        pts = points(r, "sync")
        if not pts:
            _empty(ax, "no sync results")
            continue
        parties = {}
        for p in pts:
            parties.setdefault(p.get("primitive"), set()).add(p.get("parties"))

        def group(p):
            prim = str(p.get("primitive"))
            return prim if len(parties[p.get("primitive")]) == 1 else f"{prim} ×{p.get('parties')}"
        groups = list(dict.fromkeys(group(p) for p in pts))
        peers = sorted({p.get("peer") for p in pts}, key=peer_key)
        values = {(group(p), p.get("peer")): p.metrics["handoff_p50_ns"] for p in pts
                  if p.error is None and "handoff_p50_ns" in p.metrics}
        errors = {(group(p), p.get("peer")): p.error for p in pts if p.error}
        _bars(ax, groups, peers, values, errors, "hand-off p50 (ns)")
        ax.set_title(f"{labels[r.path]}  (× = cannot run)")
        ax.legend(title="peer")
    return _finish(fig)


PLOT_INFO = {
    "latency_vs_size": ("Latency vs message size", "pingpong", plot_latency_vs_size,
                        "p50 round trip per transport, log–log, one panel per peer; the dashed line is the core-to-core floor."),
    "peer_comparison": ("Thread vs fork vs spawn", "pingpong", plot_peer_comparison,
                        "The same transport with each kind of peer, one panel per size band."),
    "throughput_vs_size": ("Throughput vs message size", "stream", plot_throughput_vs_size,
                           "One-way stream throughput; the dashed line is one core's memcpy bandwidth."),
    "latency_percentiles": ("Latency distribution", "pingpong", plot_latency_percentiles,
                            "Percentile curve (p50 … max) of each transport's fastest configuration at the smallest size band."),
    "latency_vs_cpu": ("Latency vs CPU cost", "pingpong", plot_latency_vs_cpu,
                       "Lower-left is better; marker shape is the wait strategy (spin / hybrid / block)."),
    "spawn_cost": ("Worker start cost", "spawn", plot_spawn_cost,
                   "Time from asking for a worker to its first message, against the parent's memory."),
    "compute_scaling": ("Scaling", "compute", plot_compute_scaling,
                        "Speedup against one worker of the same peer; the shaded region is oversubscribed."),
    "pool_overhead": ("Pool overhead", "pool", plot_pool_overhead,
                      "Per-task overhead of each executor against the work in each task."),
    "sync_handoff": ("Sync hand-off", "sync", plot_sync_handoff,
                     "Hand-off latency of each primitive between threads and between processes."),
}
assert tuple(PLOT_INFO) == PLOTS


def make_plots(results, labels, rss_mib):
    """name -> PNG bytes for each plot with data; name -> note for skipped ones."""
    plt = _plt()
    made, skipped = {}, {}
    for name, (_, family, fn, _) in PLOT_INFO.items():
        short = short_labels(results)
        fig = fn(plt, results, short, rss_mib) if fn is plot_spawn_cost else fn(plt, results, short)
        if fig is None:
            skipped[name] = f"skipped: no {family} results in " + (
                "the file" if len(results) == 1 else "any file")
            continue
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
        plt.close(fig)
        made[name] = buf.getvalue()
    return made, skipped


# ---------------------------------------------------------------- tables

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


ENV_KEYS = ("cpu_model", "logical_cpus", "physical_cores", "smt", "numa_nodes", "kernel",
            "virtualization", "governor", "turbo", "mitigations", "thp", "clocksource",
            "compiler", "cxx_flags", "build_type", "git_revision")


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
                cell += f" ({drift * 100:+.0f}%{', drifted' if abs(drift) > ir.NOISY_DRIFT else ''})"
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
            why.append(f"{n} benchmark(s) with repetition cv > {ir.NOISY_CV * 100:.0f}%")
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
    metrics = ir.PRIMARY_METRICS.get(family) or sorted(
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


# ---------------------------------------------------------------- rendering

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


def _md_cell(c: str) -> str:
    return c.replace("|", "\\|").replace("\n", " ")


def _md_table(rows) -> str:
    lines = ["| " + " | ".join(_md_cell(c) for c in rows[0]) + " |",
             "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows[1:]]
    return "\n".join(lines)


FAMILY_TITLES = {"floor": "Floors", "pingpong": "Ping-pong (round trip)",
                 "stream": "Stream (one way)", "fanin": "Fan-in", "spawn": "Worker start",
                 "compute": "Compute scaling", "pool": "Pools", "sync": "Synchronisation",
                 "state": "Shared state"}


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
        absent = [f for f in ir.FAMILY_KEYS if f != "floor" and not any(p.error is None for p in points(r, f))]
        if absent:
            items.append(("note", "No usable results for: " + ", ".join(absent) +
                          " (not in the file or every combination errored); their advice is skipped."))
        if r.noisy() or r.noisy_benchmarks():
            items.append(("warn", "This run is noisy (see Environment): treat small differences with care."))
        out.append((f"Recommendation — {labels[r.path]}", items))
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


def render_html(results, labels, recs, plots, skipped) -> str:
    title = "ipcmeter report — " + ", ".join(labels[r.path] for r in results)
    h = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
         f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
         f"<h1>{html.escape(title)}</h1>",
         "<h2>Environment</h2>", _html_table(environment_rows(results))]
    noisy = _noisy_lines(results, labels)
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
    h.append("<h2>Plots</h2>")
    for name in PLOTS:
        heading, _, _, caption = PLOT_INFO[name]
        if name in plots:
            data = base64.b64encode(plots[name]).decode("ascii")
            h.append(f"<figure id=\"{name}\"><h3>{html.escape(heading)}</h3>"
                     f"<img alt=\"{html.escape(heading)}\" src=\"data:image/png;base64,{data}\">"
                     f"<figcaption>{html.escape(caption)} ({name}.png)</figcaption></figure>")
        else:
            h.append(f"<h3>{html.escape(heading)}</h3><p class=\"note\">{html.escape(skipped[name])}</p>")
    h.append("<h2>All results</h2><p class=\"note\">Medians over repetitions; "
             "“cannot run” rows are combinations that were listed but could not be measured.</p>")
    for family in _families(results):
        rows = family_table(results, family)
        if rows:
            h.append(f"<h3>{html.escape(FAMILY_TITLES.get(family, family))}</h3>{_html_table(rows)}")
    h.append("</body></html>\n")
    return "\n".join(h)


def render_md(results, labels, recs, plots, skipped) -> str:
    title = "ipcmeter report — " + ", ".join(labels[r.path] for r in results)
    md = [f"# {title}", "", "## Environment", "", _md_table(environment_rows(results)), ""]
    noisy = _noisy_lines(results, labels)
    if noisy:
        md += ["**Noisy results**", ""] + [f"- ⚠ {x}" for x in noisy] + [""]
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
    md += ["## Plots", ""]
    for name in PLOTS:
        heading = PLOT_INFO[name][0]
        md.append(f"- {heading}: `{name}.png`" if name in plots else f"- {heading}: {skipped[name]}")
    md += ["", "## All results", ""]
    for family in _families(results):
        rows = family_table(results, family)
        if rows:
            md += [f"### {FAMILY_TITLES.get(family, family)}", "", _md_table(rows), ""]
    return "\n".join(md) + "\n"


def _families(results):
    known = list(ir.FAMILY_KEYS)
    found = dict.fromkeys(f for r in results for f in r.families())
    return [f for f in known if f in found] + [f for f in found if f not in known]


def _noisy_lines(results, labels):
    out = []
    for r in results:
        for why in r.noisy():
            out.append(f"{labels[r.path]}: {why}")
        for base, cv in r.noisy_benchmarks().items():
            out.append(f"{labels[r.path]}: {base} varies {cv * 100:.0f}% between repetitions (cv)")
    return out


# ---------------------------------------------------------------- output

def write_outputs(out_dir: str, files: dict[str, bytes]) -> None:
    """Write everything to a temporary sibling directory, then move it into place."""
    out_dir = os.path.abspath(out_dir)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.tmp-", dir=parent)
    try:
        for name, data in files.items():
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(data)
        if not os.path.exists(out_dir):
            os.rename(tmp, out_dir)
            return
        for name in files:
            os.replace(os.path.join(tmp, name), os.path.join(out_dir, name))
        for name in PLOTS:  # plots from an earlier report that this one skipped
            if f"{name}.png" not in files:
                try:
                    os.remove(os.path.join(out_dir, f"{name}.png"))
                except FileNotFoundError:
                    pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_all(paths) -> list[ir.Results]:
    results = []
    for path in paths:
        r = ir.load(path)
        benches = r.benchmarks()
        if not benches:
            raise UsageError(f"{path}: no benchmarks in the file")
        if r.all_errored():
            first = next(iter(r.errors().items()))
            raise UsageError(f"{path}: every benchmark errored, nothing to report "
                             f"(first: {first[0]}: {first[1]})")
        results.append(r)
    return results


def main(argv=None) -> int:
    ap = ir.ArgumentParser(prog=PROG, description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", metavar="RESULT.json", help="ipcmeter results file(s)")
    ap.add_argument("-o", "--output", required=True, metavar="DIR",
                    help="output directory (created; existing report files in it are replaced)")
    ap.add_argument("--rss-mib", type=float, metavar="N",
                    help="your process's resident memory in MiB, for the fork vs spawn advice "
                         "(default: advice at every measured size)")
    args = ap.parse_args(argv)
    try:
        if args.rss_mib is not None and not (args.rss_mib > 0 and math.isfinite(args.rss_mib)):
            raise UsageError(f"--rss-mib {args.rss_mib:g}: must be a positive number of MiB")
        if os.path.exists(args.output) and not os.path.isdir(args.output):
            raise UsageError(f"{args.output}: exists and is not a directory")
        results = load_all(args.results)
        labels = labels_for(results)
        recs = {r.path: recommend(r, args.rss_mib) for r in results}
        plots, skipped = make_plots(results, labels, args.rss_mib)
        files = {f"{name}.png": data for name, data in plots.items()}
        files["report.html"] = render_html(results, labels, recs, plots, skipped).encode("utf-8")
        files["summary.md"] = render_md(results, labels, recs, plots, skipped).encode("utf-8")
        write_outputs(args.output, files)
    except (ir.ResultsError, UsageError) as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"{PROG}: cannot write {args.output}: {e.strerror or e}", file=sys.stderr)
        return 2
    print(f"{PROG}: wrote {os.path.join(args.output, 'report.html')}, summary.md and "
          f"{len(plots)} plot(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
