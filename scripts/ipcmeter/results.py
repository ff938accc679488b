"""Load an ipcmeter results file into records.

The one place that reads the results format (Google Benchmark JSON plus the
top-level "ipcmeter" object, see docs/contract.md): benchmark names become
fields (names.py), time fields are normalised to nanoseconds, repetitions and
aggregates are told apart, and every problem with the file becomes a
ResultsError whose str() is the one line a command prints before exiting 2.
The facts it applies come from the file's schema (schema.of_results: its ipcmeter.schema, else
the binary's --describe), kept on the Results as .schema for the code that judges them.
"""

from __future__ import annotations

import json
import lzma
import math
import os
import statistics
from dataclasses import dataclass, field

from .names import base_name_of, parse_name, strip_aggregate
from .schema import (C2C_LEGACY_DEFINITION, GB_FIELDS, SCHEMA_VERSION, TIME_UNIT_NS, Schema,
                     SchemaError, of_results)

# A repetition coefficient of variation above this marks a result noisy.
NOISY_CV = 0.10
# Floors drifting more than this between start and end mark the run noisy.
NOISY_DRIFT = 0.20
# A results file may be xz-compressed (gate_trials.py keeps its trials' files that way).
XZ_MAGIC = b"\xfd7zXZ\x00"


class ResultsError(Exception):
    """str(e) is the one line to print"""


@dataclass
class Record:
    name: str
    base_name: str
    family: str
    params: dict
    run_type: str
    aggregate_name: str | None
    repetition_index: int | None
    error: str | None
    metrics: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Results:
    path: str
    raw: dict
    meta: dict
    env: dict
    floors: dict
    floors_end: dict
    placement: dict
    transports: dict
    warnings: list
    profile: str | None
    host: str
    date: str
    records: list
    schema: Schema
    _cache: tuple | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def context(self) -> dict:
        """Google Benchmark's "context" object ({} when the file has none)."""
        return as_dict(self.raw.get("context"))

    @property
    def label(self) -> str:
        return f"{self.host} · {self.date}" if self.date else self.host

    def families(self) -> list[str]:
        """Families present, in file order."""
        seen: dict = {}
        for r in self.records:
            seen.setdefault(r.family, None)
        return list(seen)

    def _index(self):
        # Built once per Results; records are not expected to change after load().
        if self._cache is None:
            benches: dict[str, list[Record]] = {}
            aggs: dict[str, dict[str, Record]] = {}
            for r in self.records:
                if r.run_type == "aggregate":
                    if r.aggregate_name:
                        aggs.setdefault(r.base_name, {})[r.aggregate_name] = r
                else:
                    benches.setdefault(r.base_name, []).append(r)
            # Results written with --benchmark_report_aggregates_only have no
            # iterations; keep an errored benchmark visible through its aggregate.
            for r in self.records:
                if r.run_type == "aggregate" and r.base_name not in benches and r.error:
                    benches[r.base_name] = [r]
            for recs in benches.values():
                recs.sort(key=lambda r: r.repetition_index or 0)
            self._cache = (benches, aggs)
        return self._cache

    def benchmarks(self) -> dict[str, list[Record]]:
        """base_name -> iteration records (repetitions), errors included."""
        return {k: list(v) for k, v in self._index()[0].items()}

    def aggregates(self, base_name: str) -> dict[str, Record]:
        """aggregate_name -> aggregate record for one benchmark."""
        return dict(self._index()[1].get(base_name, {}))

    def errors(self) -> dict[str, str]:
        """base_name -> error message, for benchmarks that could not run."""
        out: dict[str, str] = {}
        for base, recs in self.benchmarks().items():
            if recs and all(r.error for r in recs):
                out[base] = recs[0].error
        return out

    def all_errored(self) -> bool:
        benches = self.benchmarks()
        return all(all(r.error for r in recs) for recs in benches.values())

    def summary(self, metric: str) -> dict[str, float]:
        """base_name -> median over repetitions (or the single value), errors skipped."""
        out: dict[str, float] = {}
        for base, recs in self.benchmarks().items():
            values = [r.metrics[metric] for r in recs
                      if r.error is None and metric in r.metrics]
            if values:
                out[base] = float(statistics.median(values))
                continue
            aggs = self.aggregates(base)
            for agg in ("median", "mean"):
                rec = aggs.get(agg)
                if rec and rec.error is None and metric in rec.metrics:
                    out[base] = rec.metrics[metric]
                    break
        return out

    def cv(self, metric: str) -> dict[str, float]:
        """base_name -> coefficient of variation over repetitions (0.12 = 12%).

        Taken from the "_cv" aggregate when present, else computed from two or
        more repetitions; benchmarks with one run are absent.
        """
        out: dict[str, float] = {}
        for base, recs in self.benchmarks().items():
            agg = self.aggregates(base).get("cv")
            if agg is not None and metric in agg.metrics:
                out[base] = abs(agg.metrics[metric])
                continue
            values = [r.metrics[metric] for r in recs
                      if r.error is None and metric in r.metrics]
            if len(values) >= 2:
                mean = statistics.fmean(values)
                if mean:
                    out[base] = abs(statistics.stdev(values) / mean)
        return out

    def transport_kind(self, transport: str) -> str | None:
        info = self.transports.get(transport)
        if isinstance(info, dict) and isinstance(info.get("kind"), str):
            return info["kind"]
        return None

    def floor_drift(self) -> dict[str, float]:
        """floor key -> relative change from start to end (0.33 = 33%)."""
        out: dict[str, float] = {}
        for key, start in self.floors.items():
            end = self.floors_end.get(key)
            if (is_number(start) and is_number(end) and start):
                out[key] = (end - start) / start
        return out

    def c2c_floor_ns(self) -> float | None:
        """The run's core-to-core floor, or the floor/probe:c2c_rtt row's per-trip p50 when the
        floors are missing; never that row's time, a mean, which a p50 must not be divided by."""
        value = self.floors.get("c2c_rtt_ns")
        if is_number(value) and value > 0:
            return float(value)
        return self.summary("rtt_p50_ns").get("floor/probe:c2c_rtt")

    def c2c_definition(self) -> str:
        """What floors.c2c_rtt_ns means: C2C_DEFINITION, or C2C_LEGACY_DEFINITION for files
        written before the floor was a per-trip p50 (they carry no c2c_definition)."""
        value = self.floors.get("c2c_definition")
        return value if isinstance(value, str) else C2C_LEGACY_DEFINITION

    def noisy(self) -> list[str]:
        """Why this run as a whole is noisy (empty when it is not)."""
        reasons = [str(w) for w in self.warnings]
        for key, drift in self.floor_drift().items():
            if any(key in w for w in reasons):
                continue  # the run already warned about this floor
            if abs(drift) > NOISY_DRIFT:
                reasons.append(f"floor {key} drifted {abs(drift) * 100:.0f}% "
                               f"({self.floors[key]:g} -> {self.floors_end[key]:g})")
        return reasons

    def noisy_benchmarks(self) -> dict[str, float]:
        """base_name -> largest repetition cv of its primary metrics, when > 10%."""
        out: dict[str, float] = {}
        for family, metrics in self.schema.primary.items():
            for metric in metrics:
                for base, cv in self.cv(metric).items():
                    if base.split("/", 1)[0] == family and cv > NOISY_CV:
                        out[base] = max(cv, out.get(base, 0.0))
        return out


