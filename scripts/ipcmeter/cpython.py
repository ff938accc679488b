"""The report's CPython section: each py_* row beside its native analogue of the same run as
"the Python tax", and plain answers to the tutorials' questions, each only as far as the
repetitions support it.

The tax is median(Python) / median(native) of the first of the Python family's primary metrics
(the file's schema's) that the native family also counts (the native rate over the Python rate
for a rate), with the 95% interval of rules.Comparison (the recommendations' bootstrap) when
both sides have repetitions. Analogues, one fact each (same peer, size, task,
chunk, workers or parties as the Python row, and the same run):
  Queue, SimpleQueue, JoinableQueue -> pipe (a Queue is a pipe plus pickling plus a feeder
  thread); Pipe, Pipe_bytes -> socketpair (a duplex Pipe is a socketpair); Pipe_simplex -> pipe;
  shared_memory -> shm_ring wait:block (its semaphores block); queue_Queue -> tbb_queue
  between threads; Manager_* (py_state) -> state access:proxy; Pool_*, ProcessPoolExecutor ->
  pool process_pool_pipe, ThreadPoolExecutor -> thread_pool; py_sync's primitives -> sync's;
  py_spawn fork -> spawn method:fork, forkserver -> forkserver, spawn -> posix_spawn_self
  (SPAWN_WHY says why). Native rows have no forkserver peer: a forkserver child's messages are
  priced against the spawn peer (both children start without the parent's memory).
Which families and counters exist is the results' schema's (ipcmeter.schema); the question a
family answers and the native row it is weighed against are this module's.
"""

from __future__ import annotations

from . import results as ir
from . import rules as rc
from .fmt import fmt_metric, fmt_ns, fmt_size
from .points import Point, logical_cpus, ok_points, points, sort_key
from .recommend import scaling_claims, values_at

# Python family -> the native family it is weighed against (by the first of the Python
# family's primary metrics, in its schema, that the native family also counts).
NATIVE = {"py_pingpong": "pingpong", "py_stream": "stream", "py_spawn": "spawn", "py_pool": "pool",
          "py_state": "state", "py_sync": "sync"}
CHANNELS = {"Queue": "pipe", "SimpleQueue": "pipe", "JoinableQueue": "pipe", "Pipe": "socketpair",
            "Pipe_bytes": "socketpair", "Pipe_simplex": "pipe", "shared_memory": "shm_ring",
            "queue_Queue": "tbb_queue"}
NO_CHANNEL = {"Manager_Queue": "a proxy to a manager process has no native message channel "
                               "like it (py_state's Manager rows weigh the proxy against state "
                               "access:proxy)"}
# A Python row blocks in the kernel or on a semaphore: a native row that spins is not its like.
WAITS = ("block", None)
PEERS = {"thread": "thread", "fork": "fork", "spawn": "spawn", "forkserver": "spawn"}
SPAWN_METHODS = {"fork": "fork", "spawn": "posix_spawn_self", "forkserver": "forkserver"}
SPAWN_WHY = ("spawn is weighed against posix_spawn_self, not fork_exec_self: multiprocessing's "
             "spawn starts the interpreter through _posixsubprocess.fork_exec, which uses vfork "
             "on Linux (CPython 3.11's multiprocessing passes subprocess._USE_VFORK, true by "
             "default), and glibc's posix_spawn is the same clone(CLONE_VM|CLONE_VFORK) + exec: "
             "neither copies the parent's page tables as fork_exec does, so neither grows with "
             "the parent's memory that way; and it is the _self form because the interpreter, "
             "like ipcmeter's own image, is a real program to load (plain posix_spawn execs a "
             "tiny static helper)")
PRIMITIVES = {"lock": "mutex", "rlock": "recursive_mutex", "semaphore": "semaphore",
              "boundedsemaphore": "bounded_semaphore", "event": "event",
              "condition": "condition", "barrier": "barrier"}
PROCESS_PEERS = ("fork", "spawn", "forkserver")


def _norm(name) -> str:
    return "".join(c for c in str(name).lower() if c.isalnum())


