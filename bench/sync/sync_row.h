// The sync family's counters, declared once for the rows that report them: the native sync
// rows (bench/sync/sync_bench.cpp, which defines this) and the CPython ones
// (bench/py/py_sync_bench.cpp), same names and meanings.
#pragma once

#include <vector>

#include "bench/family.h"

namespace ipcm {

std::vector<CounterDef> sync_row_counters();

}  // namespace ipcm
