#include "harness/core/profile.h"

#include "harness/core/limits.h"

namespace ipcm {
namespace {

std::vector<std::size_t> powers_of_two(std::size_t from, std::size_t to) {
  std::vector<std::size_t> v;
  for (std::size_t s = from; s <= to; s *= 2) v.push_back(s);
  return v;
}

constexpr PeerKind kThread = PeerKind::kThread, kFork = PeerKind::kFork, kSpawn = PeerKind::kSpawn;

}  // namespace

// Per family, what each profile sweeps and why:
// spawn — quick: the two ends; default: the curve; full adds sizes up to what a 24 GiB
//   machine holds (a size that does not fit reports why).
// compute — rounds of ~5-20 ms of serial work: long against a futex wake-up, short for the
//   budget.
// sync — quick: thread and fork only (spawn runs the same process-shared objects; it differs
//   only in how the party started, which is not timed here) and two parties. default: every
//   peer, one party for the uncontended lock cost, then 1x and 2x the CPUs for contention.
// state — spawn shares the same memory the same way as fork once started: full only.
const std::vector<Profile>& profiles() {
  static const std::vector<Profile> all = {
      {.name = "quick",
       .sizes = {64, 64u << 10},
       .min_time_s = 0.1,
       .repetitions = 1,
       .spawn = {.rss_mib = {1, 256}, .budget_s = 0.12, .min_starts = 10, .max_starts = 300},
       .compute = {.size = {1 << 16, 64, 32u << 20, 2, 1 << 19, 8},
                   .rounds = 5,
                   .all_powers = false,
                   .farm = {0, 1 << 13, 64},
                   .farm_rounds = 5},
       .pool = {.task_us = {1, 1000}, .chunks = {1, 16}, .job_ms = 8, .jobs = 3},
       .fanin = {.peers = {kThread, kFork}, .shapes_per_cpu = {{0, 0}, {1, 0}}, .sizes = {64}},
       .sync = {.peers = {kThread, kFork}, .parties_per_cpu = {}, .lock_parties_one = true},
       .state = {.peers = {kThread, kFork}, .workers_per_cpu = {}, .one_worker = false}},
      {.name = "default",
       .sizes = {64, 1u << 10, 16u << 10, 64u << 10, 1u << 20},
       .min_time_s = 0.1,
       .repetitions = 3,
       .spawn = {.rss_mib = {1, 64, 256, 1024}, .budget_s = 0.4, .min_starts = 20, .max_starts = 2000},
       .compute = {.size = {1 << 17, 64, 64u << 20, 2, 1 << 20, 8},
                   .rounds = 12,
                   .all_powers = true,
                   .farm = {0, 1 << 14, 64},
                   .farm_rounds = 6},
       .pool = {.task_us = {1, 10, 100, 1000, 10000}, .chunks = {1, 4, 16, 64}, .job_ms = 15, .jobs = 5},
       .fanin = {.peers = {kThread, kFork, kSpawn}, .shapes_per_cpu = {{0, 0}, {1, 0}, {2, 1}}, .sizes = {64, 4096}},
       .sync = {.peers = {kThread, kFork, kSpawn}, .parties_per_cpu = {1, 2}, .lock_parties_one = true},
       .state = {.peers = {kThread, kFork}, .workers_per_cpu = {2}, .one_worker = true}},
      {.name = "full",
       .sizes = powers_of_two(kMinMessageBytes, kMaxMessageBytes),
       .min_time_s = 0.5,
       .repetitions = 3,
       .spawn = {.rss_mib = {1, 64, 256, 1024, 4096, 16384}, .budget_s = 1.0, .min_starts = 30, .max_starts = 5000},
       .compute = {.size = {1 << 18, 64, 128u << 20, 2, 1 << 21, 8},
                   .rounds = 30,
                   .all_powers = true,
                   .farm = {0, 1 << 14, 64},
                   .farm_rounds = 15},
       .pool = {.task_us = {1, 10, 100, 1000, 10000}, .chunks = {1, 2, 4, 8, 16, 32, 64}, .job_ms = 30, .jobs = 10},
       .fanin = {.peers = {kThread, kFork, kSpawn},
                 .shapes_per_cpu = {{0, 0}, {1, 0}, {2, 0}, {2, 1}, {2, 2}},
                 .sizes = {64, 4096, 65536}},
       .sync = {.peers = {kThread, kFork, kSpawn}, .parties_per_cpu = {1, 2, 4}, .lock_parties_one = true},
       .state = {.peers = {kThread, kFork, kSpawn}, .workers_per_cpu = {1, 2, 4}, .one_worker = true}},
  };
  return all;
}

const Profile* find_profile(std::string_view name) {
  for (const Profile& p : profiles())
    if (p.name == name) return &p;
  return nullptr;
}

}  // namespace ipcm
