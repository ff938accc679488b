// Run profiles: which sizes and counts each family sweeps and how long each benchmark runs.
// Named once: every family reads its section of the profile here, and `ipcmeter --describe`
// lists the same values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "bench/compute/compute.h"
#include "harness/launch/peer.h"

namespace ipcm {

// spawn: the parent's ballast sizes and the budget of starts per row.
struct SpawnProfile {
  std::vector<std::size_t> rss_mib;
  double budget_s;  // time for one row's starts
  std::size_t min_starts;
  std::size_t max_starts;
};

// compute: the work of one round, how many rounds, which worker counts.
struct ComputeProfile {
  KernelSize size;  // membw_bytes is a floor: the array grows to 4x the last-level cache
  std::int64_t rounds;  // timed rounds per row
  bool all_powers;      // workers 1, 2, 4, ... up to 4x CPUs (else 1, CPUs, 4x CPUs)
  FarmSize farm;        // farm.tasks is replaced by kFarmTasksPerCpu x CPUs (bench/compute/compute_bench.cpp)
  std::int64_t farm_rounds;
};

// pool: task lengths and chunks swept, and how long one job is.
struct PoolProfile {
  std::vector<std::uint32_t> task_us;
  std::vector<std::uint32_t> chunks;
  double job_ms;  // ideal length of one job
  std::int64_t jobs;
};

// fanin: peers, (producers, consumers) shapes and sizes.
struct FaninProfile {
  std::vector<PeerKind> peers;
  // (producers, consumers) as multiples of the CPUs (0 stands for one).
  std::vector<std::pair<int, int>> shapes_per_cpu;
  std::vector<std::size_t> sizes;
};

// sync: peers and party counts.
struct SyncProfile {
  std::vector<PeerKind> peers;
  // Party counts, as multiples of the CPUs: 0 stands for one party (locks only, uncontended).
  std::vector<int> parties_per_cpu;
  bool lock_parties_one;  // locks also run with one party, for the uncontended cost
};

// state: peers and worker counts.
struct StateProfile {
  std::vector<PeerKind> peers;
  std::vector<int> workers_per_cpu;  // multiples of the CPUs; 2 workers are always run
  bool one_worker;
};

struct Profile {
  std::string_view name;
  std::vector<std::size_t> sizes;  // message sizes of pingpong and stream, bytes
  double min_time_s;               // Google Benchmark's --benchmark_min_time unless given
  // Repetitions of every benchmark in kComparedFamilies, unless --benchmark_repetitions is
  // given: the report states a difference only between options measured at least 3 times.
  int repetitions;
  SpawnProfile spawn;
  ComputeProfile compute;
  PoolProfile pool;
  FaninProfile fanin;
  SyncProfile sync;
  StateProfile state;
};

// The families the report draws its recommendations from (scripts/recommend.py), which a
// profile repeats; the others only fill tables.
inline constexpr std::string_view kComparedFamilies[] = {"pingpong", "stream", "spawn", "compute", "pool"};

// quick: 64 B and 64 KiB, under a minute on 2 vCPUs, once. default: five sizes, the compared
// families three times, within 10 minutes.
// full: every power of two from 8 B to 1 MiB.
const std::vector<Profile>& profiles();
const Profile* find_profile(std::string_view name);
inline constexpr std::string_view kDefaultProfile = "default";

}  // namespace ipcm
