#include "bench/py/py_work.h"

#include <map>
#include <mutex>

#include "bench/py/py_rows.h"
#include "harness/core/limits.h"

namespace ipcm {

std::string py_work_why_not(const PythonInterp& py) {
  // The link families' checks of the interpreter, asked with a combination that always runs.
  return py_why_not(PyFamily::kPingpong, "Pipe", "fork", py);
}

double py_work_step_timeout_s() { return double(peer_timeout().count()); }

Made<DriverOutput> run_py_work(const PythonInterp& py, nlohmann::json spec, double budget_s) {
  if (std::string why = py_work_why_not(py); !why.empty()) return Made<DriverOutput>::Fail(why);
  spec["budget_ns"] = std::uint64_t(budget_s * 1e9);
  const auto limit = std::chrono::milliseconds(std::int64_t(3e3 * (py_work_step_timeout_s() + budget_s)));
  return run_driver(py, std::move(spec), limit);
}

const PyWorkRate& py_work_rate(const PythonInterp& py) {
  static std::mutex m;
  static std::map<std::string, PyWorkRate> by_key;
  std::lock_guard lock(m);
  if (auto it = by_key.find(py.key); it != by_key.end()) return it->second;
  PyWorkRate r;
  Made<DriverOutput> out = run_py_work(py, {{"family", "calibrate"}, {"windows", kWorkWindows}, {"window_us", kWorkWindowUs}}, 0);
  if (!out) {
    r.error = "the interpreter's work loop could not be calibrated: " + out.error;
  } else {
    std::vector<double> rates;
    for (const auto& v : out.value->header.value("iters_per_us", nlohmann::json::array()))
      if (v.is_number()) rates.push_back(v.get<double>());
    r.rate = work_rate_of(std::move(rates));
    if (!(r.rate.iters_per_us > 0)) r.error = "the interpreter's work loop could not be calibrated (no window was timed)";
  }
  return by_key.emplace(py.key, std::move(r)).first->second;
}

}  // namespace ipcm
