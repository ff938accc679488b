"""ab.py's rounds: the ABBA order, the slices a round's runs are cut into, each run's and
floor probe's argv, and the two results files made from the rounds (every repetition
renumbered, plus ipcmeter.ab describing the pairing and the probes that compare.py's paired
test reads)."""

import copy
import re
import statistics

from . import schema
from .results import is_positive_number

SIDES = {"A": "baseline", "B": "candidate"}
# The gate's CI configuration; .github/workflows/ipcmeter-gate.yml and gate_trials.py
# use the same numbers (tests/scripts/test_ab.py checks that they agree).
# One repetition per run and many rounds: a run's repetitions share its machine state, so
# they hardly narrow the run-to-run spread that the paired test sees (docs/ci-gate.md,
# "Rounds or repetitions").
ROUNDS = 20
REPETITIONS = 1
# Runs per build and round: 1 runs the whole profile at once. With N > 1 a round runs N
# pairs of runs, one per slice of the families, so both builds' copy of a row is measured
# seconds apart instead of a whole run apart (docs/ci-gate.md, "Slices").
SLICES = 1
# Focus rounds: after the rounds of the whole profile, FOCUS_ROUNDS more pairs of short runs
# of only the rows FOCUS matches, and those rows are judged on these rounds alone. In a
# short run the two builds' copies of a row are seconds apart instead of a whole run, and
# the sub-microsecond round trips that the host's vCPU placement and page modes move by
# 3x (docs/ci-gate.md, "Focus rounds") then meet the same host state on both sides: between
# identical builds the shm_ring fork spin 64 B p50 could resolve 2.5-29% (mde) in six
# trials of 20 whole-profile rounds, 2.2% in one trial of 20 focus rounds. FOCUS: the
# small-message round trips, each transport and peer's headline latency (83 rows of the
# quick profile, about 13.5-17 s a round with its probes). FOCUS_ROUNDS: the CI job's (its
# workflow says why 160).
FOCUS = "^pingpong/.*/size:64(/|$)"
FOCUS_ROUNDS = 160
# The floor probe run with the baseline binary around every run (see the docstring).
PROBE_FILTER = "^floor/probe:c2c_rtt(/|$)"
PROBE_BENCHMARK = "floor/probe:c2c_rtt"
PROBE_STATISTIC = ("median of floors.c2c_rtt_ns, the %s benchmark's rtt_p50_ns and "
                   "floors_end.c2c_rtt_ns of one run of the baseline binary"
                   % PROBE_BENCHMARK)
# The floors a probe measures at its start and end: the core-to-core round trip alone, where
# the binary takes --floors=c2c_rtt. The other floors (the DRAM copy above all) are no part
# of the witness; with the busy check, which the binary then skips too, they took 1.9 s of
# a probe's 2.2 s on the development VM (0.34 s without; 361 probes a CI job).
PROBE_FLOOR_SCOPE = "c2c_rtt"


def probe_floors(binary):
    """The --floors scope `binary`'s probes use: PROBE_FLOOR_SCOPE when its --describe lists
    it in floor_scopes, else "all": a build from before the flag (or one that cannot describe
    itself) measures every floor, as probes always did."""
    try:
        scopes = schema.describe_of(binary).raw.get("floor_scopes")
    except schema.SchemaError:
        scopes = None
    return PROBE_FLOOR_SCOPE if isinstance(scopes, list) and PROBE_FLOOR_SCOPE in scopes else "all"


def family(name):
    return name.split("/", 1)[0]


def slice_families(names, slices):
    """[[family, ...], ...]: the families of `names` (benchmark names in run order) cut into
    `slices` contiguous groups (fewer when there are fewer families) whose row counts are as
    even as whole families allow (least sum of squares). A family is never split: a load
    row measures its link's saturation once per run."""
    counts = {}
    for name in names:
        counts[family(name)] = counts.get(family(name), 0) + 1
    fams = list(counts)
    slices = max(1, min(slices, len(fams)))
    best = {(0, 0): (0, [])}   # (groups, families covered) -> (cost, groups)
    for k in range(1, slices + 1):
        for end in range(k, len(fams) + 1):
            best[(k, end)] = min(
                (best[(k - 1, start)][0] + sum(counts[f] for f in fams[start:end]) ** 2,
                 best[(k - 1, start)][1] + [fams[start:end]])
                for start in range(k - 1, end) if (k - 1, start) in best)
    return best[(slices, len(fams))][1]


