// py_stream/channel:C/peer:P/size:B/python:V — one-way throughput from CPython's driver to its
// peer over channel C, with a bounded window (16 messages: the queues' maxsize, the shared
// memory ring's slots; pipes hold what their buffer allows). The driver's clock runs from the
// first timed send to the peer's acknowledgement of the last message, which it sends after
// checking every message's sequence and checksum; counters as the native stream's.
#include <benchmark/benchmark.h>

#include "bench/py/py_rows.h"
#include "bench/suite.h"
#include "harness/core/c2c_copy.h"
#include "harness/core/floors.h"
#include "harness/launch/workers.h"

namespace ipcm {
namespace {

void run(benchmark::State& state, const PyRow& row) {
  // The references first, as the native stream takes them: never while a peer runs.
  const double memcpy_ref = memcpy_gbps(row.size);
  const double copy_floor =
      c2c_copy_gbps(row.size, peer_cpu_of(suite().placement), parent_cpu_of(suite().placement));
  ScopedAffinity free_cpus(suite().placement.allowed_cpus);
  Made<DriverOutput> out;
  for (auto _ : state) out = run_py_row(row, python_min_time(suite().profile->min_time_s));
  if (!out) return skip(state, out.error);
  const nlohmann::json& h = out.value->header;
  const double msgs = h.value("msgs", 0.0), seconds = h.value("elapsed_ns", 0.0) * 1e-9;
  if (msgs <= 0 || seconds <= 0) return skip(state, "the Python driver reported no timed messages");
  // One iteration for the whole row: the Time column is per message, as the native stream's
  // (one iteration per message), and the rates are set here rather than left to Google
  // Benchmark's items over that one iteration's time.
  state.SetIterationTime(seconds / msgs);
  auto& c = state.counters;
  c["items_per_second"] = msgs / seconds;
  c["bytes_per_second"] = msgs * double(row.size) / seconds;
  const double cpu = h.value("cpu_ns", 0.0) + (row.peer == "thread" ? 0.0 : h.value("peer_cpu_ns", 0.0));
  c["cpu_ns_per_msg"] = cpu / msgs;
  const double bytes_per_second = msgs * double(row.size) / seconds;
  if (memcpy_ref > 0) c["ratio_to_memcpy"] = bytes_per_second / (memcpy_ref * 1e9);
  if (copy_floor > 0) c["ratio_to_floor"] = bytes_per_second / (copy_floor * 1e9);
  if (h.contains("window_msgs") && h["window_msgs"].is_number()) c["window_msgs"] = h["window_msgs"].get<double>();
}

void add(const Profile& p, const Placement&) {
  const PySweep& sw = py_sweep(PyFamily::kStream, p);
  for (const PythonInterp& py : python_interpreters())
    for (const std::string& channel : sw.channels)
      for (const std::string& peer : sw.peers)
        for (std::size_t size : sw.sizes) {
          const PyRow row{PyFamily::kStream, channel, peer, size, &py};
          add_benchmark(row.name(), [row](benchmark::State& st) { run(st, row); }, true, 1)
              ->Unit(benchmark::kMicrosecond);
        }
}

FamilyDef py_stream_family() {
  return {.name = "py_stream",
          .keys = py_link_keys(PyFamily::kStream),
          .counters = {{"bytes_per_second", Unit::kBytesPerSecond, kHigh, true, true},
                       {"items_per_second", Unit::kPerSecond, kHigh, true, true},
                       {"cpu_ns_per_msg", Unit::kNs, kLow, false, true},
                       {"ratio_to_memcpy", Unit::kRatio, kHigh, false, true},
                       {"ratio_to_floor", Unit::kRatio, kHigh, false, true},
                       {"window_msgs", Unit::kCount, kFact, false, false}},
          .profile_section = [](const Profile& p) { return py_sweep_json(PyFamily::kStream, p); },
          .add_benchmarks = add};
}

}  // namespace

static const FamilyRegistrar kRegistrar(py_stream_family);

}  // namespace ipcm
