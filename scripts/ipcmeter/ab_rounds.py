"""ab.py's rounds: the ABBA order, each run's and floor probe's argv, and the two results
files made from the rounds (every repetition renumbered, plus ipcmeter.ab describing the
pairing and the probes that compare.py's paired test reads)."""

import copy
import statistics

from .results import is_positive_number

SIDES = {"A": "baseline", "B": "candidate"}
# The gate's CI configuration; .github/workflows/ipcmeter-gate.yml and gate_trials.py
# use the same numbers (tests/scripts/test_ab.py checks that they agree).
# One repetition per run and many rounds: a run's repetitions share its machine state, so
# they hardly narrow the run-to-run spread that the paired test sees (docs/ci-gate.md,
# "Rounds or repetitions").
ROUNDS = 20
REPETITIONS = 1
# The floor probe run with the baseline binary around every run (see the docstring).
PROBE_FILTER = "^floor/probe:c2c_rtt(/|$)"
PROBE_BENCHMARK = "floor/probe:c2c_rtt"
PROBE_STATISTIC = ("median of floors.c2c_rtt_ns, the %s benchmark's rtt_p50_ns and "
                   "floors_end.c2c_rtt_ns of one run of the baseline binary"
                   % PROBE_BENCHMARK)


def abba(rounds):
    """[(round, side), ...]: A B | B A | A B | ..."""
    order = []
    for r in range(rounds):
        order += [(r, s) for s in (("A", "B") if r % 2 == 0 else ("B", "A"))]
    return order


def run_argv(binary, profile, filt, repetitions, out_file, extra):
    argv = [binary, "--profile", profile]
    if filt:
        argv.append("--benchmark_filter=" + filt)
    argv += ["--benchmark_repetitions=%d" % repetitions,
             "--benchmark_out=" + out_file, "--benchmark_out_format=json"]
    return argv + list(extra)


def probe_argv(binary, profile, out_file):
    return [binary, "--profile", profile, "--benchmark_filter=" + PROBE_FILTER,
            "--benchmark_out=" + out_file, "--benchmark_out_format=json"]


def probe_value(res):
    """The witness of one probe run (ns), or None when it measured no floor."""
    values = [res.floors.get("c2c_rtt_ns"), res.floors_end.get("c2c_rtt_ns")]
    values += [r.metrics.get("rtt_p50_ns") for r in res.benchmarks().get(PROBE_BENCHMARK, [])
               if r.error is None]
    values = sorted(float(v) for v in values if is_positive_number(v))
    return statistics.median(values) if values else None


def merge(raws, per_round, role, binary, extra, pairing_id, files, probes=None):
    """One results file from the rounds of one side; `probes` is the floor_probes
    record (the same in both files, from the baseline binary)."""
    merged = copy.deepcopy(raws[0])
    rounds = len(raws)
    by_name = {}
    for r, raw in enumerate(raws):
        for entry in raw["benchmarks"]:
            if not isinstance(entry, dict) or entry.get("run_type") == "aggregate":
                continue   # per-round aggregates would mislead once rounds are pooled
            e = dict(entry)
            idx = e.get("repetition_index")
            idx = idx if isinstance(idx, int) and not isinstance(idx, bool) else 0
            e["repetition_index"] = r * per_round + idx
            e["repetitions"] = rounds * per_round
            by_name.setdefault(e.get("name"), []).append(e)
    merged["benchmarks"] = [e for entries in by_name.values() for e in entries]
    merged["ipcmeter"]["ab"] = {
        "pairing_id": pairing_id,
        "role": role,
        "binary": binary,
        "extra_args": list(extra),
        "order": "ABBA",
        "rounds": rounds,
        "repetitions_per_round": per_round,
        "round_of_repetition": "repetition_index // repetitions_per_round",
        "round_files": files,
        "round_floors": [raw["ipcmeter"].get("floors") for raw in raws],
        "round_floors_end": [raw["ipcmeter"].get("floors_end") for raw in raws],
        "round_warnings": [raw["ipcmeter"].get("warnings") for raw in raws],
    }
    if probes is not None:
        merged["ipcmeter"]["ab"]["floor_probes"] = copy.deepcopy(probes)
    return merged


def probes_record(binary, values, files):
    """ipcmeter.ab.floor_probes: probe k ran before run k (and after run k-1), so round
    r, whose runs are 2r and 2r+1, is bracketed by probes 2r, 2r+1 and 2r+2."""
    rounds = (len(values) - 1) // 2
    return {"binary": binary, "filter": PROBE_FILTER, "statistic": PROBE_STATISTIC,
            "values_ns": values, "files": files,
            "round_probes_ns": [values[2 * r:2 * r + 3] for r in range(rounds)]}
