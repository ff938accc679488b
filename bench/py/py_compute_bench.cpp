// py_compute/kernel:K/peer:P/workers:N/python:V — the GIL, measured: does CPython work get
// faster with more threads, or only with more processes? One round of K's work is split over N
// workers of the driver (P = thread: threading.Thread; fork, spawn: multiprocessing Processes
// by that start method), each answering with the sum of its share, timed in the interpreter from
// the first share sent to the last answer. K = pure: units of the driver's pure-Python loop
// (holds the GIL; iterations from the interpreter's calibrated rate, so a serial round is about
// round_ms); released: units of hashlib.sha256 over a unit_bytes buffer (C code that lets go of
// the GIL).
//
// As the native compute family (bench/compute/compute_bench.cpp), and with its code
// (speedup_of, impossible_speedup): each timed round has a workers:1 reference round of the same
// team beside it — worker 0 does the whole round while the others answer at once — before and
// after it in turn (ABBA); speedup = the median over the pairs of reference ÷ round, speedup_min
// and speedup_max the lowest and highest pair, efficiency = speedup ÷ N; a workers:1 row is its
// own reference. A speedup above min(N, CPUs) × 1.1 is an error row naming the figure. Workers
// start, and a round of each kind runs, before the timed rounds; every round's sum (timed,
// reference, warm-up) is checked against a serial run in the driver afterwards. The row takes
// at least min_rounds timed rounds, then as many as the budget (--benchmark_min_time, else the
// profile's) holds. Workers: 1, the CPUs and 4x the CPUs (full: and every power of two between).
#include <benchmark/benchmark.h>

#include <algorithm>

#include "bench/compute/compute.h"
#include "bench/py/py_work.h"
#include "bench/suite.h"
#include "harness/launch/workers.h"

