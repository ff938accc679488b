#include "bench/state/state.h"

#include <sys/un.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <vector>

#include "harness/core/check.h"
#include "harness/core/clock.h"
#include "bench/state/manager.h"
#include "harness/launch/party.h"
#include "bench/sync/sync.h"

namespace ipcm {
namespace {

// Manager keys: the counter, then the array's elements.
constexpr std::uint64_t kCounterKey = 0;
constexpr std::uint64_t kArrayKey0 = 1;

struct alignas(kCacheLine) PaddedCounter {
  std::uint64_t v;
};
static_assert(sizeof(PaddedCounter) == kCacheLine);

struct StateShared {
  Access access;
  int workers;
  std::uint64_t ops;
  char socket_path[sizeof(sockaddr_un::sun_path)];
  // The lock: std::mutex for threads, a robust process-shared pthread mutex for processes.
  alignas(kCacheLine) std::byte lock_storage[std::max(sizeof(std::mutex), sizeof(RobustMutex))];
  alignas(kCacheLine) std::uint64_t counter;
  std::uint64_t array[kStateArrayLen];
  // Deliberately packed: eight workers' counters share one cache line.
  alignas(kCacheLine) std::uint64_t packed[kMaxParties];
  PaddedCounter padded[kMaxParties];
};

// A worker's own counter: a plain load and store (no lock prefix), as `counter += 1` on a
// value nobody else writes; atomic_ref keeps the compiler from merging the loop into one add.
inline void bump_own(std::uint64_t& slot) noexcept {
  std::atomic_ref<std::uint64_t> r(slot);
  r.store(r.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

template <class Lock, class Unlock>
void locked_ops(StateShared& s, int w, std::uint64_t n, Lock lock, Unlock unlock) {
  for (std::uint64_t i = 0; i < n; ++i) {
    lock();
    ++s.counter;
    ++s.array[(std::uint64_t(w) + i) % kStateArrayLen];
    unlock();
  }
}

}  // namespace

int state_party(PartyContext& ctx) {
  auto& s = *reinterpret_cast<StateShared*>(ctx.payload);
  const int w = ctx.index;
  // StateShared is written by every worker process: the job's words are read once, the worker
  // count is the party's own (a garbage 0 there would divide by zero), the path is bounded.
  if (const int workers = s.workers; workers != ctx.parties)
    return ctx.fail("state shared word 'workers' = " + std::to_string(workers) + ", expected " + std::to_string(ctx.parties));
  const Access access = s.access;
  const std::uint64_t n = ops_of_worker(s.ops, ctx.parties, w);
  ManagerClient client;
  if (access == Access::kProxy) {
    const std::string path(s.socket_path, strnlen(s.socket_path, sizeof s.socket_path));
    if (std::string e = client.connect_to(path); !e.empty()) return ctx.fail(e);
  }
  if (!ctx.arrive_and_wait_start()) return ctx.fail("cancelled before the start");
  const bool process = crosses_processes(ctx.kind);
  switch (access) {
    case Access::kLock:
      if (process) {
        auto* m = reinterpret_cast<RobustMutex*>(s.lock_storage);
        bool ok = true;
        locked_ops(s, w, n, [&] { ok = m->lock() != RobustMutex::Locked::kFailed && ok; }, [&] { m->unlock(); });
        if (!ok) return ctx.fail("pthread_mutex_lock failed");
      } else {
        auto* m = reinterpret_cast<std::mutex*>(s.lock_storage);
        locked_ops(s, w, n, [&] { m->lock(); }, [&] { m->unlock(); });
      }
      break;
    case Access::kAtomic: {
      std::atomic_ref<std::uint64_t> counter(s.counter);
      for (std::uint64_t i = 0; i < n; ++i) {
        counter.fetch_add(1, std::memory_order_relaxed);
        std::atomic_ref<std::uint64_t>(s.array[(std::uint64_t(w) + i) % kStateArrayLen]).fetch_add(1, std::memory_order_relaxed);
      }
      break;
    }
    case Access::kFalseSharing:
      for (std::uint64_t i = 0; i < n; ++i) bump_own(s.packed[w]);
      break;
    case Access::kPadded:
      for (std::uint64_t i = 0; i < n; ++i) bump_own(s.padded[w].v);
      break;
    case Access::kProxy:
      for (std::uint64_t i = 0; i < n; ++i) {
        std::int64_t r = 0;
        if (!client.call(MgrOp::kAdd, kCounterKey, 1, r) ||
            !client.call(MgrOp::kAdd, kArrayKey0 + (std::uint64_t(w) + i) % kStateArrayLen, 1, r))
          return ctx.fail(client.error());
      }
      break;
    default:
      return ctx.fail("state shared word 'access' = " + std::to_string(int(access)) + " is no access kind");
  }
  ctx.mark_finished();
  return kPeerOk;
}

namespace {

// The exact values the ops imply, compared with what the workers left: "" or the first
// difference (or why the manager could not be asked). Shuts the manager down.
std::string verify_state(const StatePlan& plan, StateShared& st, ManagerClient& admin, ManagerServer* server) {
  const StateShared* s = &st;
  std::vector<std::uint64_t> want_array(kStateArrayLen, 0);
  for (int w = 0; w < plan.workers; ++w) {
    const std::uint64_t n = ops_of_worker(plan.ops, plan.workers, w);
    for (int j = 0; j < kStateArrayLen; ++j) {
      // Worker w's op i hits element (w + i) mod L: count the i in [0, n) that land on j.
      const std::uint64_t first = std::uint64_t((j - w % kStateArrayLen + kStateArrayLen) % kStateArrayLen);
      if (first < n) want_array[std::size_t(j)] += (n - first + kStateArrayLen - 1) / kStateArrayLen;
    }
  }
  std::string error;
  auto mismatch = [&](const std::string& what, std::uint64_t got, std::uint64_t want) {
    if (error.empty() && got != want)
      error = "wrong final value: " + what + " = " + std::to_string(got) + ", expected " + std::to_string(want);
  };
  switch (plan.access) {
    case Access::kLock:
    case Access::kAtomic:
      mismatch("counter", s->counter, plan.ops);
      for (int j = 0; j < kStateArrayLen; ++j)
        mismatch("array[" + std::to_string(j) + "]", s->array[j], want_array[std::size_t(j)]);
      break;
    case Access::kFalseSharing:
    case Access::kPadded:
      for (int w = 0; w < plan.workers; ++w)
        mismatch("worker " + std::to_string(w) + "'s counter",
                 plan.access == Access::kPadded ? s->padded[w].v : s->packed[w],
                 ops_of_worker(plan.ops, plan.workers, w));
      break;
    case Access::kProxy: {
      std::int64_t v = 0;
      if (!admin.call(MgrOp::kGet, kCounterKey, 0, v)) return admin.error();
      mismatch("counter (in the manager)", std::uint64_t(v), plan.ops);
      for (int j = 0; j < kStateArrayLen && error.empty(); ++j) {
        if (!admin.call(MgrOp::kGet, kArrayKey0 + std::uint64_t(j), 0, v)) return admin.error();
        mismatch("array[" + std::to_string(j) + "] (in the manager)", std::uint64_t(v), want_array[std::size_t(j)]);
      }
      if (std::string e = server->shutdown(admin); !e.empty() && error.empty()) error = e;
      break;
    }
  }
  return error;
}

}  // namespace

StateResult run_state(const StatePlan& plan) {
  StateResult res;
  IPCM_CHECK(plan.workers >= 1 && plan.workers <= kMaxParties && plan.ops > 0);
  Made<ShmSegment> region = ShmSegment::create(kGroupPayloadOffset + sizeof(StateShared), "state");
  if (!region) {
    res.error = region.error;
    return res;
  }
  auto* s = new (region.value->data() + kGroupPayloadOffset) StateShared();
  s->access = plan.access;
  s->workers = plan.workers;
  s->ops = plan.ops;
  const bool process = crosses_processes(plan.peer);
  if (plan.access == Access::kLock) {
    if (process) {
      if (int rc = reinterpret_cast<RobustMutex*>(s->lock_storage)->init(false)) {
        res.error = sys_error("pthread_mutex_init (robust, shared)", rc);
        return res;
      }
    } else {
      new (s->lock_storage) std::mutex();
    }
  }
  // A Manager is always a process: for thread workers it is forked, else started as they are.
  std::unique_ptr<ManagerServer> server;
  ManagerClient admin;
  if (plan.access == Access::kProxy) {
    Made<ManagerServer> m = ManagerServer::start(process ? plan.peer : PeerKind::kFork);
    if (!m) {
      res.error = m.error;
      return res;
    }
    server = std::move(m.value);
    std::memcpy(s->socket_path, server->path().c_str(), server->path().size() + 1);
    if (std::string e = admin.connect_to(server->path(), int(kPeerTimeout.count())); !e.empty()) {
      res.error = "manager: " + e;
      return res;
    }
  }
  {
    Made<PartyGroup> g = PartyGroup::start(plan.peer, "state", *region.value, plan.workers);
    if (!g) {
      res.error = g.error;
      return res;
    }
    std::string err = g.value->wait_ready();
    if (err.empty()) {
      g.value->open_gate();
      err = g.value->wait_done();
    }
    if (!err.empty()) {
      res.error = err;
      return res;
    }
    res.seconds = TickClock::get().to_ns(g.value->last_finish_tick() - g.value->header().start_tick) * 1e-9;
  }
  if (plan.access == Access::kLock && !process) reinterpret_cast<std::mutex*>(s->lock_storage)->~mutex();
  res.error = verify_state(plan, *s, admin, server.get());
  if (res.error.empty()) res.ops = plan.ops;
  return res;
}

}  // namespace ipcm
