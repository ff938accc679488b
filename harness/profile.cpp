#include "harness/profile.h"

#include "harness/limits.h"

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
      {"quick", {64, 64u << 10}, 0.1, 1},
      {"default", {64, 1u << 10, 16u << 10, 64u << 10, 1u << 20}, 0.1, 3},
      {"full", powers_of_two(kMinMessageBytes, kMaxMessageBytes), 0.5, 3},
  };
  return all;
}

const Profile* find_profile(std::string_view name) {
  for (const Profile& p : profiles())
    if (p.name == name) return &p;
  return nullptr;
}

}  // namespace ipcm
