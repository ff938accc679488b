// Run profiles: the message sizes, how long each benchmark runs and how often the compared
// families repeat. What else each family sweeps in a profile is that family's section, kept in
// its bench file (a ByProfile table, bench/family.h); `ipcmeter --describe` lists both.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace ipcm {

struct Profile {
  std::string_view name;
  std::vector<std::size_t> sizes;  // message sizes of pingpong and stream, bytes
  double min_time_s;               // Google Benchmark's --benchmark_min_time unless given
  // Repetitions of every benchmark of the families that are repeated_by_profile (bench/family.h),
  // unless --benchmark_repetitions is given: the report states a difference only between
  // options measured at least 3 times.
  int repetitions;
  // The link families (pingpong, stream) run each messaging-library transport
  // (TransportDef::library) at one peer and one wait only (bench/suite.h library_link_sweep),
  // so the libraries keep to their share of the profile's time. --describe lists what it keeps.
  bool narrow_library_links = false;
};

// quick: 64 B and 64 KiB, under a minute on 2 vCPUs, once. default: five sizes, the compared
// families three times, within 10 minutes.
// full: every power of two from 8 B to 1 MiB.
const std::vector<Profile>& profiles();
const Profile* find_profile(std::string_view name);
inline constexpr std::string_view kDefaultProfile = "default";

}  // namespace ipcm
