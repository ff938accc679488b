"""The load table: per link (transport, peer, size, wait) its saturation throughput, the highest
offered rate it sustains within a p99 budget, and its p99 at 50% and 90% of saturation (the
knee: the rate past which latency grows without bound).

The budget is 10 × the link's unloaded p50: the pingpong round trip p50 of the same link in the
same file when there is one (measured with one message in flight), else the p50 of the link's
lowest offered rate. A row the binary marked saturated (`saturated` = 1) has no meaningful
percentile and is never sustainable."""

from __future__ import annotations

from ..fmt import fmt_metric
from ..points import ok_points, points

FAMILY = "load"
LINK_KEYS = ("transport", "peer", "size", "wait")
# The p99 budget, as a multiple of the unloaded p50.
BUDGET_FACTOR = 10
# The offered percents whose p99 the table quotes (percent of saturation, the grid's own).
KNEE_SHARES = (50, 90)


def _link(p) -> tuple:
    return tuple(p.get(k) for k in LINK_KEYS)


def _label(link) -> str:
    return "/".join(f"{k}:{v}" for k, v in zip(LINK_KEYS, link) if v is not None)


def _ok(p) -> bool:
    """A row that ran, is not saturated and has its percentiles."""
    return (p.error is None and p.metrics.get("saturated") == 0
            and "lat_p50_ns" in p.metrics and "lat_p99_ns" in p.metrics)


def unloaded_p50(r, link, rows) -> tuple[float | None, str]:
    """(p50, where it comes from): pingpong's of the same link, else the lowest offered row's."""
    for p in ok_points(r, "pingpong", "rtt_p50_ns"):
        if _link(p) == link:
            return p.metrics["rtt_p50_ns"], "pingpong p50"
    ran = [p for p in rows if _ok(p) and isinstance(p.get("offered"), (int, float))]
    if ran:
        low = min(ran, key=lambda p: p.get("offered"))
        return low.metrics["lat_p50_ns"], f"p50 at offered {low.get('offered')}%"
    return None, ""


def sustainable(rows, budget_ns: float):
    """The row with the highest offered rate that is not saturated and whose p99 is within
    budget_ns, or None."""
    fit = [p for p in rows if _ok(p) and p.metrics["lat_p99_ns"] <= budget_ns
           and "offered_per_second" in p.metrics]
    return max(fit, key=lambda p: p.metrics["offered_per_second"]) if fit else None


def _p99_at(rows, share) -> str:
    at = [p for p in rows if p.get("offered") == share]
    if not at:
        return "—"
    p = at[0]
    if p.error is not None:
        return f"cannot run: {p.error}"
    if not _ok(p):
        return "saturated"
    return fmt_metric("lat_p99_ns", p.metrics["lat_p99_ns"])


def load_table(r) -> list[list[str]] | None:
    """Header plus one row per link of one results file; None when it has no load rows."""
    pts = points(r, FAMILY)
    if not pts:
        return None
    links: dict = {}
    for p in pts:
        links.setdefault(_link(p), []).append(p)
    rows = [["link", "saturation", f"unloaded p50 (p99 budget = {BUDGET_FACTOR}×)",
             "sustainable rate at the p99 budget"]
            + [f"p99 at {s}% of saturation" for s in KNEE_SHARES]]
    for link, mine in links.items():
        ran = [p for p in mine if p.error is None]
        if not ran:
            rows.append([_label(link), f"cannot run: {mine[0].error}"] + ["—"] * (2 + len(KNEE_SHARES)))
            continue
        sat = next((p.metrics["saturation_per_second"] for p in ran if "saturation_per_second" in p.metrics), None)
        ref, source = unloaded_p50(r, link, mine)
        if ref is None:
            ref_cell, best_cell = "—", "none (no unloaded p50)"
        else:
            ref_cell = f"{fmt_metric('lat_p50_ns', ref)} ({source})"
            best = sustainable(mine, BUDGET_FACTOR * ref)
            best_cell = ("none in the grid" if best is None else
                         f"{fmt_metric('offered_per_second', best.metrics['offered_per_second'])}"
                         f" ({best.get('offered')}%, p99 {fmt_metric('lat_p99_ns', best.metrics['lat_p99_ns'])})")
        rows.append([_label(link), "—" if sat is None else fmt_metric("saturation_per_second", sat),
                     ref_cell, best_cell] + [_p99_at(mine, s) for s in KNEE_SHARES])
    return rows
