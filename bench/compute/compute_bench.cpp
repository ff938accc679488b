// compute/kernel:K/peer:P/workers:N — do processes scale like threads, and what happens
// past the CPU count. The same kernel (cpu: integer mixing, nothing shared; membw: summing a
// large array; shared: filling a result array all workers share) is split over N workers
// that are threads, forked children or spawned copies of this binary, all on one shared
// segment. Workers are started before the timed rounds (the spawn family prices starting);
// each iteration is one round, timed from the go to the last worker's done, and a row takes
// at least kMinSamples rounds. After the rounds the result is checked against a serial run.
// Each timed round of a row with N > 1 workers has a workers:1 reference round beside it: the
// same team, memory and peer kind with worker 0 doing all the work (ComputeTeam::serial_round),
// taken right before and right after the timed round in turn (ABBA), so the host's drift hits
// both alike. speedup = the median over the pairs of reference / timed round; speedup_min and
// speedup_max are the lowest and highest pair; efficiency = speedup / N. A workers:1 row is
// its own reference (speedup 1). The reference rounds are not timed for Google Benchmark.
//
// membw's array is at least 4x the last-level cache (bench/compute/compute.h), written before the
// workers start and read once by all of them before the timed rounds, so it streams from
// DRAM and no timed round takes a page fault; working_set_mib says how big it was.
//
// A speedup above min(N, CPUs) x 1.1 cannot be real (a round cannot do more than the CPUs
// allow): the row is then an error naming the figure, not a result.
//
// The task farm: kernel:farm_unbounded/peer:P/workers:T starts one process per task, all at
// once (the naive loop); kernel:farm_pool/peer:P/workers:N runs the same T tasks on a pool
// of N processes that take tasks until none are left — the measured answer to "how do I cap
// concurrent processes". Both are timed from the first start to the last reap. Their speedup
// is against farm_pool/workers:1 (one process running all T tasks) of the same peer, paired
// round by round the same way, with the same spread and check.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>

#include "bench/suite.h"
#include "bench/compute/compute.h"
#include "bench/spawn/rss.h"
#include "harness/launch/workers.h"

