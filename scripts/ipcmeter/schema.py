"""What the scripts know about ipcmeter's benchmarks and results format.

The facts about benchmarks (families and their keys, counters with their directions, primary
metrics, peer kinds) are the binary's: `ipcmeter --describe`, a copy of which every results
file carries as `ipcmeter.schema` (docs/contract.md). A Schema is read, per results file, from
  1. the file's own ipcmeter.schema, when it has one;
  2. else (files written before the schema existed, e.g. results/baselines/) the --describe of
     the binary: --ipcmeter-bin, else $IPCMETER_BIN, else build/ipcmeter of this repository;
  3. else PRE_SCHEMA, the table the scripts kept before --describe existed. It describes only
     files from before the schema and is used only when no binary can describe them, so that
     a report on an old file still works without a build; it never changes again.
What the results *format* itself is (Google Benchmark's fields, time units, the schema
version this reader understands) stays here. Policy (thresholds, what a report shows) lives
with the code that applies it.
"""

from __future__ import annotations

import json
import os
import subprocess

# The newest ipcmeter.schema_version the loader reads.
SCHEMA_VERSION = 1
# The newest describe_version (of --describe and ipcmeter.schema) this module reads.
DESCRIBE_VERSION = 1

# key:value segments Google Benchmark appends itself; used only for families
# the schema does not list (their keys are unknown, so everything else with
# a colon is taken as a parameter).
GB_KEYS = frozenset({"repeats", "iterations", "min_time", "min_warmup_time",
                     "threads", "process_time", "real_time", "manual_time"})

AGGREGATE_SUFFIXES = ("_mean", "_median", "_stddev", "_cv")

TIME_UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}

# Fields of a Google Benchmark run that are not user counters.
GB_FIELDS = frozenset({
    "name", "run_name", "run_type", "repetitions", "repetition_index",
    "threads", "iterations", "real_time", "cpu_time", "time_unit",
    "family_index", "per_family_instance_index", "aggregate_name",
    "aggregate_unit", "error_occurred", "error_message", "label",
    "skipped", "skip_message",
})

# floors.c2c_definition: the per-trip p50 of the best protocol (harness/core/c2c_floor.h); files
# without it used the median of batch means of one shared line, a different statistic.
C2C_DEFINITION = "per_trip_p50_best_protocol"
C2C_LEGACY_DEFINITION = "batch_mean_median_shared_line"

# What a family the schema does not describe is judged by: Google Benchmark's own time.
UNDESCRIBED_PRIMARY = ("real_time_ns",)

DEFAULT_BINARY = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "build", "ipcmeter")


class SchemaError(Exception):
    """str(e) is the one line to print (results.ResultsError wraps it with the path)."""