namespace ipcm {
namespace {

const Words kKernels = {"pure", "released"};
const Words kPeers = {"thread", "fork", "spawn"};
constexpr unsigned kOversubscription = 4;

struct PyComputeProfile {
  Words kernels, peers;
  enum class Workers { kCpusOnly, kOneCpusOversubscribed, kAllPowers } workers;
  std::uint32_t units;      // per round; raised to the most workers swept so each has a share
  double round_ms;          // pure: a serial round's work at the calibrated rate
  std::uint64_t unit_bytes; // released: bytes hashed per unit
  std::uint64_t min_rounds, max_rounds;
};
// quick: none (the quick baseline, results/baselines/reference-quick.json, covers every quick
// row; the settings below are what a quick row would use); default: both kernels, every peer,
// 1 / CPUs / 4x CPUs workers; full adds every power of two of workers and longer rounds.
const ByProfile<PyComputeProfile> kProfile = {
    {"quick", {.kernels = {}, .peers = {}, .workers = PyComputeProfile::Workers::kCpusOnly,
               .units = 32, .round_ms = 8, .unit_bytes = 128u << 10, .min_rounds = 5, .max_rounds = 200}},
    {"default", {.kernels = kKernels, .peers = kPeers, .workers = PyComputeProfile::Workers::kOneCpusOversubscribed,
                 .units = 64, .round_ms = 16, .unit_bytes = 256u << 10, .min_rounds = 6, .max_rounds = 1000}},
    {"full", {.kernels = kKernels, .peers = kPeers, .workers = PyComputeProfile::Workers::kAllPowers, .units = 64,
              .round_ms = 32, .unit_bytes = 256u << 10, .min_rounds = 10, .max_rounds = 1000}},
};

unsigned cpu_count(const Placement& pl) { return std::max<unsigned>(1, unsigned(pl.allowed_cpus.size())); }

std::vector<unsigned> worker_counts(const PyComputeProfile& sw, unsigned cpus) {
  using W = PyComputeProfile::Workers;
  std::vector<unsigned> v = {cpus};
  if (sw.workers != W::kCpusOnly) {
    v.push_back(1);
    v.push_back(kOversubscription * cpus);
  }
  if (sw.workers == W::kAllPowers)
    for (unsigned w = 2; w < kOversubscription * cpus; w *= 2) v.push_back(w);
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

std::string ms_text(double ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g ms", ns * 1e-6);
  return buf;
}

void run(benchmark::State& state, const std::string& kernel, const std::string& peer, unsigned workers,
         std::uint32_t units, const PythonInterp& py, const PyComputeProfile& sw) {
  ScopedAffinity free_cpus(suite().placement.allowed_cpus);
  if (std::string why = py_work_why_not(py); !why.empty()) return skip(state, why);
  const PyWorkRate& rate = py_work_rate(py);
  if (kernel == "pure" && !rate.error.empty()) return skip(state, rate.error);
  const std::uint64_t unit_iters =
      kernel == "pure" ? std::max<std::uint64_t>(1, task_iterations(sw.round_ms * 1000.0 / units, rate.rate)) : 0;
  const nlohmann::json spec = {{"family", "compute"},
                               {"kernel", kernel},
                               {"peer", peer},
                               {"workers", workers},
                               {"units", units},
                               {"unit_iters", unit_iters},
                               {"unit_bytes", kernel == "released" ? sw.unit_bytes : 0},
                               {"min_rounds", sw.min_rounds},
                               {"max_rounds", sw.max_rounds},
                               {"round_timeout_s", py_work_step_timeout_s()}};
  Made<DriverOutput> out;
  for (auto _ : state) out = run_py_work(py, spec, python_min_time(suite().profile->min_time_s));
  if (!out) return skip(state, out.error);
  const std::vector<std::int64_t>& s = out.value->samples;
  const bool paired = workers != 1;
  const std::size_t step = paired ? 2 : 1;
  if (s.empty() || s.size() % step != 0) return skip(state, "the Python driver sent no whole rounds");
  std::vector<double> base, here;
  for (std::size_t i = 0; i < s.size(); i += step) {
    base.push_back(double(s[i]));
    here.push_back(double(s[i + step - 1]));
  }
  double sum = 0;
  for (double ns : here) sum += ns;
  state.SetIterationTime(sum / double(here.size()) * 1e-9);
  const Speedup sp = speedup_of(base, here);
  const unsigned cpus = cpu_count(suite().placement);
  if (std::string no = impossible_speedup(sp.median, workers, cpus); !no.empty())
    return skip(state, no + " (median round " + ms_text(median_of(here)) + " over " + std::to_string(here.size()) +
                           " rounds vs " + ms_text(median_of(base)) + " at workers:1 in the same pairs)");
  auto& c = state.counters;
  c["speedup"] = sp.median;
  c["speedup_min"] = sp.min;
  c["speedup_max"] = sp.max;
  c["efficiency"] = sp.median / workers;
  c["samples"] = double(here.size());
  c["units"] = units;
  if (kernel == "pure") c["work_iters_per_us"] = rate.rate.iters_per_us;
  else c["unit_bytes"] = double(sw.unit_bytes);
}

void add(const Profile& p, const Placement& pl) {
  const PyComputeProfile& sw = kProfile.of(p);
  const std::vector<unsigned> counts = worker_counts(sw, cpu_count(pl));
  // Every worker gets a share of every round, at any worker count the run sweeps.
  const std::uint32_t units = std::max<std::uint32_t>(sw.units, counts.back());
  for (const PythonInterp& py : python_interpreters())
    for (const std::string& k : sw.kernels)
      for (const std::string& peer : sw.peers)
        for (unsigned w : counts)
          add_benchmark("py_compute/kernel:" + k + "/peer:" + peer + "/workers:" + std::to_string(w) + "/python:" + py.key,
                        [k, peer, w, units, &py, &sw](benchmark::State& st) { run(st, k, peer, w, units, py, sw); }, true, 1)
              ->Unit(benchmark::kMillisecond);
}

FamilyDef py_compute_family() {
  return {.name = "py_compute",
          .keys = {{"kernel", Unit::kName, [] { return kKernels; }, [](const Profile& p) { return nlohmann::json(kProfile.of(p).kernels); }},
                   {"peer", Unit::kName, [] { return kPeers; }, [](const Profile& p) { return nlohmann::json(kProfile.of(p).peers); }},
                   {"workers", Unit::kCount, nullptr, nullptr, true},
                   {"python", Unit::kName, nullptr, [](const Profile&) { return nlohmann::json(nullptr); }}},
          .counters = {{"speedup", Unit::kRatio, kHigh, true, true},
                       {"efficiency", Unit::kRatio, kHigh, false, true},
                       {"speedup_min", Unit::kRatio, kHigh, false, false},
                       {"speedup_max", Unit::kRatio, kHigh, false, false},
                       {"samples", Unit::kCount, kFact, false, false},
                       {"units", Unit::kCount, kFact, false, false},
                       {"work_iters_per_us", Unit::kPerUs, kFact, false, false},
                       {"unit_bytes", Unit::kBytes, kFact, false, false}},
          // The report answers "threads or processes" and "how many processes" from these rows.
          .repeated_by_profile = true,
          .profile_section = [](const Profile& p) {
            const PyComputeProfile& sw = kProfile.of(p);
            using W = PyComputeProfile::Workers;
            return nlohmann::json{{"kernel", sw.kernels},
                                  {"peer", sw.peers},
                                  {"workers", sw.workers == W::kCpusOnly ? "cpus" : sw.workers == W::kAllPowers ? "1, every power of two, cpus, 4x cpus" : "1, cpus, 4x cpus"},
                                  {"units", sw.units},
                                  {"round_ms", sw.round_ms},
                                  {"unit_bytes", sw.unit_bytes},
                                  {"min_rounds", sw.min_rounds},
                                  {"max_rounds", sw.max_rounds}};
          },
          .add_benchmarks = add};
}

}  // namespace

static const FamilyRegistrar kRegistrar(py_compute_family);

}  // namespace ipcm
