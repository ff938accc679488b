// What py_pool and py_compute share: the interpreter's fixed work, calibrated once per
// interpreter (the loop's speed in iterations per µs, with the native pool family's
// arithmetic: bench/pool/pool.h work_rate_of), and one row's run of the driver with the bounds
// these families need (a pool or a team to start, a warm-up, the timed part, a shutdown).
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

#include "bench/pool/pool.h"
#include "bench/py/python.h"
#include "harness/core/status.h"

namespace ipcm {

// Why `py` cannot run these families' rows ("" when it can): the link families' reasons (no
// interpreter, not CPython, older than the driver's 3.8).
std::string py_work_why_not(const PythonInterp& py);

// The rate of the driver's py_work loop in `py`: kWorkWindows windows of kWorkWindowUs, run once
// per interpreter the first time a row asks; the error says why it could not be measured.
struct PyWorkRate {
  WorkRate rate;
  std::string error;
};
const PyWorkRate& py_work_rate(const PythonInterp& py);

// How long a pool's job or a team's round may take in the driver before it ends the row (a
// worker died or hangs): peer_timeout(), so IPCMETER_PEER_TIMEOUT_S shortens it as it does
// for every peer.
double py_work_step_timeout_s();

// Runs the driver with `spec` for a row whose timed part is `budget_s` (the spec's budget_ns
// is set here): the whole run is bounded by three step timeouts plus three budgets (starting the
// workers, the warm-up, the timed part that may overrun by one step, the shutdown), past which
// ipcmeter kills the driver's process group and the row ends with the reason.
Made<DriverOutput> run_py_work(const PythonInterp& py, nlohmann::json spec, double budget_s);

}  // namespace ipcm
