"""How the report writes numbers: times, rates, sizes, each metric by its unit."""

from __future__ import annotations

import math


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
