// The CPython interpreters the py_* families measure (--python=PATH, repeatable; default
// Debian's /usr/bin/python3), each probed once at start, and the one way a py_* row runs:
// bench/py/ipcmeter_driver.py in that interpreter, started through the launcher, handing its
// samples back over an inherited pipe. The measuring side is the interpreter; ipcmeter turns
// the samples into counters with the code its native rows use.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "harness/core/status.h"

namespace ipcm {

inline constexpr const char* kDefaultPython = "/usr/bin/python3";

struct PythonInterp {
  std::string path;     // as given on the command line
  std::string key;      // the rows' python:<key>: version + build flags ("3.11.2", "3.13.1t"), unique
  nlohmann::json info;  // its entry of ipcmeter.python
  std::string error;    // why its rows cannot run; "" when they can
  int major = 0, minor = 0;
};

// Set by main from the command line before the families register (empty: the default).
void set_python_paths(std::vector<std::string> paths);
// Probed on first use: each interpreter runs a tiny -c script through the launcher.
const std::vector<PythonInterp>& python_interpreters();
// ipcmeter.python of the results file: the interpreters probed (an empty list when no py_*
// family was registered, as with --describe).
nlohmann::json python_json();

// The timer's cost must stay within 2% of the smallest Python p50 of the run: py_pingpong
// rows note their p50 here, and python_warnings() names each interpreter whose perf_counter_ns
// read (ipcmeter.python[].timer_ns) costs more than that (ipcmeter.warnings).
void note_python_p50(const PythonInterp& py, double p50_ns);
std::vector<std::string> python_warnings();

// Where the driver module is: beside this binary (CMake copies it there), else in the source
// tree this binary was built from. "" when neither exists.
std::string driver_path();

// What one run of the driver handed back: its header line and its samples.
struct DriverOutput {
  nlohmann::json header;
  std::vector<std::int64_t> samples;
};

// Runs the driver in `py` with `spec` (the driver adds nothing; out_fd and prefix are set
// here). Each row gets a fresh name prefix; whatever named objects carry it afterwards are
// removed, and the driver's process group is killed, on every path. `limit` bounds the whole
// run: past it the group is killed and the row ends with the reason. The driver's own refusal
// ({"ok": false}) is an error too, with its words.
Made<DriverOutput> run_driver(const PythonInterp& py, nlohmann::json spec, std::chrono::milliseconds limit);

// The row budget: --benchmark_min_time when given, else the profile's.
void set_python_min_time(double seconds);
double python_min_time(double profile_min_time);

}  // namespace ipcm