def _pool_executor(executor) -> str | None:
    e = _norm(executor)
    if e.startswith("pool") or e == "processpoolexecutor":
        return "process_pool_pipe"
    return "thread_pool" if e == "threadpoolexecutor" else None


def _wanted(p: Point) -> tuple[dict | None, str]:
    """(the native row's parameters, without wait; or None) and why there is none."""
    fam = p.family
    if fam in ("py_pingpong", "py_stream"):
        ch = p.get("channel")
        if ch not in CHANNELS:
            return None, NO_CHANNEL.get(ch, f"no native analogue of channel {ch}")
        return {"transport": CHANNELS[ch], "peer": PEERS.get(p.get("peer")), "size": p.get("size")}, ""
    if fam == "py_spawn":
        method = SPAWN_METHODS.get(p.get("peer"))
        return ({"method": method, "rss_mib": p.get("rss_mib")}, "") if method else (None, "no native start like it")
    if fam == "py_pool":
        ex = _pool_executor(p.get("executor"))
        return ({"executor": ex, "task_us": p.get("task_us"), "chunk": p.get("chunk")}, "") if ex else \
            (None, f"no native pool like {p.get('executor')}")
    if fam == "py_state":
        if not str(p.get("access")).startswith("Manager_"):
            return None, "only Manager_* rows are weighed against a native row (state access:proxy)"
        return {"access": "proxy", "peer": PEERS.get(p.get("peer")), "workers": p.get("workers")}, ""
    if fam == "py_sync":
        prim = PRIMITIVES.get(_norm(p.get("primitive")))
        return ({"primitive": prim, "peer": PEERS.get(p.get("peer")), "parties": p.get("parties")}, "") \
            if prim else (None, f"no native primitive like {p.get('primitive')}")
    return None, "not weighed against a native row"


def _describe(family, params) -> str:
    return family + "/" + "/".join(f"{k}:{v}" for k, v in params.items())


def analogue(r: ir.Results, p: Point) -> tuple[Point | None, str]:
    """The native row of the same run that p is weighed against, or (None, why not)."""
    native = NATIVE.get(p.family)
    want, why = _wanted(p)
    if want is None:
        return None, why
    if native not in r.schema.family_order and not points(r, native):
        return None, f"this run does not know the {native} family"
    cands = [q for q in points(r, native) if all(q.get(k) == v for k, v in want.items())]
    if not cands:
        return None, f"no {_describe(native, want)} row in this run"
    blocking = sorted((q for q in cands if q.get("wait") in WAITS), key=lambda q: WAITS.index(q.get("wait")))
    if not blocking:
        return None, (f"{_describe(native, want)} ran only with wait "
                      + ", ".join(sorted({str(q.get('wait')) for q in cands}))
                      + ": a Python row blocks, a spinning row is not its like")
    return blocking[0], ""


def _option(p: Point, metric, label):
    return rc.Option(label, p.values[metric])


def tax_cell(py: Point, nat: Point, metric: str, higher: bool) -> tuple[str, float | None]:
    """("3.20× (95% interval 3.05×–3.41×)", ratio): how many times the Python row costs the
    native one (a rate's inverse), with the interval when both sides have repetitions."""
    a, b = _option(py, metric, "Python"), _option(nat, metric, "native")
    c = rc.Comparison(b, a, True) if higher else rc.Comparison(a, b, False)
    if c.ratio is None:
        return f"no ratio ({c.why_undecided()})", None
    text = rc.factor(c.ratio)
    if c.ci is None:
        return f"{text} (n={a.n} vs n={b.n}: no interval; a spread needs {rc.MIN_REPETITIONS} "\
               f"repetitions of each)", c.ratio
    if c.status == rc.SAME:
        return f"{text}: no measurable difference ({c.interval_text()})", c.ratio
    lo, hi = c.ci
    return f"{text} ({rc.CONFIDENCE:.0%} interval {rc.factor(lo)}–{rc.factor(hi)})", c.ratio


def py_families(r: ir.Results) -> list[str]:
    return [f for f in dict.fromkeys(list(r.schema.family_order) + r.families()) if f.startswith("py_")]


