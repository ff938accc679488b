"""The placement table: each link's round trip at every `where`, beside the core-to-core floor
of the same CPUs, so "other core costs N× same CPU" is read off one row."""

from __future__ import annotations

from ..fmt import fmt_metric
from ..points import points

FAMILY = "placement"
LINK_KEYS = ("transport", "peer", "size", "wait")


def _wheres(r, pts):
    """The `where` values in the order the binary lists them, then any others seen."""
    described = r.schema.key_values(FAMILY, "where")
    seen = list(dict.fromkeys(p.get("where") for p in pts if p.get("where") is not None))
    return [w for w in described if w in seen] + [w for w in seen if w not in described]


def _floor_heading(r, where):
    f = (r.floors.get("c2c_by_placement") or {}).get(where)
    if not isinstance(f, dict):
        return where
    if f.get("lacking"):
        return f"{where} (none here)"
    ns = f.get("c2c_rtt_ns")
    return f"{where} (floor {fmt_metric('c2c_rtt_ns', ns)})" if isinstance(ns, (int, float)) else f"{where} (no floor)"


def placement_table(r) -> list[list[str]] | None:
    """Header plus one row per link of one results file; None when it has no placement rows."""
    pts = points(r, FAMILY)
    if not pts:
        return None
    wheres = _wheres(r, pts)
    links: dict = {}
    for p in pts:
        link = "/".join(f"{k}:{p.get(k)}" for k in LINK_KEYS if p.get(k) is not None)
        links.setdefault(link, {})[p.get("where")] = p
    rows = [["link (p50 round trip, × the floor of its CPUs)"] + [_floor_heading(r, w) for w in wheres]]
    for link, by_where in links.items():
        row = [link]
        for w in wheres:
            p = by_where.get(w)
            if p is None:
                row.append("—")
            elif p.error is not None:
                row.append(f"cannot run: {p.error}")
            elif "rtt_p50_ns" not in p.metrics:
                row.append("—")
            else:
                cell = fmt_metric("rtt_p50_ns", p.metrics["rtt_p50_ns"])
                ratio = p.metrics.get("ratio_to_floor")
                row.append(cell + (f" (×{ratio:.1f})" if isinstance(ratio, (int, float)) else ""))
        rows.append(row)
    return rows
