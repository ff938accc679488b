// spawn/method:M/rss_mib:N — what starting a worker costs, and how that depends on the size
// of the process that starts it. The parent first holds N MiB of written (resident) private
// memory in 4 KiB pages; then workers are started one after another by method M and each
// start is timed two ways: ready (asked → the worker's first message reached the parent) and
// lifecycle (asked → exited and reaped, or joined). Percentiles over the starts are the
// counters; the benchmark's time is the mean lifecycle. On fork rows, cow_ns_per_page is the
// price of the first write to an inherited page in a forked child.
//
// What each method execs (bench/spawn/spawn.h): vfork, posix_spawn and fork_exec run the tiny
// static exec helper that sits beside this binary, so they time the mechanism; their *_self
// twins run this binary, so they add the loading of ipcmeter's own image. A missing helper
// makes its rows errors that say so; the *_self rows still run.
//
// forkserver rows time a child forked by a small server started at the beginning of the
// run: such a child inherits none of the parent's data, so whatever it needs must then be
// sent to it, and that transfer is not in this figure.
//
// The ballast is made and written before the first timed start of the first row of its size
// and kept for the other rows of that size (ballast_of), then released. Each benchmark runs
// once (Iterations(1)) and takes as many starts as its profile's budget allows: the function is
// not re-run by Google Benchmark, so a 1 GiB ballast is written once per size, not per trial.
//
// Fork safety: fork and fork_exec are refused (with the reason) if another thread is alive;
// this family runs before compute and pool start any. The fork server is started with
// posix_spawn, which is safe from any process, and is single-threaded itself.
#include <benchmark/benchmark.h>

#include <cmath>

#include "bench/suite.h"
#include "harness/core/clock.h"
#include "harness/core/histogram.h"
#include "bench/spawn/rss.h"
#include "bench/spawn/spawn.h"
#include "harness/launch/workers.h"

