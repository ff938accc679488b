// compute/kernel:K/peer:P/workers:N — do processes scale like threads, and what happens
// past the CPU count. The same kernel (cpu: integer mixing, nothing shared; membw: summing a
// large array; shared: filling a result array all workers share) is split over N workers
// that are threads, forked children or spawned copies of this binary, all on one shared
// segment. Workers are started before the timed rounds (the spawn family prices starting);
// each iteration is one round, timed from the go to the last worker's done. After the rounds
// the result is checked against a serial run. speedup = mean round at workers:1 of the same
// kernel and peer / mean round here; efficiency = speedup / N. The workers:1 time is cached
// when that row runs, and measured on the spot when it was filtered out.
//
// The task farm: kernel:farm_unbounded/peer:P/workers:T starts one process per task, all at
// once (the naive loop); kernel:farm_pool/peer:P/workers:N runs the same T tasks on a pool
// of N processes that take tasks until none are left — the measured answer to "how do I cap
// concurrent processes". Both are timed from the first start to the last reap. Their speedup
// is against farm_pool/workers:1 (one process running all T tasks) of the same peer.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <map>

#include "bench/suite.h"
#include "harness/kernels.h"
#include "harness/workers.h"

namespace ipcm {
namespace {

struct ComputeSweep {
  std::string_view profile;
  KernelSize size;
  std::int64_t rounds;       // timed rounds per row
  bool all_powers;           // workers 1, 2, 4, ... up to 4x CPUs (else 1, CPUs, 4x CPUs)
  FarmSize farm;             // farm.tasks is replaced by kFarmTasksPerCpu x CPUs
  std::int64_t farm_rounds;
};

// Rounds of ~5-20 ms of serial work: long against a futex wake-up, short for the budget.
const ComputeSweep kSweeps[] = {
    {"quick", {1 << 16, 64, 32u << 20, 2, 1 << 19, 8}, 4, false, {0, 1 << 13, 64}, 2},
    {"default", {1 << 17, 64, 64u << 20, 2, 1 << 20, 8}, 12, true, {0, 1 << 14, 64}, 6},
    {"full", {1 << 18, 64, 128u << 20, 2, 1 << 21, 8}, 30, true, {0, 1 << 14, 64}, 15},
};
constexpr unsigned kOversubscription = 4;
constexpr unsigned kFarmTasksPerCpu = 4;
constexpr PeerKind kFarmPeers[] = {PeerKind::kFork, PeerKind::kSpawn};

const ComputeSweep& sweep_for(const Profile& p) {
  for (const ComputeSweep& s : kSweeps)
    if (s.profile == p.name) return s;
  return kSweeps[1];
}

unsigned cpu_count(const Placement& pl) { return std::max<unsigned>(1, unsigned(pl.allowed_cpus.size())); }

std::vector<unsigned> worker_counts(const ComputeSweep& sw, unsigned cpus) {
  std::vector<unsigned> v = {1, cpus, kOversubscription * cpus};
  if (sw.all_powers)
    for (unsigned w = 2; w < kOversubscription * cpus; w *= 2) v.push_back(w);
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

// Mean seconds per round at workers:1, per "kernel/peer".
std::map<std::string, double>& baseline() {
  static std::map<std::string, double> m;
  return m;
}

// Runs `rounds` rounds on a started team; mean seconds per round, or an error.
Status timed_rounds(ComputeTeam& team, std::int64_t rounds, double& mean_s, std::string& why,
                    benchmark::State* state) {
  double total = 0;
  auto one = [&]() -> Status {
    const auto t0 = std::chrono::steady_clock::now();
    Status st = team.round(why);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    total += s;
    if (state) state->SetIterationTime(s);
    return st;
  };
  std::int64_t n = 0;
  if (state) {
    for (auto _ : *state) {
      if (Status st = one(); !st) return st;
      ++n;
    }
  } else {
    for (; n < rounds; ++n)
      if (Status st = one(); !st) return st;
  }
  mean_s = total / double(std::max<std::int64_t>(n, 1));
  return Status::Ok();
}

void run_kernel(benchmark::State& state, Kernel k, PeerKind peer, unsigned workers, const ComputeSweep& sw) {
  ScopedAffinity free_cpus(suite().placement.allowed_cpus);
  const std::string key = std::string(kernel_name(k)) + "/" + peer_name(peer);
  std::string why;
  double base = 0;
  if (auto it = baseline().find(key); it != baseline().end()) {
    base = it->second;
  } else if (workers != 1) {
    Made<ComputeTeam> one = ComputeTeam::start(k, peer, 1, sw.size);
    if (!one) return skip(state, "workers:1 baseline: " + one.error);
    if (Status st = timed_rounds(*one.value, sw.rounds, base, why, nullptr); !st) return skip(state, "workers:1 baseline: " + why);
    if (Status st = one.value->stop(why); !st) return skip(state, "workers:1 baseline: " + why);
    baseline()[key] = base;
  }
  Made<ComputeTeam> team = ComputeTeam::start(k, peer, workers, sw.size);
  if (!team) return skip(state, team.error);
  double mean = 0;
  if (Status st = timed_rounds(*team.value, sw.rounds, mean, why, &state); !st) return skip(state, why);
  if (Status st = team.value->verify(why); !st) return skip(state, why);
  if (Status st = team.value->stop(why); !st) return skip(state, why);
  if (workers == 1) base = baseline()[key] = mean;
  state.counters["speedup"] = base / mean;
  state.counters["efficiency"] = base / mean / workers;
}

void run_farm_row(benchmark::State& state, PeerKind peer, bool pool, unsigned workers, FarmSize size) {
  ScopedAffinity free_cpus(suite().placement.allowed_cpus);
  const std::string key = std::string("farm/") + peer_name(peer);
  std::string why;
  double base = 0, s = 0;
  if (auto it = baseline().find(key); it != baseline().end()) {
    base = it->second;
  } else if (!(pool && workers == 1)) {
    if (Status st = run_farm(peer, true, 1, size, base, why); !st) return skip(state, "farm_pool/workers:1 baseline: " + why);
    baseline()[key] = base;
  }
  double total = 0;
  std::int64_t n = 0;
  for (auto _ : state) {
    if (Status st = run_farm(peer, pool, workers, size, s, why); !st) return skip(state, why);
    state.SetIterationTime(s);
    total += s;
    ++n;
  }
  const double mean = total / double(std::max<std::int64_t>(n, 1));
  if (pool && workers == 1) base = baseline()[key] = mean;
  state.counters["speedup"] = base / mean;
  state.counters["efficiency"] = base / mean / workers;
  state.counters["tasks"] = size.tasks;
}

}  // namespace

void register_compute_family(const Profile& p, const Placement& pl) {
  const ComputeSweep& sw = sweep_for(p);
  const unsigned cpus = cpu_count(pl);
  for (Kernel k : kAllKernels) {
    for (PeerKind peer : kAllPeers) {
      for (unsigned w : worker_counts(sw, cpus)) {
        add_benchmark(std::string("compute/kernel:") + kernel_name(k) + "/peer:" + peer_name(peer) + "/workers:" + std::to_string(w),
                      [k, peer, w, &sw](benchmark::State& st) { run_kernel(st, k, peer, w, sw); }, true)
            ->Iterations(sw.rounds)
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
  FarmSize farm = sw.farm;
  farm.tasks = kFarmTasksPerCpu * cpus;
  for (PeerKind peer : kFarmPeers) {
    struct Row {
      const char* kernel;
      bool pool;
      unsigned workers;
    };
    for (Row r : {Row{"farm_pool", true, 1}, Row{"farm_pool", true, cpus}, Row{"farm_unbounded", false, farm.tasks}}) {
      if (r.pool && r.workers == cpus && cpus == 1) continue;  // the same row as workers:1
      add_benchmark(std::string("compute/kernel:") + r.kernel + "/peer:" + peer_name(peer) + "/workers:" + std::to_string(r.workers),
                    [peer, r, farm](benchmark::State& st) { run_farm_row(st, peer, r.pool, r.workers, farm); }, true)
          ->Iterations(sw.farm_rounds)
          ->Unit(benchmark::kMillisecond);
    }
  }
}

static const FamilyRegistrar kRegistrar("compute", register_compute_family);

}  // namespace ipcm
