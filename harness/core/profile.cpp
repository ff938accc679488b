#include "harness/core/profile.h"

#include "harness/core/limits.h"

namespace ipcm {
namespace {

std::vector<std::size_t> powers_of_two(std::size_t from, std::size_t to) {
  std::vector<std::size_t> v;
  for (std::size_t s = from; s <= to; s *= 2) v.push_back(s);
  return v;
}

}  // namespace

const std::vector<Profile>& profiles() {
  static const std::vector<Profile> all = {
      {.name = "quick", .sizes = {64, 64u << 10}, .min_time_s = 0.1, .repetitions = 1, .narrow_library_links = true},
      // The report's three size bands: 64 B and 1 KiB (small), 64 KiB (medium), 1 MiB (large). With
      // 16 KiB as well (full has it), default ran past its 10 minutes.
      {.name = "default", .sizes = {64, 1u << 10, 64u << 10, 1u << 20}, .min_time_s = 0.1, .repetitions = 3},
      {.name = "full", .sizes = powers_of_two(kMinMessageBytes, kMaxMessageBytes), .min_time_s = 0.5, .repetitions = 3},
  };
  return all;
}

const Profile* find_profile(std::string_view name) {
  for (const Profile& p : profiles())
    if (p.name == name) return &p;
  return nullptr;
}

}  // namespace ipcm