def escape(text):
    """Text as a literal in Google Benchmark's regex (POSIX extended) and in Python's."""
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\1", text)


def slice_filter(families, names=None):
    """The --benchmark_filter of one slice: its families, or with `names` (the rows of those
    families that the user's --filter matched) exactly those rows. Google Benchmark takes
    one POSIX extended regex, which cannot say "this family and that filter" otherwise."""
    if names:
        return "^(%s)$" % "|".join(escape(n) for n in names)
    return "^(%s)/" % "|".join(escape(f) for f in families)


def pair_plan(rounds, slices):
    """[(round, slice, side), ...]: each round runs its slices in turn, each as a pair of
    runs, the pairs alternating A B, B A, ... (one slice a round: A B | B A | A B ...)."""
    order, k = [], 0
    for r in range(rounds):
        for s in range(slices):
            order += [(r, s, side) for side in (("A", "B") if k % 2 == 0 else ("B", "A"))]
            k += 1
    return order


def focus_plan(first_round, rounds, first_pair):
    """[(round, 0, side), ...]: the focus rounds after the main ones, one pair of runs each,
    the ABBA order going on from pair number `first_pair`."""
    return [(first_round + j, 0, side) for j in range(rounds)
            for side in (("A", "B") if (first_pair + j) % 2 == 0 else ("B", "A"))]


def probe_after(slices):
    """The run of a round (0-based) after which its middle floor probe runs: between its
    two runs with one slice, else between the pairs that halve the round, so a probe never
    separates a pair. The others run before a round's first run and after its last."""
    return 0 if slices == 1 else 2 * ((slices + 1) // 2) - 1


def combine_slices(raws):
    """One run's results from the runs of a round's slices (one build): their rows in turn,
    the first slice's floors and context, the last one's end floors, every warning."""
    out = copy.deepcopy(raws[0])
    if len(raws) == 1:
        return out
    meta = out["ipcmeter"]
    for raw in raws[1:]:
        out["benchmarks"] += copy.deepcopy(raw["benchmarks"])
        other = raw["ipcmeter"]
        for key, value in other.items():
            if key not in meta:
                meta[key] = copy.deepcopy(value)
            elif isinstance(meta[key], dict) and isinstance(value, dict) and key != "floors":
                meta[key] = dict(copy.deepcopy(value), **meta[key])
        meta["floors_end"] = copy.deepcopy(other.get("floors_end"))
        meta["warnings"] = list(meta.get("warnings") or []) + list(other.get("warnings") or [])
    seconds = [raw["ipcmeter"].get("seconds") for raw in raws]
    if all(isinstance(x, dict) for x in seconds):
        # The contract's shape; rows_s leaves out the starts and floors between slices.
        meta["seconds"] = {"floors_start_s": seconds[0].get("floors_start_s"),
                           "floors_end_s": seconds[-1].get("floors_end_s"),
                           "rows_s": sum(x.get("rows_s", 0) for x in seconds),
                           "by_family_s": [f for x in seconds for f in x.get("by_family_s", [])]}
    return out


def run_argv(binary, profile, filt, repetitions, out_file, extra):
    argv = [binary, "--profile", profile]
    if filt:
        argv.append("--benchmark_filter=" + filt)
    argv += ["--benchmark_repetitions=%d" % repetitions,
             "--benchmark_out=" + out_file, "--benchmark_out_format=json"]
    return argv + list(extra)


def probe_argv(binary, profile, out_file):
    scope = probe_floors(binary)
    return ([binary, "--profile", profile, "--benchmark_filter=" + PROBE_FILTER]
            + (["--floors=" + scope] if scope != "all" else [])
            + ["--benchmark_out=" + out_file, "--benchmark_out_format=json"])


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
            "floors": probe_floors(binary), "values_ns": values, "files": files,
            "round_probes_ns": [values[2 * r:2 * r + 3] for r in range(rounds)]}