class Schema:
    """One description of the suite, and where it came from (`source`: "file",
    "binary PATH" or "pre-schema table")."""

    def __init__(self, describe: dict, source: str):
        problem = _problem(describe)
        if problem:
            raise SchemaError(problem)
        self.source = source
        self.raw = describe
        fams = describe["families"]
        self.family_keys = {f: tuple(k["name"] for k in d.get("keys", ())) for f, d in fams.items()}
        self.primary = {f: list(d.get("primary", ())) for f, d in fams.items()}
        self.counters = {f: dict(d.get("counters", {})) for f, d in fams.items()}
        order = describe.get("family_order")
        order = order if isinstance(order, list) else []
        self.family_order = [f for f in order if f in fams] + [f for f in fams if f not in order]
        self.peers = tuple(p for p in describe.get("peers", ()) if isinstance(p, str))

    def keys(self, family: str):
        """The family's parameter keys in name order, or None for a family not described."""
        return self.family_keys.get(family)

    def key_values(self, family: str, key: str) -> list:
        """The names a word key takes, in the order the binary lists them ([] when the
        schema does not list them)."""
        for k in self.raw["families"].get(family, {}).get("keys", ()):
            if k.get("name") == key and isinstance(k.get("values"), list):
                return [v for v in k["values"] if isinstance(v, str)]
        return []

    def primary_metrics(self, family: str) -> list:
        return list(self.primary.get(family) or UNDESCRIBED_PRIMARY)

    def required(self, family: str, metric: str) -> bool:
        """Whether every row of the family that ran carries the counter. The others may be
        left out of a run by design (a saturated load row has no latency, a VM without
        hardware counters no cycles); a counter the schema does not describe counts as
        required."""
        info = self.counters.get(family, {}).get(metric)
        return not (isinstance(info, dict) and info.get("required") is False)

    def higher_is_better(self, family: str, metric: str):
        """True, False, or None for a fact of the row (tasks, window_msgs) that is neither
        better nor worse. Direction is per family: stream's ratio_to_floor is a throughput over
        a floor, pingpong's a latency over one. A counter the schema does not describe (Google
        Benchmark's real_time_ns, cpu_time_ns, a rate of an older build) is a time unless it is
        a rate by name."""
        info = self.counters.get(family, {}).get(metric)
        if isinstance(info, dict) and "higher_is_better" in info:
            return info["higher_is_better"]
        return metric.endswith("_per_second")

    def differences(self, other: "Schema") -> list[str]:
        """What `other` (NEW) says differently from self (BASE) about what compare judges:
        primary metrics and directions, one line each."""
        out = []
        for fam in other.family_order:
            if fam not in self.counters:
                continue
            if self.primary.get(fam) != other.primary.get(fam):
                out.append("%s primary metrics %s in BASE, %s in NEW"
                           % (fam, ",".join(self.primary.get(fam, [])),
                              ",".join(other.primary.get(fam, []))))
            for metric, info in other.counters[fam].items():
                mine = self.counters[fam].get(metric)
                if isinstance(mine, dict) and isinstance(info, dict) \
                        and mine.get("higher_is_better") != info.get("higher_is_better"):
                    out.append("%s %s: higher_is_better %s in BASE, %s in NEW"
                               % (fam, metric, json.dumps(mine.get("higher_is_better")),
                                  json.dumps(info.get("higher_is_better"))))
        return out


