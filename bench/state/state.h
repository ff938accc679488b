// The state family's workload: N workers (threads, forked or spawned processes) update shared
// state, the ways multiprocessing offers:
// - lock: a shared counter and a shared array under one lock (Value/Array with their default
//   lock): each op takes the lock, increments the counter and one array element.
// - atomic: the same counter and array with atomic increments (Value(lock=False) done right).
// - false_sharing: each worker increments its own counter; the counters are packed together,
//   eight to a cache line, so unrelated writes still fight over lines.
// - padded: the same per-worker counters, each on its own cache line.
// - proxy: a Manager server process owns a key-value map; each op is two proxy calls over a
//   Unix socket (add to the counter, add to one array element).
// Every run is verified exactly: the counter, every array element and every per-worker
// counter must equal what the ops imply, or the run is an error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "harness/core/name_table.h"
#include "harness/launch/peer.h"

namespace ipcm {

enum class Access { kLock, kAtomic, kFalseSharing, kPadded, kProxy };
inline constexpr auto kAccessNames = name_table<Access>({
    {Access::kLock, "lock"},
    {Access::kAtomic, "atomic"},
    {Access::kFalseSharing, "false_sharing"},
    {Access::kPadded, "padded"},
    {Access::kProxy, "proxy"},
});
static_assert(kAccessNames.well_formed());
inline constexpr const auto& kAllAccesses = kAccessNames.values();
inline const char* access_name(Access a) { return kAccessNames.name(a); }
inline std::optional<Access> parse_access(std::string_view s) { return kAccessNames.parse(s); }

// Elements of the shared array (multiprocessing.Array('q', 64)).
inline constexpr int kStateArrayLen = 64;
// Requests one proxy op makes.
inline constexpr int kProxyRequestsPerOp = 2;

struct StatePlan {
  Access access = Access::kLock;
  PeerKind peer = PeerKind::kThread;
  int workers = 2;
  std::uint64_t ops = 1000;  // in all, shared out among the workers
};

struct StateResult {
  std::string error;
  std::uint64_t ops = 0;
  double seconds = 0;  // gate open to the last worker's finish
};

StateResult run_state(const StatePlan& plan);

// How many ops worker w of n does when `ops` are shared out.
inline std::uint64_t ops_of_worker(std::uint64_t ops, int n, int w) {
  return ops / std::uint64_t(n) + (std::uint64_t(w) < ops % std::uint64_t(n) ? 1 : 0);
}

}  // namespace ipcm