def tax_table(r: ir.Results) -> tuple[list[list[str]] | None, list[dict]]:
    """(header plus one row per Python row that ran in a family weighed against a native one,
    or None; the same as dicts for tests and the closing note)."""
    rows = [["Python row", "Python", "native analogue (same run)", "native", "the Python tax"]]
    facts = []
    for fam in py_families(r):
        if fam not in NATIVE:
            continue
        native = NATIVE[fam]
        metric = next((m for m in r.schema.primary.get(fam, ()) if m in r.schema.counters.get(native, {})), None)
        if metric is None:
            rows += [[p.base, "—", "—", "—", f"no primary counter of {fam} that {native} also counts"]
                     for p in points(r, fam) if p.error is None]
            continue
        for p in points(r, fam):
            if p.error is not None:
                continue  # listed with its reason under the table
            if metric not in p.metrics:
                rows.append([p.base, f"no {metric}", "—", "—", "—"])
                continue
            fmt = (lambda v, m=metric: fmt_metric(m, v))
            py_fig = f"{metric} {rc.figure(_option(p, metric, ''), fmt)}"
            nat, why = analogue(r, p)
            fact = {"python": p.base, "native": nat.base if nat else None, "ratio": None, "why": why}
            if nat is None:
                # No analogue by design ("none"), or one this run did not measure ("missing").
                kind = "none" if _wanted(p)[0] is None else "missing"
                rows.append([p.base, py_fig, f"{kind}: {why}", "—", "—"])
            elif nat.error is not None:
                rows.append([p.base, py_fig, nat.base, f"cannot run: {nat.error}", "—"])
                fact["why"] = nat.error
            elif metric not in nat.metrics:
                rows.append([p.base, py_fig, nat.base, f"no {metric}", "—"])
            else:
                higher = bool(p.higher_is_better(metric))
                cell, fact["ratio"] = tax_cell(p, nat, metric, higher)
                rows.append([p.base, py_fig, nat.base, rc.figure(_option(nat, metric, ""), fmt),
                             cell + (" (native rate ÷ Python rate)" if higher else "")])
            facts.append(fact)
    return (rows if len(rows) > 1 else None), facts


# ------------------------------------------------------------------ the tutorials' questions

def _by_python(pts):
    out: dict = {}
    for p in pts:
        out.setdefault(p.get("python"), []).append(p)
    return out


def _tag(name, many) -> str:
    return f"[{name}] " if many else ""


def _absent(r, family, needs) -> str | None:
    """Why the answer cannot be given from `family`'s rows, or None when some ran."""
    pts = points(r, family)
    if not pts:
        return f"no {family} rows in this run: this answer needs {needs}"
    if all(p.error is not None for p in pts):
        return f"every {family} row errored (listed below): this answer needs {needs}"
    return None


def queue_or_pipe(r) -> list[str]:
    needs = "py_pingpong rows of channel:Queue and channel:Pipe with the same peer and size"
    gone = _absent(r, "py_pingpong", needs)
    if gone:
        return [gone]
    by_py = _by_python(ok_points(r, "py_pingpong", "rtt_p50_ns"))
    out = []
    for name, pts in by_py.items():
        rows = {(p.get("channel"), p.get("peer"), p.get("size")): p for p in pts}
        pairs = sorted({(pe, s) for (ch, pe, s) in rows if ch == "Queue" and ("Pipe", pe, s) in rows},
                       key=lambda ps: (PROCESS_PEERS.index(ps[0]) if ps[0] in PROCESS_PEERS else 9,
                                       sort_key(ps[1])))
        for peer, size in pairs:
            q = rows[("Queue", peer, size)].option("rtt_p50_ns", ("channel",))
            pi = rows[("Pipe", peer, size)].option("rtt_p50_ns", ("channel",))
            c = rc.Comparison(pi, q, higher_is_better=False)
            if c.status == rc.BETTER:
                verdict = f"use Pipe, {c.gap_text('faster than Queue')}"
            elif c.status == rc.WORSE:
                verdict = f"use Queue, {c.gap_text('faster than Pipe')}"
            elif c.status == rc.SAME:
                verdict = f"no measurable difference ({c.interval_text()})"
            else:
                verdict = c.inconclusive_text()
            between = "threads" if peer == "thread" else f"{peer} processes"
            out.append(f"{_tag(name, len(by_py) > 1)}Between {between} at {fmt_size(size)}, p50 round "
                       f"trip: Pipe {rc.figure(pi, fmt_ns)} vs Queue {rc.figure(q, fmt_ns)} -> {verdict}.")
    return out or [f"no Queue and Pipe rows ran at the same peer and size: this answer needs {needs}"]