namespace ipcm {
namespace {

// What spawn sweeps per profile: the parent's ballast sizes and the budget of starts per row.
// quick: the two ends; default: the curve; full adds sizes up to what a 24 GiB machine holds
// (a size that does not fit reports why).
struct SpawnProfile {
  std::vector<std::size_t> rss_mib;
  double budget_s;  // time for one row's starts
  std::size_t min_starts;
  std::size_t max_starts;
};
const ByProfile<SpawnProfile> kSpawnProfile = {
    {"quick", {.rss_mib = {1, 256}, .budget_s = 0.12, .min_starts = 10, .max_starts = 300}},
    // 0.25 s of starts a row (at least 20): the profile's 10 minutes.
    {"default", {.rss_mib = {1, 64, 256, 1024}, .budget_s = 0.25, .min_starts = 20, .max_starts = 2000}},
    {"full", {.rss_mib = {1, 64, 256, 1024, 4096, 16384}, .budget_s = 1.0, .min_starts = 30, .max_starts = 5000}},
};

// The ballast of the rows of one size, made by the first of them and kept for the others (the
// rows run size by size): on this VM writing 256 MiB of fresh pages took 1.2 s, which every row
// paid again. A fork row leaves the ballast's pages write-protected (copy-on-write) behind it;
// only a row's first start can see that difference, and the percentiles are over all its starts.
// Released when a row of another size starts and when the run leaves the family.
std::unique_ptr<Ballast>& held_ballast() {
  static std::unique_ptr<Ballast> b;
  return b;
}

Ballast* ballast_of(std::size_t mib, std::string& why) {
  std::unique_ptr<Ballast>& held = held_ballast();
  if (held && held->bytes() == mib * kMiB) return held.get();
  held.reset();  // the old size's pages go before the new ones are made
  Made<Ballast> made = Ballast::make(mib);
  if (!made) {
    why = made.error;
    return nullptr;
  }
  held = std::move(made.value);
  return held.get();
}

void run(benchmark::State& state, StartMethod method, std::size_t mib, const SpawnProfile& sw) {
  // Workers are not pinned in real programs: let children go to any allowed CPU.
  ScopedAffinity free_cpus(suite().placement.allowed_cpus);
  std::string no_ballast;
  Ballast* const ballast = ballast_of(mib, no_ballast);
  if (ballast == nullptr) return skip(state, no_ballast);
  Made<Starter> starter = Starter::make(method);
  if (!starter) return skip(state, starter.error);
  // rss_mib is the ballast added; what fork copies is the whole parent, so its real size is
  // reported beside it.
  const std::optional<std::uint64_t> parent_rss = resident_bytes();

  Histogram ready, life;
  double life_sum_ns = 0;
  std::string why;
  Status st;
  const std::uint64_t budget_ns = std::uint64_t(sw.budget_s * 1e9);
  const std::uint64_t begin = TickClock::now();
  for (auto _ : state) {
    StartSample s;
    for (std::size_t n = 0; n < sw.max_starts; ++n) {
      if (n >= sw.min_starts && TickClock::get().to_ns(TickClock::now() - begin) > double(budget_ns)) break;
      if (st = starter.value->start_once(s, why); !st) break;
      ready.record(s.ready_ns);
      life.record(s.lifecycle_ns);
      life_sum_ns += double(s.lifecycle_ns);
    }
  }
  if (!st) return skip(state, why);

  double cow = -1;
  if (method == StartMethod::kFork) {
    if (Status c = measure_cow_ns_per_page(*ballast, cow, why); !c) return skip(state, "copy-on-write probe: " + why);
  }

  const double n = double(life.count());
  state.SetIterationTime(life_sum_ns / n * 1e-9);
  auto& c = state.counters;
  c["ready_p50_ns"] = ready.quantile(0.50);
  c["ready_p99_ns"] = ready.quantile(0.99);
  c["lifecycle_p50_ns"] = life.quantile(0.50);
  c["lifecycle_p99_ns"] = life.quantile(0.99);
  c["starts"] = n;
  if (cow >= 0) c["cow_ns_per_page"] = cow;
  if (parent_rss) c["parent_rss_mib"] = double(*parent_rss) / double(1u << 20);
}

void add_spawn_benchmarks(const Profile& p, const Placement&) {
  const SpawnProfile& sw = kSpawnProfile.of(p);
  // Size by size, so that the rows of one size share its ballast (ballast_of).
  for (std::size_t mib : sw.rss_mib) {
    for (StartMethod m : kAllStartMethods) {
      add_benchmark(std::string("spawn/method:") + start_method_name(m) + "/rss_mib:" + std::to_string(mib),
                    [m, mib, &sw](benchmark::State& st) { run(st, m, mib, sw); }, true, 1)
          ->Unit(benchmark::kMicrosecond);
    }
  }
}

nlohmann::json spawn_section(const Profile& p) {
  const SpawnProfile& sw = kSpawnProfile.of(p);
  return {{"rss_mib", sw.rss_mib}, {"budget_s", sw.budget_s}, {"min_starts", sw.min_starts}, {"max_starts", sw.max_starts}};
}

FamilyDef spawn_family() {
  return {.name = "spawn",
          .keys = {{"method", Unit::kName, [] { return words_of(kAllStartMethods, start_method_name); }},
                   {"rss_mib", Unit::kMiB, nullptr, [](const Profile& p) { return nlohmann::json(kSpawnProfile.of(p).rss_mib); }}},
          .counters = {{"ready_p50_ns", Unit::kNs, kLow, true, true},
                       {"ready_p99_ns", Unit::kNs, kLow, false, true},
                       {"lifecycle_p50_ns", Unit::kNs, kLow, false, true},
                       {"lifecycle_p99_ns", Unit::kNs, kLow, false, false},
                       {"cow_ns_per_page", Unit::kNs, kLow, false, false},
                       {"starts", Unit::kCount, kFact, false, false},
                       {"parent_rss_mib", Unit::kMiB, kFact, false, false}},
          .repeated_by_profile = true,
          .profile_section = spawn_section,
          .add_benchmarks = add_spawn_benchmarks,
          .leave = [] { held_ballast().reset(); }};
}

}  // namespace

static const FamilyRegistrar kRegistrar(spawn_family);

}  // namespace ipcm
