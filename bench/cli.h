// ipcmeter's command line: its own flags, and Google Benchmark 1.7.1's flags checked before
// Google Benchmark sees them, so that every bad input ends the same way — one line on
// stderr, exit 2, nothing written.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness/core/floors.h"

namespace ipcm {

struct CommandLine {
  std::string profile;                 // a name from profiles()
  std::uint64_t calibration_delay_ns = 0;
  std::string calibration_delay_filter;  // empty: every benchmark
  std::vector<std::string> python;     // --python=PATH, repeatable: the py_* families' interpreters
  double min_time_s = -1;              // --benchmark_min_time when given
  bool help = false;
  bool describe = false;               // --describe: print describe() and nothing else
  bool mpi = false;                    // --mpi: started by mpirun, rank 1 is the mpi rows' peer
  bool list_only = false;              // --benchmark_list_tests
  std::string out_path;                // --benchmark_out, empty when not given
  std::string out_format = "json";     // --benchmark_out_format
  std::string display_format = "console";
  std::string filter;                  // --benchmark_filter, empty = all
  bool has_min_time = false;
  bool has_repetitions = false;  // --benchmark_repetitions given: it then rules every family
  bool color = false;                  // resolved --benchmark_color
  bool tabular = false;                // --benchmark_counters_tabular
  bool iceoryx_use_running = false;    // --iceoryx=use-running: iceoryx rows may use a RouDi ipcmeter did not start
  FloorScope floors = FloorScope::kAll;  // --floors=: which floors the start and the end of the run measure
  // Google Benchmark's flags to pass on, --benchmark_out replaced by the caller.
  std::vector<std::string> benchmark_args;
};

// Parses argv[1..]; on bad input returns false with `error` set to the one line to print.
bool parse_command_line(int argc, char** argv, CommandLine& out, std::string& error);

// Does Google Benchmark's filter select `name`? (Same rules: regex search, leading '-'
// negates.) Returns false with `error` set when the regex does not compile.
bool filter_selects(const std::string& filter, const std::string& name, bool& selected, std::string& error);

std::string usage();

}  // namespace ipcm
