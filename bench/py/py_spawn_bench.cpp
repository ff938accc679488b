// py_spawn/peer:P/rss_mib:N/python:V — what starting a multiprocessing Process costs by start
// method P, from a driver that holds N MiB of written (resident) ballast: each start timed in
// the interpreter from Process(...).start() to the child's first message (ready) and to
// join() (lifecycle), one start after another. Counters as the native spawn family's.
// forkserver rows start the fork server before the first timed start (its own start is not
// a worker's), as the native forkserver rows do.
#include <benchmark/benchmark.h>

#include "bench/py/py_rows.h"
#include "bench/suite.h"
#include "harness/core/histogram.h"
#include "harness/launch/workers.h"

namespace ipcm {
namespace {

struct PySpawnProfile {
  std::vector<std::size_t> rss_mib;
  std::uint64_t min_starts, max_starts;
};
// quick: the three start methods at one size; default adds the size where fork's page tables
// start to show; full adds a GiB.
const ByProfile<PySpawnProfile> kProfile = {
    {"quick", {.rss_mib = {1}, .min_starts = 3, .max_starts = 100}},
    {"default", {.rss_mib = {1, 256}, .min_starts = 10, .max_starts = 1000}},
    {"full", {.rss_mib = {1, 256, 1024}, .min_starts = 20, .max_starts = 2000}},
};
const Words kPeers = {"fork", "spawn", "forkserver"};

void run(benchmark::State& state, const std::string& peer, std::size_t mib, const PythonInterp& py,
         const PySpawnProfile& sw) {
  ScopedAffinity free_cpus(suite().placement.allowed_cpus);
  Made<DriverOutput> out;
  for (auto _ : state)
    out = run_py_spawn(peer, mib, py, python_min_time(suite().profile->min_time_s), sw.min_starts, sw.max_starts);
  if (!out) return skip(state, out.error);
  const std::vector<std::int64_t>& s = out.value->samples;
  if (s.empty() || s.size() % 2 != 0) return skip(state, "the Python driver sent no whole (ready, lifecycle) pairs");
  Histogram ready, life;
  double life_sum = 0;
  for (std::size_t i = 0; i < s.size(); i += 2) {
    ready.record(std::uint64_t(s[i]));
    life.record(std::uint64_t(s[i + 1]));
    life_sum += double(s[i + 1]);
  }
  state.SetIterationTime(life_sum / double(life.count()) * 1e-9);
  auto& c = state.counters;
  c["ready_p50_ns"] = ready.quantile(0.50);
  c["ready_p99_ns"] = ready.quantile(0.99);
  c["lifecycle_p50_ns"] = life.quantile(0.50);
  c["lifecycle_p99_ns"] = life.quantile(0.99);
  c["starts"] = double(life.count());
  const nlohmann::json& h = out.value->header;
  if (h.contains("parent_rss_mib") && h["parent_rss_mib"].is_number()) c["parent_rss_mib"] = h["parent_rss_mib"].get<double>();
}

void add(const Profile& p, const Placement&) {
  const PySpawnProfile& sw = kProfile.of(p);
  for (const PythonInterp& py : python_interpreters())
    for (const std::string& peer : kPeers)
      for (std::size_t mib : sw.rss_mib)
        add_benchmark("py_spawn/peer:" + peer + "/rss_mib:" + std::to_string(mib) + "/python:" + py.key,
                      [peer, mib, &py, &sw](benchmark::State& st) { run(st, peer, mib, py, sw); }, true, 1)
            ->Unit(benchmark::kMicrosecond);
}

FamilyDef py_spawn_family() {
  return {.name = "py_spawn",
          .keys = {{"peer", Unit::kName, [] { return kPeers; }},
                   {"rss_mib", Unit::kMiB, nullptr, [](const Profile& p) { return nlohmann::json(kProfile.of(p).rss_mib); }},
                   {"python", Unit::kName, nullptr, [](const Profile&) { return nlohmann::json(nullptr); }}},
          .counters = {{"ready_p50_ns", Unit::kNs, kLow, true, true},
                       {"ready_p99_ns", Unit::kNs, kLow, false, true},
                       {"lifecycle_p50_ns", Unit::kNs, kLow, false, true},
                       {"lifecycle_p99_ns", Unit::kNs, kLow, false, false},
                       {"starts", Unit::kCount, kFact, false, false},
                       {"parent_rss_mib", Unit::kMiB, kFact, false, false}},
          // The report answers "which start method" from these rows.
          .repeated_by_profile = true,
          .profile_section = [](const Profile& p) {
            const PySpawnProfile& sw = kProfile.of(p);
            return nlohmann::json{{"rss_mib", sw.rss_mib}, {"min_starts", sw.min_starts}, {"max_starts", sw.max_starts}};
          },
          .add_benchmarks = add};
}

}  // namespace

static const FamilyRegistrar kRegistrar(py_spawn_family);

}  // namespace ipcm
