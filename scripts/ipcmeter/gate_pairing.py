"""How an ab.py run's rounds are paired and which are judged: the pairing of the two files,
the round of each repetition, the focus rounds, and the rounds the baseline's floor probes
leave out. Used by gate.py (compare.py) and by the proof's probes in docs/probes/."""

from .results import is_positive_number


def pairing(base, new):
    """(repetitions_per_round, rounds) when both files come from one ab.py run."""
    a, b = base.meta.get("ab"), new.meta.get("ab")
    if not isinstance(a, dict) or not isinstance(b, dict):
        return None
    pid = a.get("pairing_id")
    per = a.get("repetitions_per_round")
    if (not pid or pid != b.get("pairing_id") or not isinstance(per, int) or per < 1
            or per != b.get("repetitions_per_round")):
        return None
    return per, a.get("rounds")


def round_of(record, per_round):
    return (record.repetition_index or 0) // per_round if per_round else 0


def focus_rounds(base, per_round):
    """(first focus round, the rows judged on the focus rounds alone) of an ab.py file
    with focus rounds (ipcmeter.ab.focus), else (None, empty). The rows are those the BASE
    file holds in the focus rounds: what ran there is ab.py's choice, from the base's
    --focus, never the candidate's."""
    ab = base.meta.get("ab")
    focus = ab.get("focus") if isinstance(ab, dict) else None
    first = focus.get("first_round") if isinstance(focus, dict) else None
    if not per_round or not isinstance(first, int) or isinstance(first, bool) or first < 1:
        return None, frozenset()
    return first, frozenset(name for name, recs in base.benchmarks().items()
                            if any(round_of(r, per_round) >= first for r in recs))


def round_probes(base, rounds):
    """{round: [ns, ...]}: the floor probes that ab.py ran with the BASELINE binary just
    before, between and after the round's two runs (ipcmeter.ab.floor_probes of the
    BASE file; the NEW file's copy is never read, nor any number the candidate measured
    itself). None when BASE holds no probes (files from an older ab.py)."""
    ab = base.meta.get("ab")
    probes = ab.get("floor_probes") if isinstance(ab, dict) else None
    per_round = probes.get("round_probes_ns") if isinstance(probes, dict) else None
    if not isinstance(per_round, list):
        return None
    out = {}
    for rnd, values in enumerate(per_round[:rounds] if rounds else per_round):
        if isinstance(values, list):
            out[rnd] = [float(v) for v in values if is_positive_number(v)]
    return out


def shifted_rounds(probes, limit):
    """{round: (lowest, highest probe)} for the rounds whose probes differ by more than
    `limit` times: the host moved the vCPUs at some point between the first and the last
    probe, so the two builds may have run on different placements. The decision uses only
    the baseline binary's probes, never the metric judged nor anything the candidate
    measured, so it cannot favour either build. Empty when limit is 0 or without probes."""
    if not limit or not probes:
        return {}
    return {rnd: (min(vs), max(vs)) for rnd, vs in sorted(probes.items())
            if len(vs) >= 2 and max(vs) > limit * min(vs)}


def shift_text(shifted):
    one = len(shifted) == 1
    return "%d round%s left out because the baseline build's core-to-core floor probes " \
           "around the runs differed (%s): the host moved the vCPUs during the round" % (
               len(shifted), "" if one else "s",
               ", ".join("round %d %.0f-%.0f ns" % (rnd + 1, lo, hi)
                         for rnd, (lo, hi) in sorted(shifted.items())))
