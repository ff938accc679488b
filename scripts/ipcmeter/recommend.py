"""The report's advice, computed from the measured numbers and quoting them.

Per message-size band the lowest-latency option, the cheapest in CPU, the highest
throughput and the queue / pipe / shared-memory verdict; fork vs spawn at a memory size;
threads vs processes; the cheapest pool per task size. Which options to weigh is decided
here; what the repetitions support is rules.py's call.
"""

from __future__ import annotations

import numpy as np

from . import results as ir
from . import rules as rc
from .fmt import fmt_bps, fmt_metric, fmt_ns, fmt_size
from .points import (BANDS, Point, logical_cpus, ok_points, peer_sorter, points,
                     representative_size, sort_key)

# Preferred peer for the kind verdict: queues, pipes and shm matter most
# between processes.
VERDICT_PEERS = ("fork", "spawn", "forkserver", "thread")


def _claim(kind, text, **numbers):
    return {"kind": kind, "text": text, **numbers}


def _rank(pts, metric, keys=("transport", "peer", "wait")):
    """(Ranking of the points that have `metric`, the point that ranks first), or None."""
    pts = [p for p in pts if metric in p.metrics]
    if not pts:
        return None
    opts = [p.option(metric, keys) for p in pts]
    higher = pts[0].higher_is_better(metric)
    if higher is None:
        raise ValueError(f"{metric} is a fact of the row, not better or worse: nothing to rank by")
    rk = rc.Ranking(opts, higher)
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
    return scaling_claims(r, ok_points(r, "compute", "speedup"))


def scaling_claims(r: ir.Results, pts: list[Point]) -> list[dict]:
    """recommend_scaling's claims for any points with speedup, kernel, peer and workers (the
    CPython section asks the same question of py_compute's rows, one interpreter at a time)."""
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
        by_peer = peer_sorter([r])
        over = [p for p in sound if cpus is not None and p.get("workers") > cpus]
        if over:
            most = max(p.get("workers") for p in over)
            at = sorted((p for p in over if p.get("workers") == most), key=lambda p: by_peer(p.get("peer")))
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
    """The advice; "python" is the CPython section (cpython.py, which asks its questions with
    this module's functions, hence imported here), None for a file without CPython rows."""
    from .cpython import cpython_section
    return {"bands": recommend_bands(r), "spawn": recommend_spawn(r, rss_mib),
            "scaling": recommend_scaling(r), "pool": recommend_pool(r),
            "python": cpython_section(r, rss_mib)}
