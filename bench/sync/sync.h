// The sync family's workload: Python's threading/multiprocessing primitives (Lock, RLock,
// Semaphore, BoundedSemaphore, Event, Condition, Barrier) between N parties that are threads,
// forked or spawned processes. Threads use the standard library; processes use process-shared
// objects in one shared region (pthread robust mutex, Boost.Interprocess recursive mutex,
// semaphore, mutex+condition, pthread condition and barrier) and named POSIX semaphores.
//
// What is timed, per primitive:
// - mutex, recursive_mutex: N parties take the lock until `rounds` acquisitions in all. The
//   holder writes a tick just before it releases; a party that acquires after a different
//   party held it records (now - tick): the lock's hand-off. With one party the hand-off is to
//   itself (release, then acquire again), and the run's time per acquisition is the
//   uncontended cost.
// - semaphore, bounded_semaphore, event, condition: a token passes round a ring of N parties
//   (`rounds` passes): party i waits on its own semaphore / event (or for turn == i under the
//   condition), records (now - the previous party's tick), writes its tick and signals i+1.
// - barrier: every party crosses `rounds` barriers; each records (now - the last arrival's tick).
// Every run is verified: the acquisition count and each party's pass count are exact.
#pragma once

#include <pthread.h>

#include <cstdint>
#include <functional>
#include <vector>
#include <optional>
#include <string>
#include <string_view>

#include "harness/core/histogram.h"
#include "harness/core/name_table.h"
#include "harness/launch/peer.h"
#include "harness/core/process_sync.h"

namespace ipcm {

enum class Primitive { kMutex, kRecursiveMutex, kSemaphore, kBoundedSemaphore, kEvent, kCondition, kBarrier };
inline constexpr auto kPrimitiveNames = name_table<Primitive>({
    {Primitive::kMutex, "mutex"},
    {Primitive::kRecursiveMutex, "recursive_mutex"},
    {Primitive::kSemaphore, "semaphore"},
    {Primitive::kBoundedSemaphore, "bounded_semaphore"},
    {Primitive::kEvent, "event"},
    {Primitive::kCondition, "condition"},
    {Primitive::kBarrier, "barrier"},
});
static_assert(kPrimitiveNames.well_formed());
inline constexpr const auto& kAllPrimitives = kPrimitiveNames.values();
inline const char* primitive_name(Primitive p) { return kPrimitiveNames.name(p); }
inline std::optional<Primitive> parse_primitive(std::string_view s) { return kPrimitiveNames.parse(s); }
inline bool is_lock(Primitive p) { return p == Primitive::kMutex || p == Primitive::kRecursiveMutex; }
// Which object implements the primitive for this kind of peer, for reports and errors.
const char* primitive_impl(Primitive p, PeerKind peer);

struct SyncPlan {
  Primitive primitive = Primitive::kMutex;
  PeerKind peer = PeerKind::kThread;
  int parties = 2;
  std::uint64_t rounds = 1000;  // acquisitions (locks), passes (ring), barrier rounds (barrier)
  // Fault injection for tests: called with the party processes once the gate is open.
  std::function<void(const std::vector<pid_t>&)> on_running;
};

struct SyncResult {
  std::string error;       // empty on success
  std::uint64_t rounds = 0;
  double seconds = 0;      // gate open to the last party's finish
  Histogram handoff_ns;    // the last kSyncSampleCap hand-offs of each party
  std::uint64_t cpu_ns = 0;  // all parties' CPU between gate and finish
};

// Hand-off samples kept per party (the latest ones; earlier ones are overwritten).
inline constexpr std::uint32_t kSyncSampleCap = 1u << 16;

SyncResult run_sync(const SyncPlan& plan);

}  // namespace ipcm
