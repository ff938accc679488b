// One pingpong row, measured between the CPUs a placement names: the pingpong family runs it
// on the suite's placement, the placement family on each `where`, so both report the same
// counters from the same code.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>

#include "bench/suite.h"
#include "harness/core/env.h"

namespace ipcm {

// The round trips of variant v with the parent side on where's parent CPU and the peer on its
// peer CPU (an unpinned placement leaves both to the scheduler, and the row then has no
// core-to-core floor to be judged against). Counters as the pingpong family's.
void measure_pingpong_row(benchmark::State& state, const LinkVariant& v, std::uint64_t delay_loops,
                          const Placement& where);

}  // namespace ipcm