def is_number(value) -> bool:
    """A finite int or float (not a bool); an integer too large for a float is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def is_positive_number(value) -> bool:
    return is_number(value) and value > 0


def as_dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _record(entry, index: int, path: str, schema: Schema) -> Record:
    where = f"{path}: benchmarks[{index}]"
    if not isinstance(entry, dict):
        raise ResultsError(f"{where}: not an object")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise ResultsError(f"{where}: no benchmark name")
    where = f"{path}: benchmark {name!r}"
    run_type = entry.get("run_type", "iteration")
    if not isinstance(run_type, str):
        raise ResultsError(f"{where}: run_type is not a string")
    aggregate_name = entry.get("aggregate_name") if run_type == "aggregate" else None
    if aggregate_name is not None and not isinstance(aggregate_name, str):
        raise ResultsError(f"{where}: aggregate_name is not a string")
    stripped = name
    if run_type == "aggregate":
        stripped, suffix = strip_aggregate(name, aggregate_name)
        if aggregate_name is None and suffix:
            aggregate_name = suffix[1:]
    family, params, _extra = parse_name(stripped, schema)
    rep = entry.get("repetition_index")
    rep = rep if isinstance(rep, int) and not isinstance(rep, bool) else None

    error = None
    if entry.get("error_occurred") or entry.get("skipped") in ("error", "error_occurred"):
        msg = entry.get("error_message", entry.get("skip_message"))
        # One line: the message is quoted in refusals and in the reports' tables.
        error = " ".join(str(msg).split()) if msg not in (None, "") else ""
        error = error or "no reason given"

    unit = entry.get("time_unit", "ns")
    if not isinstance(unit, str) or unit not in TIME_UNIT_NS:
        raise ResultsError(f"{where}: unknown time_unit {unit!r}")
    # A "_cv" aggregate holds plain fractions in its time fields.
    scale = 1.0 if entry.get("aggregate_unit") == "percentage" else TIME_UNIT_NS[unit]

    metrics: dict[str, float] = {}
    for key, value in entry.items():
        if key in GB_FIELDS and key not in ("real_time", "cpu_time", "iterations"):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        try:
            value = float(value)
        except OverflowError:
            raise ResultsError(f"{where}: {key} is out of range") from None
        if math.isnan(value):
            continue  # GB writes NaN for statistics it could not compute
        if math.isinf(value):
            raise ResultsError(f"{where}: {key} is out of range")
        if key == "real_time":
            metrics["real_time_ns"] = value * scale
        elif key == "cpu_time":
            metrics["cpu_time_ns"] = value * scale
        else:
            metrics[key] = value
    return Record(name=name, base_name=base_name_of(family, params),
                  family=family, params=params, run_type=run_type,
                  aggregate_name=aggregate_name, repetition_index=rep,
                  error=error, metrics=metrics)


def _read_json(path: str):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ResultsError(f"{path}: is a directory, not a results file") from None
    except OSError as e:
        raise ResultsError(f"{path}: cannot read: {e.strerror or e}") from None
    if data.startswith(XZ_MAGIC):
        try:
            data = lzma.decompress(data)
        except lzma.LZMAError as e:
            raise ResultsError(f"{path}: damaged xz data: {e}") from None
    if not data.strip():
        raise ResultsError(f"{path}: empty file, not an ipcmeter results file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ResultsError(f"{path}: not UTF-8 text (byte {e.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        hint = ""
        if e.pos >= len(text.rstrip()) or e.msg.startswith("Unterminated"):
            hint = " (the file ends early: truncated?)"
        raise ResultsError(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: "
                           f"{e.msg}{hint}") from None
    except RecursionError:
        raise ResultsError(f"{path}: JSON nested too deeply") from None
    except ValueError as e:  # e.g. an integer with more digits than Python converts
        raise ResultsError(f"{path}: unreadable number in JSON: {e}") from None


def read_document(path):
    """The file's JSON as it is, for a tool that rewrites a results file whole (mpi_rows.py
    merging its launches' rows); a file that cannot be read or parsed raises ResultsError,
    as load() does."""
    return _read_json(path)


def load(path) -> Results:
    """Read and check one results file; raise ResultsError on any problem."""
    path = os.fspath(path)
    raw = _read_json(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("benchmarks"), list):
        raise ResultsError(f"{path}: not a Google Benchmark results file (no \"benchmarks\" list)")
    meta = raw.get("ipcmeter")
    if not isinstance(meta, dict):
        raise ResultsError(f"{path}: not an ipcmeter results file (no \"ipcmeter\" object)")
    version = meta.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ResultsError(f"{path}: ipcmeter.schema_version missing or not an integer")
    if version > SCHEMA_VERSION:
        raise ResultsError(f"{path}: written by a newer ipcmeter (schema_version {version}; "
                           f"this tool reads up to {SCHEMA_VERSION})")
    if version < 1:
        raise ResultsError(f"{path}: invalid ipcmeter.schema_version {version}")
    try:
        schema = of_results(meta)
    except SchemaError as e:
        raise ResultsError(f"{path}: {e}") from None
    try:
        records = [_record(e, i, path, schema) for i, e in enumerate(raw["benchmarks"])]
    except RecursionError:
        raise ResultsError(f"{path}: JSON nested too deeply") from None
    context = as_dict(raw.get("context"))
    env = as_dict(meta.get("env"))
    host = env.get("hostname") or context.get("host_name") or os.path.basename(path)
    warnings = meta.get("warnings")
    profile = meta.get("profile")
    return Results(
        path=path, raw=raw, meta=meta, env=env,
        floors=as_dict(meta.get("floors")), floors_end=as_dict(meta.get("floors_end")),
        placement=as_dict(meta.get("placement")), transports=as_dict(meta.get("transports")),
        warnings=list(warnings) if isinstance(warnings, list) else [],
        profile=profile if isinstance(profile, str) else None,
        host=str(host), date=str(context.get("date") or ""), records=records, schema=schema)
