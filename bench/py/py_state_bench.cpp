// py_state/access:A/peer:K/workers:N/python:V — N workers (threads of the CPython driver, or
// multiprocessing Processes of start method K) add 1 to one shared counter, the ways
// multiprocessing offers: Value_lock (`with v.get_lock(): v.value += 1`), Value_nolock
// (`v.value += 1`: a get, then a set — the pitfall the tutorials warn about, measured),
// Array_lock (one element of Array('q', 64) under the array's lock), Manager_Value and
// Manager_dict (a Manager's Value or dict entry under a Manager Lock: four requests to its
// server process per op), shared_memory (an int64 in a SharedMemory block under a Lock).
// The driver (bench/py/ipcmeter_driver.py) checks the final value exactly for every access but
// Value_nolock, whose lost updates (expected − final) are reported, never an error. Counters
// as the native state's.
#include <benchmark/benchmark.h>

#include "bench/py/py_parties.h"
#include "bench/py/py_parties_rows.h"
#include "bench/py/py_rows.h"
#include "bench/suite.h"
#include "harness/launch/workers.h"

namespace ipcm {
namespace {

void run(benchmark::State& state, const PyPartiesRow& row) {
  ScopedAffinity free_cpus(suite().placement.allowed_cpus);
  Made<DriverOutput> out;
  for (auto _ : state) out = run_py_parties(row, python_min_time(suite().profile->min_time_s));
  if (!out) return skip(state, out.error);
  const nlohmann::json& h = out.value->header;
  const double ops = h.value("ops", 0.0), seconds = h.value("elapsed_ns", 0.0) * 1e-9;
  if (ops <= 0 || seconds <= 0) return skip(state, "the Python driver reported no timed ops");
  const double expected = h.value("expected", -1.0), final_value = h.value("final", -1.0);
  // The driver refuses a wrong result itself; this guards the counters made from its answer.
  if (expected != ops || final_value < 0 || final_value > expected ||
      (row.what != "Value_nolock" && final_value != expected))
    return skip(state, "the Python driver's answer does not add up: " + std::to_string(std::uint64_t(final_value)) +
                           " of " + std::to_string(std::uint64_t(expected)) + " increments for " +
                           std::to_string(std::uint64_t(ops)) + " ops");
  state.SetIterationTime(seconds / ops);
  auto& c = state.counters;
  c["ops_per_second"] = ops / seconds;
  c["ns_per_op"] = seconds * 1e9 / ops;
  if (h.contains("requests_per_op") && h["requests_per_op"].is_number()) c["requests_per_op"] = h["requests_per_op"].get<double>();
  if (row.what == "Value_nolock") c["lost_updates"] = expected - final_value;
}

void add(const Profile& p, const Placement&) { add_py_parties_rows(PyPartiesFamily::kState, p, run); }

FamilyDef py_state_family() {
  return {.name = "py_state",
          .keys = {{"access", Unit::kName, [] { return py_state_accesses(); }, py_state_swept_accesses},
                   {"peer", Unit::kName, [] { return py_peers(); }, py_state_swept_peers},
                   {"workers", Unit::kCount, nullptr, nullptr, true},
                   {"python", Unit::kName, nullptr, [](const Profile&) { return nlohmann::json(nullptr); }}},
          // The native state's counters, plus what only Value_nolock has.
          .counters = {{"ns_per_op", Unit::kNs, kLow, true, true},
                       {"ops_per_second", Unit::kPerSecond, kHigh, false, true},
                       {"requests_per_op", Unit::kCount, kFact, false, false},
                       {"lost_updates", Unit::kCount, kFact, false, false}},
          .profile_section = [](const Profile& p) { return py_parties_section(PyPartiesFamily::kState, p); },
          .add_benchmarks = add};
}

}  // namespace

static const FamilyRegistrar kRegistrar(py_state_family);

}  // namespace ipcm
