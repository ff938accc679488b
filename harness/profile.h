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
};

// quick: 64 B and 64 KiB, under a minute on 2 vCPUs. default: five sizes, a few minutes.
// full: every power of two from 8 B to 1 MiB.
const std::vector<Profile>& profiles();
const Profile* find_profile(std::string_view name);
inline constexpr std::string_view kDefaultProfile = "default";

}  // namespace ipcm
