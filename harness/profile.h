// Run profiles: which sizes each family sweeps and how long each benchmark runs. Named once;
// everything else asks here.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace ipcm {

struct Profile {
  std::string_view name;
  std::vector<std::size_t> sizes;  // message sizes, bytes
  double min_time_s;               // Google Benchmark's --benchmark_min_time unless given
  // Repetitions of every benchmark in kComparedFamilies, unless --benchmark_repetitions is
  // given: the report states a difference only between options measured at least 3 times.
  int repetitions;
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
