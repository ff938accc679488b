"""Benchmark names: "family/key:value/..." <-> (family, {key: value}).

The one parser of names (contract "Benchmark names"); the loader, compare.py's tests and
the baseline check all go through it. Which segments are a family's keys is the schema's
(schema.Schema, from the results file or the binary).
"""

from __future__ import annotations

from .schema import AGGREGATE_SUFFIXES, GB_KEYS


def _value(text: str):
    try:
        return int(text)
    except ValueError:
        return text


def strip_aggregate(name: str, aggregate_name: str | None = None):
    """Return (name without the aggregate suffix, suffix or None)."""
    suffixes = (("_" + aggregate_name,) if aggregate_name else ()) + AGGREGATE_SUFFIXES
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], suffix
    return name, None


def parse_name(name: str, schema=None) -> tuple[str, dict, list]:
    """Split a benchmark name into (family, {key: value}, gb_extra_segments).

    Values that are integers become int, else str. Segments that are not
    parameters of the family (Google Benchmark's /manual_time, /repeats:N,
    /threads:N, ...) go to the extra list, and so does a trailing aggregate
    suffix ("_mean", "_median", "_stddev", "_cv"). Without a schema, or for a family it
    does not describe, every key:value segment but Google Benchmark's is a parameter.
    """
    name, suffix = strip_aggregate(name)
    segments = name.split("/")
    family = segments[0]
    known = schema.keys(family) if schema is not None else None
    params: dict = {}
    extra: list = []
    for seg in segments[1:]:
        key, sep, val = seg.partition(":")
        is_param = bool(sep) and key and key not in params and (
            key in known if known is not None else key not in GB_KEYS)
        if is_param:
            params[key] = _value(val)
        else:
            extra.append(seg)
    if suffix:
        extra.append(suffix)
    return family, params, extra


def base_name_of(family: str, params: dict) -> str:
    return "/".join([family] + [f"{k}:{v}" for k, v in params.items()])
