// py_pingpong/channel:C/peer:P/size:B/python:V — round trips between CPython's driver and its
// peer (a thread, or a multiprocessing Process by start method P) over channel C, timed in the
// interpreter with time.perf_counter_ns (bench/py/ipcmeter_driver.py). The samples come back
// to ipcmeter, which makes the counters with the native pingpong's code (report_round_trips),
// so rtt_p50_ns means here what it means there: one send, one receive of the reply, one timer
// read. Each row is one run of a fresh interpreter (Iterations(1)), its timed trips filling the
// budget (--benchmark_min_time, else the profile's), after 64 untimed ones.
#include <benchmark/benchmark.h>

#include "bench/pingpong/pingpong_row.h"
#include "bench/py/py_rows.h"
#include "bench/suite.h"
#include "harness/core/histogram.h"
#include "harness/launch/workers.h"

namespace ipcm {
namespace {

void run(benchmark::State& state, const PyRow& row) {
  // The interpreter and its children go where workers go: every allowed CPU, not the CPU
  // ipcmeter's main thread is pinned to.
  ScopedAffinity free_cpus(suite().placement.allowed_cpus);
  Made<DriverOutput> out;
  for (auto _ : state) out = run_py_row(row, python_min_time(suite().profile->min_time_s));
  if (!out) return skip(state, out.error);
  const DriverOutput& d = *out.value;
  Histogram rtt;
  for (std::int64_t ns : d.samples) rtt.record(std::uint64_t(ns < 0 ? 0 : ns));
  report_round_trips(state, rtt, /*one_iteration=*/true);
  if (rtt.count() > 0) note_python_p50(*row.python, rtt.quantile(0.50));
  // Two messages per round trip. A thread peer's CPU is in the driver's process time already.
  const double cpu = d.header.value("cpu_ns", 0.0) + (row.peer == "thread" ? 0.0 : d.header.value("peer_cpu_ns", 0.0));
  if (rtt.count() > 0) state.counters["cpu_ns_per_msg"] = cpu / double(2 * rtt.count());
}

void add(const Profile& p, const Placement&) {
  const PySweep& sw = py_sweep(PyFamily::kPingpong, p);
  for (const PythonInterp& py : python_interpreters())
    for (const std::string& channel : sw.channels)
      for (const std::string& peer : sw.peers)
        for (std::size_t size : sw.sizes) {
          const PyRow row{PyFamily::kPingpong, channel, peer, size, &py};
          add_benchmark(row.name(), [row](benchmark::State& st) { run(st, row); }, true, 1)
              ->Unit(benchmark::kMicrosecond);
        }
}

// The native pingpong's round-trip counters, by name: the ones a CPython row can report (no
// kernel counts, no floor: the interpreter's processes are not pinned).
std::vector<CounterDef> py_pingpong_counters() {
  std::vector<CounterDef> out;
  for (const CounterDef& c : pingpong_row_counters(false)) {
    const std::string n = c.name;
    if (n.rfind("rtt_", 0) == 0 || n == "cpu_ns_per_msg" || n == "items_per_second") out.push_back(c);
  }
  return out;
}

FamilyDef py_pingpong_family() {
  return {.name = "py_pingpong",
          .keys = py_link_keys(PyFamily::kPingpong),
          .counters = py_pingpong_counters(),
          // The report answers "Queue or Pipe" from these rows; the other channels fill its table.
          .repeated_by_profile = true,
          .repeated_where = FamilyDef::RepeatedWhere{"channel", {"Queue", "Pipe"}},
          .profile_section = [](const Profile& p) { return py_sweep_json(PyFamily::kPingpong, p); },
          .add_benchmarks = add};
}

}  // namespace

static const FamilyRegistrar kRegistrar(py_pingpong_family);

}  // namespace ipcm