def _problem(d) -> str | None:
    if not isinstance(d, dict):
        return "not an object"
    version = d.get("describe_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return "describe_version missing or not a positive integer"
    if version > DESCRIBE_VERSION:
        return ("written by a newer ipcmeter (describe_version %d; this tool reads up to %d)"
                % (version, DESCRIBE_VERSION))
    fams = d.get("families")
    if not isinstance(fams, dict):
        return "no \"families\" object"
    for name in ("family_order", "peers"):
        value = d.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return "%s is not a list of names" % name
    for fam, fd in fams.items():
        if not isinstance(fd, dict) or not isinstance(fd.get("keys", []), list) \
                or not all(isinstance(k, dict) and isinstance(k.get("name"), str)
                           for k in fd.get("keys", [])):
            return "family %s: keys are not a list of named keys" % fam
        if not isinstance(fd.get("counters", {}), dict):
            return "family %s: counters are not an object" % fam
        primary = fd.get("primary", [])
        if not isinstance(primary, list) or not all(isinstance(m, str) for m in primary):
            return "family %s: primary is not a list of names" % fam
        for name, info in fd.get("counters", {}).items():
            if not isinstance(info, dict) or info.get("higher_is_better", None) not in (True, False, None):
                return "family %s: counter %s has no true/false/null higher_is_better" % (fam, name)
    return None


# ---------------------------------------------------------------- the binary's description

_binary: str | None = None      # --ipcmeter-bin, set by the scripts' command lines
_described: dict = {}           # binary path -> Schema, or None when it could not describe


def use_binary(path: str | None) -> None:
    """The binary that describes files without a schema (the scripts' --ipcmeter-bin).
    A binary named this way must work: failing to describe is then an error, not a fallback."""
    global _binary
    _binary = path


def binary_path() -> tuple[str, bool]:
    """(path, named): the binary to ask, and whether the user named it (--ipcmeter-bin or
    $IPCMETER_BIN) rather than it being this repository's default build."""
    if _binary:
        return _binary, True
    env = os.environ.get("IPCMETER_BIN")
    if env:
        return env, True
    return DEFAULT_BINARY, False


def describe_of(binary: str) -> Schema:
    """`binary --describe` as a Schema; raise SchemaError saying why it could not be had."""
    if binary in _described:
        cached = _described[binary]
        if isinstance(cached, SchemaError):
            raise cached
        return cached
    try:
        try:
            p = subprocess.run([binary, "--describe"], capture_output=True, text=True,
                               timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise SchemaError("cannot run %s --describe: %s"
                              % (binary, getattr(e, "strerror", None) or e)) from None
        if p.returncode != 0:
            raise SchemaError("%s --describe exited %d" % (binary, p.returncode))
        try:
            schema = Schema(json.loads(p.stdout), "binary " + binary)
        except (ValueError, SchemaError) as e:
            raise SchemaError("%s --describe: %s" % (binary, e)) from None
    except SchemaError as e:
        _described[binary] = e
        raise
    _described[binary] = schema
    return schema


def of_results(meta: dict) -> Schema:
    """The Schema a results file is read with (see the module's docstring for the order).
    Raise SchemaError for a malformed ipcmeter.schema or a named binary that cannot describe."""
    if "schema" in meta:
        try:
            return Schema(meta["schema"], "file")
        except SchemaError as e:
            raise SchemaError("ipcmeter.schema: %s" % e) from None
    binary, named = binary_path()
    if named or os.access(binary, os.X_OK):
        try:
            return describe_of(binary)
        except SchemaError as e:
            raise SchemaError("no ipcmeter.schema in the file and %s (pass a working "
                              "--ipcmeter-bin)" % e) from None
    return PRE_SCHEMA


# ---------------------------------------------------------------- pre-schema files only

def _pre_schema_describe() -> dict:
    """The description the scripts kept before --describe existed, for pre-schema files when
    no binary can describe them. Directions corrected to what the counters meant then too
    (stream's ratio_to_floor, compute's speedup_min/_max higher is better). Frozen: a new
    family or counter goes to the binary, never here."""
    keys = {
        "pingpong": ("transport", "peer", "size", "wait"),
        "stream": ("transport", "peer", "size", "wait"),
        "fanin": ("transport", "peer", "producers", "consumers", "size"),
        "spawn": ("method", "rss_mib"),
        "compute": ("kernel", "peer", "workers"),
        "pool": ("executor", "task_us", "chunk"),
        "sync": ("primitive", "peer", "parties"),
        "state": ("access", "peer", "workers"),
        "floor": ("probe",),
    }
    primary = {
        "pingpong": ["rtt_p50_ns", "rtt_p99_ns"],
        "stream": ["bytes_per_second", "items_per_second"],
        "fanin": ["bytes_per_second", "items_per_second"],
        "spawn": ["ready_p50_ns"],
        "compute": ["speedup"],
        "pool": ["overhead_ns_per_task"],
        "sync": ["handoff_p50_ns"],
        "state": ["ns_per_op"],
        "floor": ["real_time_ns"],
    }
    higher = {"stream": ("ratio_to_floor", "ratio_to_memcpy"),
              "compute": ("speedup", "speedup_min", "speedup_max", "efficiency"),
              "state": ("ops_per_second",)}
    families = {}
    for fam, ks in keys.items():
        counters = {m: {"higher_is_better": m.endswith("_per_second"), "primary": True}
                    for m in primary[fam]}
        for m in higher.get(fam, ()):
            counters[m] = dict(counters.get(m, {"primary": False}), higher_is_better=True)
        families[fam] = {"keys": [{"name": k} for k in ks], "counters": counters,
                         "primary": primary[fam]}
    return {"describe_version": 1, "family_order": list(keys), "families": families,
            "peers": ["thread", "fork", "spawn", "forkserver"]}


PRE_SCHEMA = Schema(_pre_schema_describe(), "pre-schema table")