def start_method(r, rss_mib) -> list[str]:
    needs = "py_spawn rows of at least two of peer:fork, spawn, forkserver"
    gone = _absent(r, "py_spawn", needs)
    if gone:
        return [gone]
    by_py = _by_python(ok_points(r, "py_spawn", "ready_p50_ns"))
    out = []
    for name, pts in by_py.items():
        curves: dict = {}
        for p in pts:
            if isinstance(p.get("rss_mib"), (int, float)):
                curves.setdefault(p.get("peer"), []).append((p.get("rss_mib"), p.values["ready_p50_ns"]))
        if len(curves) < 2:
            out.append(f"{_tag(name, len(by_py) > 1)}only {', '.join(map(str, curves)) or 'no'} start "
                       f"method ran: this answer needs {needs}")
            continue
        measured = sorted({x for c in curves.values() for x, _ in c})
        for size in ([rss_mib] if rss_mib is not None else measured):
            at = {m: values_at(c, size) for m, c in curves.items()}
            rk = rc.Ranking([rc.Option(m, v) for m, (v, _) in at.items()], higher_is_better=False)
            how = ""
            if rss_mib is not None:
                how = (" (outside the measured range; nearest measurement used)" if any(o for _, o in at.values())
                       else "" if size in measured else " (interpolated between measured sizes)")
            pick = f" -> use {rk.best.label}" if rk.status == rc.BETTER else ""
            out.append(f"{_tag(name, len(by_py) > 1)}At {size:g} MiB parent memory{how}, Process.start() "
                       f"-> the child's first message: {rk.sentence(fmt_ns, 'slower')}{pick}.")
    return out


def threads_or_processes(r) -> list[str]:
    needs = ("py_compute rows of kernel:pure with peer:thread and a process peer at the same "
             "workers (more than 1, at most the CPUs)")
    gone = _absent(r, "py_compute", needs)
    if gone:
        return [gone]
    by_py = _by_python(ok_points(r, "py_compute", "speedup"))
    out = []
    for name, pts in by_py.items():
        claims = scaling_claims(r, pts)
        for c in claims:
            lead = ("CPU-bound pure Python (the GIL held) — " if c.get("kernel") == "pure" else
                    "Work in C that releases the GIL — " if c.get("kernel") == "released" else "")
            out.append(f"{_tag(name, len(by_py) > 1)}{lead}{c['text']}")
        if not any(c["kind"] == "scaling" and c.get("kernel") == "pure" for c in claims):
            out.append(f"{_tag(name, len(by_py) > 1)}no verdict for kernel:pure: this answer needs {needs}")
    return out


def _fewest(options: list[tuple[object, rc.Option]], higher: bool):
    """(x, comparison or None, best x): options sorted by x; x is the smallest whose option is
    not measurably worse than the best one, the comparison how it stands against the best (None
    when it is the best). When that first option is undecided against the best, x is it and the
    comparison's status is INCONCLUSIVE."""
    best_x, best = max(options, key=lambda xo: xo[1].median if higher else -xo[1].median)
    for x, o in options:
        if x == best_x:
            return x, None, best_x
        c = rc.Comparison(o, best, higher)
        if c.status != rc.WORSE:
            return x, c, best_x
    return best_x, None, best_x


