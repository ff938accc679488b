// py_sync/primitive:P/peer:K/parties:N/python:V — Python's synchronization primitives (Lock,
// RLock, Semaphore, BoundedSemaphore, Event, Condition, Barrier) as CPython programs use
// them: threading's between threads (peer:thread), multiprocessing's between processes of
// start method K. The workload is the native sync family's (bench/sync/sync.h), written in the
// driver (bench/py/ipcmeter_driver.py): locks taken until the rounds are done, a token passed
// round a ring, barriers crossed; each hand-off timed with time.perf_counter_ns from the
// releasing party's stamp to the next party's acquisition (CLOCK_MONOTONIC: one clock for every
// process). The driver checks every party's count exactly; the samples come back here and the
// counters are the native sync's.
#include <benchmark/benchmark.h>

#include "bench/py/py_parties.h"
#include "bench/py/py_parties_rows.h"
#include "bench/py/py_rows.h"
#include "bench/suite.h"
#include "bench/sync/sync_row.h"
#include "harness/core/histogram.h"
#include "harness/launch/workers.h"

namespace ipcm {
namespace {

void run(benchmark::State& state, const PyPartiesRow& row) {
  // The interpreter and its parties go where workers go: every allowed CPU.
  ScopedAffinity free_cpus(suite().placement.allowed_cpus);
  Made<DriverOutput> out;
  for (auto _ : state) out = run_py_parties(row, python_min_time(suite().profile->min_time_s));
  if (!out) return skip(state, out.error);
  const nlohmann::json& h = out.value->header;
  const double rounds = h.value("rounds", 0.0), seconds = h.value("elapsed_ns", 0.0) * 1e-9;
  if (rounds <= 0 || seconds <= 0) return skip(state, "the Python driver reported no timed rounds");
  // One iteration for the whole row; the Time column is per round, as the native sync's.
  state.SetIterationTime(seconds / rounds);
  Histogram handoff;
  for (std::int64_t ns : out.value->samples) handoff.record(std::uint64_t(ns < 0 ? 0 : ns));
  auto& c = state.counters;
  // A lock whose holder re-took it every time (under the GIL, often) handed nothing off: no
  // hand-off latency to report, rather than a zero that looks like one.
  if (handoff.count() > 0) {
    c["handoff_p50_ns"] = handoff.quantile(0.50);
    c["handoff_p99_ns"] = handoff.quantile(0.99);
  }
  c["handoffs_sampled"] = double(handoff.count());
  const double per_second = rounds / seconds;
  if (py_sync_is_lock(row.what)) c["acquisitions_per_second"] = per_second;
  else if (row.what == "Barrier") c["rounds_per_second"] = per_second;
  else c["passes_per_second"] = per_second;
  if (row.parties == 1) c["uncontended_ns"] = seconds * 1e9 / rounds;
  // Each party's thread CPU over the timed phase, summed.
  c["cpu_ns_per_round"] = h.value("cpu_ns", 0.0) / rounds;
}

void add(const Profile& p, const Placement&) { add_py_parties_rows(PyPartiesFamily::kSync, p, run); }

FamilyDef py_sync_family() {
  return {.name = "py_sync",
          .keys = {{"primitive", Unit::kName, [] { return py_sync_primitives(); }, py_sync_swept_primitives},
                   {"peer", Unit::kName, [] { return py_peers(); }, py_sync_swept_peers},
                   {"parties", Unit::kCount, nullptr, nullptr, true},
                   // The run's interpreters (--python): no fixed list, so every profile says null.
                   {"python", Unit::kName, nullptr, [](const Profile&) { return nlohmann::json(nullptr); }}},
          // The native sync's counters, same names and meanings.
          .counters = sync_row_counters(),
          .profile_section = [](const Profile& p) { return py_parties_section(PyPartiesFamily::kSync, p); },
          .add_benchmarks = add};
}

}  // namespace

static const FamilyRegistrar kRegistrar(py_sync_family);

}  // namespace ipcm
