// One pingpong row, measured between the CPUs a placement names: the pingpong family runs it
// on the suite's placement, the placement family on each `where`, so both report the same
// counters from the same code.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "bench/family.h"
#include "bench/suite.h"
#include "harness/core/env.h"
#include "harness/core/histogram.h"

namespace ipcm {

// The round trips of variant v with the parent side on where's parent CPU and the peer on its
// peer CPU (an unpinned placement leaves both to the scheduler, and the row then has no
// core-to-core floor to be judged against). Counters as the pingpong family's.
void measure_pingpong_row(benchmark::State& state, const LinkVariant& v, std::uint64_t delay_loops,
                          const Placement& where);

// The round-trip counters of a row from its timed trips (rtt_p50_ns ... rtt_mean_ns), and
// Google Benchmark's time (their mean) and items: written once, for the native rows and the
// CPython rows (bench/py/py_pingpong_bench.cpp) alike. one_iteration: the row ran as one
// Google Benchmark iteration (Iterations(1)) rather than one per trip.
void report_round_trips(benchmark::State& state, const Histogram& rtt, bool one_iteration = false);

// The counters such a row reports, the kernel's counts per message among them. every_row_pinned:
// whether every row of the family has a pair of CPUs, so ratio_to_floor is in every row that ran.
std::vector<CounterDef> pingpong_row_counters(bool every_row_pinned);

}  // namespace ipcm