def how_many_processes(r) -> list[str]:
    needs = "py_compute rows of a process peer (fork, spawn or forkserver) at several workers"
    gone = _absent(r, "py_compute", needs)
    if gone:
        return [gone]
    cpus = logical_cpus(r)
    on = f" on {cpus} CPUs" if cpus else ""
    fmt = (lambda v: fmt_metric("speedup", v))
    by_py = _by_python(ok_points(r, "py_compute", "speedup"))
    out = []
    for name, pts in by_py.items():
        tag = _tag(name, len(by_py) > 1)
        for kernel in sorted({p.get("kernel") for p in pts}, key=str):
            mine = [p for p in pts if p.get("kernel") == kernel and p.get("peer") in PROCESS_PEERS
                    and isinstance(p.get("workers"), int)
                    and rc.superlinear(p.metrics["speedup"], p.get("workers"), cpus) is None]
            peers = [q for q in PROCESS_PEERS if sum(p.get("peer") == q for p in mine) > 1]
            if not peers:
                out.append(f"{tag}{kernel}: {needs}")
                continue
            peer = peers[0]
            opts = sorted(((p.get("workers"), p.option("speedup", ("peer",))) for p in mine
                           if p.get("peer") == peer), key=lambda xo: xo[0])
            x, c, best_x = _fewest(opts, higher=True)
            best = dict(opts)[best_x]
            head = f"{tag}{kernel}, {peer} processes{on}: "
            if c is not None and c.status != rc.SAME:
                out.append(head + f"{x} workers {rc.figure(c.a, fmt)} against the highest "
                           f"speedup, {best_x} workers {rc.figure(best, fmt)}: {c.inconclusive_text()}.")
            elif c is None:
                out.append(head + f"{x} workers, speedup {rc.figure(best, fmt)}, the highest measured"
                           + (f", measurably above every fewer" if x != opts[0][0] else "") + ".")
            else:
                out.append(head + f"{x} workers, speedup {rc.figure(c.a, fmt)}; more add no measurable "
                           f"speedup (the highest, {best_x} workers: {rc.figure(best, fmt)}; "
                           f"{c.interval_text()}).")
    return out


def pool_chunksize(r) -> list[str]:
    needs = "py_pool rows of executor Pool_map at several chunk values for one task_us"
    gone = _absent(r, "py_pool", needs)
    if gone:
        return [gone]
    fmt = fmt_ns
    pts = [p for p in ok_points(r, "py_pool", "overhead_ns_per_task") if _norm(p.get("executor")) == "poolmap"
           and isinstance(p.get("task_us"), (int, float)) and p.get("task_us") > 0
           and isinstance(p.get("chunk"), int)]
    by_py = _by_python(pts)
    out = []
    for name, mine in by_py.items():
        tag = _tag(name, len(by_py) > 1)
        for peer, task in sorted({(p.get("peer"), p.get("task_us")) for p in mine},
                                 key=lambda pt: (str(pt[0]), pt[1])):
            at = sorted((p for p in mine if p.get("peer") == peer and p.get("task_us") == task),
                        key=lambda p: p.get("chunk"))
            limit = rc.EQUIVALENCE * task * 1e3
            head = f"{tag}Pool.map, {peer} workers, tasks of {task:g} µs: "
            found = None
            for p in at:
                o = p.option("overhead_ns_per_task", ("executor", "chunk"))
                # The margin as an option with as many values as the rule needs: the verdict is
                # then the overhead's own spread against a fixed line.
                margin = rc.Option("5% of the task", [limit] * max(o.n, rc.MIN_REPETITIONS))
                c = rc.Comparison(o, margin, higher_is_better=False)
                if c.status == rc.BETTER:
                    found = (p, o, c)
                    break
                if c.status == rc.INCONCLUSIVE:
                    found = (p, o, c)
                    break
            if found is None:
                low = min(at, key=lambda p: p.metrics["overhead_ns_per_task"])
                o = low.option("overhead_ns_per_task", ("chunk",))
                out.append(head + f"no measured chunksize makes the overhead negligible (measurably "
                           f"under {rc.EQUIVALENCE:.0%} of the task, {fmt(limit)}); the lowest, chunksize "
                           f"{low.get('chunk')}: {rc.figure(o, fmt)} per task, "
                           f"{o.median / (task * 1e3):.0%} of the task.")
                continue
            p, o, c = found
            share = f"{o.median / (task * 1e3):.1%} of the task"
            if c.status == rc.BETTER:
                out.append(head + f"chunksize {p.get('chunk')} is the smallest measured that makes "
                           f"the overhead negligible: {rc.figure(o, fmt)} per task ({share}), "
                           f"{c.gap_text('under')} the {rc.EQUIVALENCE:.0%} line ({fmt(limit)}).")
            else:
                out.append(head + f"chunksize {p.get('chunk')}: {rc.figure(o, fmt)} per task ({share}) "
                           f"against the {rc.EQUIVALENCE:.0%} line ({fmt(limit)}): {c.inconclusive_text()}.")
    return out or [f"no Pool_map rows ran: this answer needs {needs}"]


