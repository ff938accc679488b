"""What the scripts know about ipcmeter's benchmarks and results format.

Every list here is a fact of the binary (docs/contract.md), kept in this one module so
that reading them from `ipcmeter --describe` or the results file's own description later
changes this file and nothing else. Policy (thresholds, what a report shows) lives with
the code that applies it.
"""

from __future__ import annotations

# The newest ipcmeter.schema_version the loader reads.
SCHEMA_VERSION = 1

# Parameter keys per family, in name order (contract "Benchmark names").
# Any other segment is Google Benchmark's own (manual_time, repeats:N, ...).
FAMILY_KEYS = {
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

# key:value segments Google Benchmark appends itself; used only for families
# the contract does not list (their keys are unknown, so everything else with
# a colon is taken as a parameter).
GB_KEYS = frozenset({"repeats", "iterations", "min_time", "min_warmup_time",
                     "threads", "process_time", "real_time", "manual_time"})

AGGREGATE_SUFFIXES = ("_mean", "_median", "_stddev", "_cv")

PRIMARY_METRICS = {
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

HIGHER_IS_BETTER = frozenset({"bytes_per_second", "items_per_second",
                              "ops_per_second", "speedup", "efficiency",
                              "ratio_to_memcpy"})

TIME_UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}

# Fields of a Google Benchmark run that are not user counters.
GB_FIELDS = frozenset({
    "name", "run_name", "run_type", "repetitions", "repetition_index",
    "threads", "iterations", "real_time", "cpu_time", "time_unit",
    "family_index", "per_family_instance_index", "aggregate_name",
    "aggregate_unit", "error_occurred", "error_message", "label",
    "skipped", "skip_message",
})

# floors.c2c_definition: the per-trip p50 of the best protocol (harness/c2c_floor.h); files
# without it used the median of batch means of one shared line, a different statistic.
C2C_DEFINITION = "per_trip_p50_best_protocol"
C2C_LEGACY_DEFINITION = "batch_mean_median_shared_line"

# Peer kinds, in the order reports list them.
PEER_ORDER = ("thread", "fork", "spawn", "forkserver")


def is_higher_better(metric: str) -> bool:
    return metric in HIGHER_IS_BETTER or metric.endswith("_per_second")
