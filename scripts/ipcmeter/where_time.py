"""The report's "Where the time goes" view: for each transport at one small size (64 B where
measured), the round trip's median next to what the kernel counted per message (context
switches, voluntary and involuntary, system calls) and the CPU both sides spent per message.

A latency dominated by sleeping shows as switches; one dominated by the kernel's path as
system calls; a spinning transport as CPU with neither. Counts come from the pingpong rows
(both sides' events over the timed interval / messages, a round trip being two messages).
A count the kernel would not give is "—", and the file's ipcmeter.kernel_counters says why.
"""

from __future__ import annotations

from .fmt import fmt_metric, fmt_size
from .points import ok_points, option_label, peer_sorter, sort_key

FAMILY = "pingpong"
# The size the view is about: a small message, where the fixed costs are the whole cost.
SIZE = 64
# (column heading, metric); counts per message.
COLUMNS = (("round trip p50", "rtt_p50_ns"),
           ("CPU / msg", "cpu_ns_per_msg"),
           ("switches / msg", "ctx_switches_per_msg"),
           ("voluntary / msg", "voluntary_switches_per_msg"),
           ("involuntary / msg", "involuntary_switches_per_msg"),
           ("syscalls / msg", "syscalls_per_msg"))
# The counters whose absence the note explains.
KERNEL_METRICS = ("ctx_switches_per_msg", "voluntary_switches_per_msg",
                  "involuntary_switches_per_msg", "syscalls_per_msg")


def view_size(r):
    """SIZE when the file measured pingpong there, else its smallest pingpong size; None
    when there is no usable pingpong row."""
    sizes = {p.get("size") for p in ok_points(r, FAMILY) if isinstance(p.get("size"), (int, float))}
    if not sizes:
        return None
    return SIZE if SIZE in sizes else min(sizes)


def where_time_goes(r) -> tuple[str, list[list[str]], list[str]] | None:
    """(caption, header plus one row per transport · peer · wait, notes) for one results
    file; None when it has no usable pingpong row."""
    size = view_size(r)
    if size is None:
        return None
    pts = [p for p in ok_points(r, FAMILY) if p.get("size") == size]
    by_peer = peer_sorter([r])
    pts.sort(key=lambda p: (sort_key(p.get("transport")), by_peer(p.get("peer")),
                            sort_key(p.get("wait") or "")))
    rows = [["transport · peer · wait"] + [h for h, _ in COLUMNS]]
    for p in pts:
        row = [option_label(p)]
        for _, m in COLUMNS:
            v = p.metrics.get(m)
            row.append("—" if v is None else fmt_metric(m, v))
        rows.append(row)
    caption = (f"pingpong at {fmt_size(size)}: both sides' events over the timed interval "
               "per message (a round trip is two messages); CPU is both sides' CPU time")
    if size != SIZE:
        caption += f" ({fmt_size(SIZE)} was not measured; the smallest size is shown)"
    return caption, rows, absent_notes(r, pts)


def absent_notes(r, pts) -> list[str]:
    """One sentence per kernel counter missing from some row, with the file's reason."""
    section = r.meta.get("kernel_counters")
    counters = section.get("counters") if isinstance(section, dict) else None
    notes = []
    for m in KERNEL_METRICS:
        if all(m in p.metrics for p in pts):
            continue
        why = None
        if isinstance(counters, dict) and isinstance(counters.get(m), dict):
            why = counters[m].get("why_absent")
        notes.append(f"{m} not counted: " + (why if isinstance(why, str) and why
                                              else "this file does not say why (written before "
                                                   "ipcmeter counted kernel events?)"))
    return notes