QUESTIONS = (("Queue or Pipe?", queue_or_pipe),
             ("Which start method at your memory size?", None),
             ("Threads or processes for CPU-bound pure Python (the GIL)?", threads_or_processes),
             ("How many processes on this many cores?", how_many_processes),
             ("What chunksize makes Pool.map's overhead negligible?", pool_chunksize))


def interpreters(r) -> list[str]:
    """One line per ipcmeter.python[] entry."""
    out = []
    entries = r.meta.get("python")
    for e in entries if isinstance(entries, list) else []:
        if not isinstance(e, dict):
            continue
        name = e.get("name") or e.get("version") or "?"
        where = e.get("executable") or e.get("path") or "unknown path"
        if e.get("error"):
            out.append(f"{name}: {e.get('path') or where}: cannot run: {e['error']}")
            continue
        gil = {True: "GIL enabled", False: "GIL disabled"}.get(e.get("gil_enabled"), "GIL unknown")
        if e.get("free_threaded") is True:
            gil = "free-threaded build, " + gil
        timer = e.get("timer_ns")
        timer = f"perf_counter_ns costs {fmt_ns(timer)}" if ir.is_number(timer) else "timer cost unknown"
        out.append(f"{name}: {where} ({e.get('implementation') or 'implementation unknown'} "
                   f"{e.get('version') or ''}, {gil}, {timer})".replace(" ,", ","))
    return out


def errored(r) -> list[str]:
    return [f"{p.base}: {p.error}" for fam in py_families(r) for p in points(r, fam) if p.error is not None]


def cpython_section(r: ir.Results, rss_mib: float | None = None) -> dict | None:
    """What the report shows for one file's CPython rows, or None when it has none:
    interpreters, tax (table rows or None), notes, answers [(question, [lines])], errors."""
    if not any(points(r, f) for f in py_families(r)):
        return None
    heads = interpreters(r)
    table, _ = tax_table(r)
    notes = ["The tax is the Python row's median over its native analogue's (for a stream, the "
             "native rate over the Python rate); with repetitions on both sides, the 95% interval "
             "of that ratio, and \"no measurable difference\" when it includes 1 or lies within "
             f"±{rc.EQUIVALENCE:.0%}.",
             "Analogues: Queue, SimpleQueue, JoinableQueue ↔ pipe (a Queue is a pipe plus pickling "
             "plus a feeder thread); Pipe, Pipe_bytes ↔ socketpair; Pipe_simplex ↔ pipe; "
             "shared_memory ↔ shm_ring wait:block; queue_Queue ↔ tbb_queue; Manager_* ↔ state "
             "access:proxy; Pool_*, ProcessPoolExecutor ↔ pool process_pool_pipe, "
             "ThreadPoolExecutor ↔ thread_pool; py_sync ↔ sync of the same primitive; same peer, "
             "size, task, chunk, workers or parties. ipcmeter's native rows have no forkserver "
             "peer: a forkserver child's messages are weighed against the spawn peer (neither "
             "child holds the parent's memory).",
             f"Start methods: fork ↔ spawn method:fork, forkserver ↔ forkserver; {SPAWN_WHY}.",
             "py_compute is not in the table (a speedup is not a cost): it answers the questions "
             "about the GIL and the number of processes below."]
    answers = []
    for q, fn in QUESTIONS:
        answers.append((q, start_method(r, rss_mib) if fn is None else fn(r)))
    return {"interpreters": heads, "tax": table, "notes": notes, "answers": answers,
            "errors": errored(r)}
