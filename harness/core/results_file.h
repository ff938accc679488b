// Checks a results file Google Benchmark wrote before it may replace anything.
#pragma once

#include <string>

namespace ipcm {

// True when `text` is one whole JSON document, where Google Benchmark's own spellings of
// non-finite numbers (NaN, -NaN, Infinity, -Infinity: it writes them unquoted, e.g. the _cv
// of a counter whose mean is 0) count as numbers, as Python's json and Google Benchmark's
// compare.py read them. A file cut short by a full disk is not one.
bool is_complete_results_json(const std::string& text);

}  // namespace ipcm