namespace ipcm {
namespace {

// Fewer rounds than this give no median worth the name; every profile takes at least these.
constexpr std::int64_t kMinSamples = 5;
constexpr unsigned kOversubscription = 4;
constexpr unsigned kFarmTasksPerCpu = 4;
constexpr PeerKind kFarmPeers[] = {PeerKind::kFork, PeerKind::kSpawn};
// The task farm's two kernel names, beside the kernels' own (kAllKernels).
constexpr const char* kFarmPool = "farm_pool";
constexpr const char* kFarmUnbounded = "farm_unbounded";

// What compute sweeps per profile: the work of one round (rounds of ~5-20 ms of serial work:
// long against a futex wake-up, short for the budget), how many rounds, which worker counts.
struct ComputeProfile {
  KernelSize size;      // membw_bytes is a floor: the array grows to 4x the last-level cache
  std::int64_t rounds;  // timed rounds per row
  bool all_powers;      // workers 1, 2, 4, ... up to 4x CPUs (else 1, CPUs, 4x CPUs)
  FarmSize farm;        // farm.tasks is replaced by kFarmTasksPerCpu x CPUs
  std::int64_t farm_rounds;
  // The peer kinds the kernels and the farm run with. quick leaves spawn out: a spawned team
  // does the kernels' work as a forked one does, after an exec (the spawn family measures
  // that), and its rows took ~7 of quick's 16 s of compute here; default and full run every peer.
  std::vector<PeerKind> peers;
};
const ByProfile<ComputeProfile> kComputeProfile = {
    {"quick",
     {.size = {1 << 16, 64, 32u << 20, 2, 1 << 19, 8}, .rounds = 5, .all_powers = false, .farm = {0, 1 << 13, 64},
      .farm_rounds = 5, .peers = {PeerKind::kThread, PeerKind::kFork}}},
    {"default",
     // Workers 1, CPUs and 4x CPUs, not every power of two between (full has them): the profile's 10 minutes.
     {.size = {1 << 17, 64, 64u << 20, 2, 1 << 20, 8}, .rounds = 12, .all_powers = false, .farm = {0, 1 << 14, 64},
      .farm_rounds = 6, .peers = every_peer()}},
    {"full",
     {.size = {1 << 18, 64, 128u << 20, 2, 1 << 21, 8}, .rounds = 30, .all_powers = true, .farm = {0, 1 << 14, 64},
      .farm_rounds = 15, .peers = every_peer()}},
};

bool sweeps(const ComputeProfile& sw, PeerKind peer) {
  return std::find(sw.peers.begin(), sw.peers.end(), peer) != sw.peers.end();
}

unsigned cpu_count(const Placement& pl) { return std::max<unsigned>(1, unsigned(pl.allowed_cpus.size())); }

std::vector<unsigned> worker_counts(const ComputeProfile& sw, unsigned cpus) {
  std::vector<unsigned> v = {1, cpus, kOversubscription * cpus};
  if (sw.all_powers)
    for (unsigned w = 2; w < kOversubscription * cpus; w *= 2) v.push_back(w);
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

// One timed sample of `once` per iteration of the row (a round, in seconds) and, when `paired`,
// one untimed sample of `reference` beside it, before and after in turn (ABBA). Without a
// reference (a workers:1 row) the row is its own reference. The first error ends the row.
template <class Reference, class Once>
Status paired_samples(benchmark::State& state, bool paired, std::vector<double>& base, std::vector<double>& here,
                      Reference&& reference, Once&& once) {
  base.clear();
  here.clear();
  base.reserve(std::size_t(state.max_iterations));
  here.reserve(std::size_t(state.max_iterations));
  bool reference_first = true;
  for (auto _ : state) {
    double r = 0, s = 0;
    if (paired && reference_first)
      if (Status st = reference(r); !st) return st;
    if (Status st = once(s); !st) return st;
    if (paired && !reference_first)
      if (Status st = reference(r); !st) return st;
    reference_first = !reference_first;
    state.SetIterationTime(s);
    here.push_back(s);
    base.push_back(paired ? r : s);
  }
  return Status::Ok();
}

// Times one call of `round` (a callable returning Status) in seconds.
template <class Round>
Status seconds_of(Round&& round, double& seconds) {
  const auto t0 = std::chrono::steady_clock::now();
  Status st = round();
  seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

std::string ms_text(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g ms", seconds * 1e3);
  return buf;
}

// speedup (the median pair), its spread and efficiency; or the row's error when the speedup
// is more than the CPUs allow, with the rounds that produced it.
void report_speedup(benchmark::State& state, const std::vector<double>& base, const std::vector<double>& here,
                    unsigned workers) {
  const Speedup s = speedup_of(base, here);
  const unsigned cpus = cpu_count(suite().placement);
  if (std::string no = impossible_speedup(s.median, workers, cpus); !no.empty())
    return skip(state, no + " (median round " + ms_text(median_of(here)) + " over " + std::to_string(here.size()) +
                           " rounds vs " + ms_text(median_of(base)) + " at workers:1 in the same pairs)");
  auto& c = state.counters;
  c["speedup"] = s.median;
  c["speedup_min"] = s.min;
  c["speedup_max"] = s.max;
  c["efficiency"] = s.median / workers;
  c["samples"] = double(here.size());
}

// membw's array for this machine: the profile's size, grown to stream from DRAM.
KernelSize sized_for_machine(KernelSize size) {
  size.membw_bytes = membw_working_set(size.membw_bytes, llc_bytes(), mem_available_bytes());
  return size;
}

void run_kernel(benchmark::State& state, Kernel k, PeerKind peer, unsigned workers, const KernelSize& size) {
  ScopedAffinity free_cpus(suite().placement.allowed_cpus);
  std::string why;
  Made<ComputeTeam> team = ComputeTeam::start(k, peer, workers, size);
  if (!team) return skip(state, team.error);
  ComputeTeam& t = *team.value;
  std::vector<double> base, here;
  if (Status st = paired_samples(
          state, workers != 1, base, here, [&](double& s) { return seconds_of([&] { return t.serial_round(why); }, s); },
          [&](double& s) { return seconds_of([&] { return t.round(why); }, s); });
      !st)
    return skip(state, why);
  if (Status st = t.verify(why); !st) return skip(state, why);
  if (workers != 1)
    if (Status st = t.verify(why, /*serial=*/true); !st) return skip(state, "workers:1 reference: " + why);
  if (Status st = t.stop(why); !st) return skip(state, why);
  if (k == Kernel::kMembw) {
    state.counters["working_set_mib"] = double(size.membw_bytes) / double(kMiB);
    if (const auto llc = llc_bytes()) state.counters["llc_mib"] = double(*llc) / double(kMiB);
  }
  report_speedup(state, base, here, workers);
}

void run_farm_row(benchmark::State& state, PeerKind peer, bool pool, unsigned workers, FarmSize size) {
  ScopedAffinity free_cpus(suite().placement.allowed_cpus);
  std::string why;
  auto farm = [&](bool as_pool, unsigned n) {
    return [&, as_pool, n](double& s) { return run_farm(peer, as_pool, n, size, s, why); };
  };
  std::vector<double> base, here;
  if (Status st = paired_samples(state, !(pool && workers == 1), base, here, farm(true, 1), farm(pool, workers)); !st)
    return skip(state, why);
  state.counters["tasks"] = size.tasks;
  report_speedup(state, base, here, workers);
}

void add_compute_benchmarks(const Profile& p, const Placement& pl) {
  const ComputeProfile& sw = kComputeProfile.of(p);
  const unsigned cpus = cpu_count(pl);
  // Sized once per run, so every row does the same work.
  const KernelSize size = sized_for_machine(sw.size);
  const std::int64_t rounds = std::max(sw.rounds, kMinSamples);
  for (Kernel k : kAllKernels) {
    for (PeerKind peer : kAllPeers) {
      if (!sweeps(sw, peer)) continue;
      for (unsigned w : worker_counts(sw, cpus)) {
        add_benchmark(std::string("compute/kernel:") + kernel_name(k) + "/peer:" + peer_name(peer) + "/workers:" + std::to_string(w),
                      [k, peer, w, size](benchmark::State& st) { run_kernel(st, k, peer, w, size); }, true, rounds)
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
  FarmSize farm = sw.farm;
  farm.tasks = kFarmTasksPerCpu * cpus;
  const std::int64_t farm_rounds = std::max(sw.farm_rounds, kMinSamples);
  for (PeerKind peer : kFarmPeers) {
    if (!sweeps(sw, peer)) continue;
    struct Row {
      const char* kernel;
      bool pool;
      unsigned workers;
    };
    for (Row r : {Row{kFarmPool, true, 1}, Row{kFarmPool, true, cpus}, Row{kFarmUnbounded, false, farm.tasks}}) {
      if (r.pool && r.workers == cpus && cpus == 1) continue;  // the same row as workers:1
      add_benchmark(std::string("compute/kernel:") + r.kernel + "/peer:" + peer_name(peer) + "/workers:" + std::to_string(r.workers),
                    [peer, r, farm](benchmark::State& st) { run_farm_row(st, peer, r.pool, r.workers, farm); },
                    true, farm_rounds)
          ->Unit(benchmark::kMillisecond);
    }
  }
}

nlohmann::json compute_section(const Profile& p) {
  const ComputeProfile& sw = kComputeProfile.of(p);
  const KernelSize& k = sw.size;
  return {{"cpu_elements", k.cpu_elements}, {"cpu_rounds", k.cpu_rounds}, {"membw_bytes", k.membw_bytes},
          {"membw_passes", k.membw_passes}, {"shared_elements", k.shared_elements}, {"shared_rounds", k.shared_rounds},
          {"rounds", sw.rounds}, {"all_powers", sw.all_powers}, {"farm_elements_per_task", sw.farm.elements_per_task},
          {"farm_task_rounds", sw.farm.rounds}, {"farm_rounds", sw.farm_rounds}};
}

Words compute_kernel_names() {
  Words w = words_of(kAllKernels, kernel_name);
  w.push_back(kFarmPool);
  w.push_back(kFarmUnbounded);
  return w;
}

FamilyDef compute_family() {
  return {.name = "compute",
          .keys = {{"kernel", Unit::kName, compute_kernel_names},
                   {"peer", Unit::kName, peer_names,
                    [](const Profile& p) { return peers_json(kComputeProfile.of(p).peers); }},
                   {"workers", Unit::kCount, nullptr, nullptr, true}},
          .counters = {{"speedup", Unit::kRatio, kHigh, true, true},
                       {"efficiency", Unit::kRatio, kHigh, false, true},
                       {"speedup_min", Unit::kRatio, kHigh, false, false},
                       {"speedup_max", Unit::kRatio, kHigh, false, false},
                       {"samples", Unit::kCount, kFact, false, false},
                       {"tasks", Unit::kCount, kFact, false, false},
                       {"working_set_mib", Unit::kMiB, kFact, false, false},
                       {"llc_mib", Unit::kMiB, kFact, false, false}},
          .repeated_by_profile = true,
          .profile_section = compute_section,
          .add_benchmarks = add_compute_benchmarks};
}

}  // namespace

static const FamilyRegistrar kRegistrar(compute_family);

}  // namespace ipcm
