#include "bench/sync/sync.h"

#include <fcntl.h>
#include <semaphore.h>

#include <barrier>
#include <boost/interprocess/sync/interprocess_condition.hpp>
#include <boost/interprocess/sync/interprocess_mutex.hpp>
#include <boost/interprocess/sync/interprocess_recursive_mutex.hpp>
#include <boost/interprocess/sync/interprocess_semaphore.hpp>
#include <boost/interprocess/sync/scoped_lock.hpp>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <semaphore>

#include "harness/core/check.h"
#include "harness/core/clock.h"
#include "harness/core/names.h"
#include "harness/launch/party.h"

namespace ipcm {
namespace {

namespace bip = boost::interprocess;
using namespace std::chrono_literals;

constexpr std::size_t kSemNameBytes = 96;
// BoundedSemaphore(1): a release beyond this value is an error, as Python's ValueError.
constexpr int kBoundedSemaphoreMax = 1;

// ---- the primitives, one layout per (primitive, thread|process) ----

struct alignas(kCacheLine) StdSem {
  std::counting_semaphore<> sem{0};
  std::atomic<int> value{0};  // bounded_semaphore's own count, to refuse an over-release
};
struct alignas(kCacheLine) StdEvent {
  std::mutex m;
  std::condition_variable cv;
  bool flag = false;
};
struct StdCondition {
  std::mutex m;
  std::condition_variable cv;
  int turn = 0;
};
struct alignas(kCacheLine) BipSem {
  bip::interprocess_semaphore sem{0};
};
struct alignas(kCacheLine) BipEvent {
  bip::interprocess_mutex m;
  bip::interprocess_condition cv;
  bool flag = false;
};
struct PthreadCondition {
  pthread_mutex_t m;
  pthread_cond_t cv;
  int turn = 0;
};

constexpr std::size_t kStorageBytes = std::size_t(kMaxParties) * 256;
static_assert(sizeof(StdSem) * kMaxParties <= kStorageBytes);
static_assert(sizeof(StdEvent) * kMaxParties <= kStorageBytes);
static_assert(sizeof(BipSem) * kMaxParties <= kStorageBytes);
static_assert(sizeof(BipEvent) * kMaxParties <= kStorageBytes);
static_assert(sizeof(std::barrier<>) <= kStorageBytes && sizeof(pthread_barrier_t) <= kStorageBytes);

// The job's data in the shared region; hand-off samples follow it.
struct SyncShared {
  Primitive primitive;
  int parties;
  std::uint64_t rounds;
  char sem_names[kMaxParties][kSemNameBytes];
  // Written by the party that holds the lock or the token; read by the next one after it
  // acquires, so the primitive itself orders the accesses.
  alignas(kCacheLine) std::uint64_t stamp;
  int last_owner;
  std::uint64_t acquisitions;
  alignas(kCacheLine) std::uint64_t arrivals[2][kMaxParties];  // barrier: by round parity
  alignas(kCacheLine) std::uint64_t count[kMaxParties];        // each party's acquisitions / passes / rounds
  std::uint64_t taken[kMaxParties];                            // hand-off samples recorded
  std::uint64_t recovered[kMaxParties];                        // EOWNERDEAD recoveries
  alignas(kCacheLine) std::byte storage[kStorageBytes];

  template <class T>
  T* as() noexcept {
    return reinterpret_cast<T*>(storage);
  }
  std::uint32_t* samples(int party) noexcept {
    return reinterpret_cast<std::uint32_t*>(reinterpret_cast<std::byte*>(this) + sizeof(SyncShared)) +
           std::size_t(party) * kSyncSampleCap;
  }
};

inline void record(std::uint32_t* samples, std::uint64_t& taken, std::uint64_t from, std::uint64_t now) noexcept {
  const std::uint64_t d = now > from ? now - from : 0;
  samples[taken % kSyncSampleCap] = d > UINT32_MAX ? UINT32_MAX : std::uint32_t(d);
  ++taken;
}

bool process_peer(PeerKind k) { return crosses_processes(k); }

// ---- lock protocol ----

struct StdLock {
  std::mutex* m;
  bool lock(PartyContext&, std::uint64_t&) { m->lock(); return true; }
  void unlock() { m->unlock(); }
};
struct StdRLock {
  std::recursive_mutex* m;
  // Taken twice and released twice: RLock's point is re-entry by its owner.
  bool lock(PartyContext&, std::uint64_t&) { m->lock(); m->lock(); return true; }
  void unlock() { m->unlock(); m->unlock(); }
};
struct RobustLock {
  RobustMutex* m;
  bool lock(PartyContext& ctx, std::uint64_t& recovered) {
    switch (m->lock()) {
      case RobustMutex::Locked::kAcquired: return true;
      case RobustMutex::Locked::kRecovered: ++recovered; return true;
      case RobustMutex::Locked::kFailed: ctx.fail("pthread_mutex_lock failed"); return false;
    }
    return false;
  }
  void unlock() { m->unlock(); }
};
struct BipRLock {
  bip::interprocess_recursive_mutex* m;
  bool lock(PartyContext& ctx, std::uint64_t&) {
    try {
      m->lock();
      m->lock();
    } catch (const bip::interprocess_exception& e) {
      ctx.fail(std::string("interprocess_recursive_mutex::lock: ") + e.what());
      return false;
    }
    return true;
  }
  void unlock() { m->unlock(); m->unlock(); }
};

// The party count and the rounds come from the party's own arguments (ctx.parties) or are read
// once: SyncShared is written by every party process, so a count taken from it could be 0 (a
// division by zero in the ring's next party) or past the primitives' storage.

template <class L>
int lock_protocol(PartyContext& ctx, SyncShared& sh, L lk) {
  if (!ctx.arrive_and_wait_start()) return ctx.fail("cancelled before the start");
  const int me = ctx.index;
  const std::uint64_t rounds = sh.rounds;
  std::uint32_t* samples = sh.samples(me);
  std::uint64_t mine = 0, taken = 0, recovered = 0;
  for (;;) {
    if (!lk.lock(ctx, recovered)) return kPeerChannelFailed;
    if (sh.acquisitions >= rounds) {
      lk.unlock();
      break;
    }
    const std::uint64_t now = TickClock::now();
    // A hand-off is an acquisition after another party's release; alone, a party hands off to itself.
    if (sh.last_owner >= 0 && (sh.last_owner != me || ctx.parties == 1)) record(samples, taken, sh.stamp, now);
    ++sh.acquisitions;
    ++mine;
    sh.last_owner = me;
    sh.stamp = TickClock::now();
    lk.unlock();
  }
  ctx.mark_finished();
  sh.count[me] = mine;
  sh.taken[me] = taken;
  sh.recovered[me] = recovered;
  return kPeerOk;
}

// ---- ring protocol: a token passed 0 -> 1 -> ... -> N-1 -> 0 ----

template <class Wait, class Pass>
int ring_protocol(PartyContext& ctx, SyncShared& sh, Wait wait, Pass pass) {
  if (!ctx.arrive_and_wait_start()) return ctx.fail("cancelled before the start");
  const int me = ctx.index, n = ctx.parties;
  const std::uint64_t rounds = sh.rounds;
  std::uint32_t* samples = sh.samples(me);
  std::uint64_t mine = 0, taken = 0;
  for (std::uint64_t k = std::uint64_t(me); k < rounds; k += std::uint64_t(n)) {
    if (!wait(me)) return kPeerChannelFailed;
    const std::uint64_t now = TickClock::now();
    if (k > 0) record(samples, taken, sh.stamp, now);
    ++mine;
    sh.stamp = TickClock::now();
    if (!pass((me + 1) % n)) return kPeerChannelFailed;
  }
  ctx.mark_finished();
  sh.count[me] = mine;
  sh.taken[me] = taken;
  return kPeerOk;
}

template <class Arrive>
int barrier_protocol(PartyContext& ctx, SyncShared& sh, Arrive arrive_and_wait) {
  if (!ctx.arrive_and_wait_start()) return ctx.fail("cancelled before the start");
  const int me = ctx.index, n = ctx.parties;
  const std::uint64_t rounds = sh.rounds;
  std::uint32_t* samples = sh.samples(me);
  std::uint64_t taken = 0;
  for (std::uint64_t r = 0; r < rounds; ++r) {
    // Safe to reuse by parity: nobody can write round r+2's slot before everyone left round r+1.
    sh.arrivals[r & 1][me] = TickClock::now();
    if (!arrive_and_wait()) return kPeerChannelFailed;
    const std::uint64_t now = TickClock::now();
    std::uint64_t last = 0;
    for (int i = 0; i < n; ++i) last = std::max(last, sh.arrivals[r & 1][i]);
    record(samples, taken, last, now);
  }
  ctx.mark_finished();
  sh.count[me] = rounds;
  sh.taken[me] = taken;
  return kPeerOk;
}

int thread_party(PartyContext& ctx, SyncShared& sh) {
  switch (sh.primitive) {
    case Primitive::kMutex: return lock_protocol(ctx, sh, StdLock{sh.as<std::mutex>()});
    case Primitive::kRecursiveMutex: return lock_protocol(ctx, sh, StdRLock{sh.as<std::recursive_mutex>()});
    case Primitive::kSemaphore:
    case Primitive::kBoundedSemaphore: {
      StdSem* sems = sh.as<StdSem>();
      const bool bounded = sh.primitive == Primitive::kBoundedSemaphore;
      auto wait = [&](int i) {
        while (!sems[i].sem.try_acquire_for(kCancelPoll))
          if (ctx.cancelled()) return false;
        if (bounded) sems[i].value.fetch_sub(1);
        return true;
      };
      auto pass = [&](int j) {
        if (bounded && sems[j].value.fetch_add(1) >= kBoundedSemaphoreMax) {
          ctx.fail("bounded_semaphore released too many times");
          return false;
        }
        sems[j].sem.release();
        return true;
      };
      return ring_protocol(ctx, sh, wait, pass);
    }
    case Primitive::kEvent: {
      StdEvent* ev = sh.as<StdEvent>();
      auto wait = [&](int i) {
        std::unique_lock<std::mutex> l(ev[i].m);
        while (!ev[i].flag) {
          ev[i].cv.wait_for(l, kCancelPoll);
          if (!ev[i].flag && ctx.cancelled()) return false;
        }
        ev[i].flag = false;  // Event.wait() then Event.clear()
        return true;
      };
      auto pass = [&](int j) {
        std::lock_guard<std::mutex> l(ev[j].m);
        ev[j].flag = true;
        ev[j].cv.notify_all();
        return true;
      };
      return ring_protocol(ctx, sh, wait, pass);
    }
    case Primitive::kCondition: {
      StdCondition* c = sh.as<StdCondition>();
      auto wait = [&](int i) {
        std::unique_lock<std::mutex> l(c->m);
        while (c->turn != i) {
          c->cv.wait_for(l, kCancelPoll);
          if (c->turn != i && ctx.cancelled()) return false;
        }
        return true;
      };
      auto pass = [&](int j) {
        std::lock_guard<std::mutex> l(c->m);
        c->turn = j;
        c->cv.notify_all();
        return true;
      };
      return ring_protocol(ctx, sh, wait, pass);
    }
    case Primitive::kBarrier: {
      std::barrier<>* b = sh.as<std::barrier<>>();
      return barrier_protocol(ctx, sh, [&] {
        b->arrive_and_wait();
        return true;
      });
    }
  }
  return ctx.fail("unknown primitive");
}

// A process bounded_semaphore: each party opens the named semaphores the parent made.
int bounded_semaphore_party(PartyContext& ctx, SyncShared& sh) {
  OpenedSems os;
  for (int i = 0; i < ctx.parties; ++i, ++os.n) {
    // A name without its terminator (a party's garbage) would send sem_open past the field.
    char name[kSemNameBytes];
    std::memcpy(name, sh.sem_names[i], kSemNameBytes);
    if (std::memchr(name, '\0', kSemNameBytes) == nullptr)
      return ctx.fail("sync shared sem_names[" + std::to_string(i) + "] is not a terminated name");
    os.s[i] = sem_open(name, 0);
    if (os.s[i] == SEM_FAILED) return ctx.fail(sys_error(std::string("sem_open ") + name));
  }
  auto wait = [&](int i) {
    while (sem_wait(os.s[i]) != 0) {
      if (errno != EINTR) {
        ctx.fail(sys_error("sem_wait"));
        return false;
      }
    }
    return true;
  };
  auto pass = [&](int j) {
    // As multiprocessing.BoundedSemaphore: look at the value, refuse to go over the bound.
    int v = 0;
    if (sem_getvalue(os.s[j], &v) != 0 || v >= kBoundedSemaphoreMax) {
      ctx.fail("bounded_semaphore released too many times");
      return false;
    }
    sem_post(os.s[j]);
    return true;
  };
  return ring_protocol(ctx, sh, wait, pass);
}

int process_party(PartyContext& ctx, SyncShared& sh) {
  switch (sh.primitive) {
    case Primitive::kMutex: return lock_protocol(ctx, sh, RobustLock{sh.as<RobustMutex>()});
    case Primitive::kRecursiveMutex: return lock_protocol(ctx, sh, BipRLock{sh.as<bip::interprocess_recursive_mutex>()});
    case Primitive::kSemaphore: {
      BipSem* sems = sh.as<BipSem>();
      auto wait = [&](int i) {
        sems[i].sem.wait();
        return true;
      };
      auto pass = [&](int j) {
        sems[j].sem.post();
        return true;
      };
      return ring_protocol(ctx, sh, wait, pass);
    }
    case Primitive::kBoundedSemaphore: return bounded_semaphore_party(ctx, sh);
    case Primitive::kEvent: {
      BipEvent* ev = sh.as<BipEvent>();
      auto wait = [&](int i) {
        bip::scoped_lock<bip::interprocess_mutex> l(ev[i].m);
        while (!ev[i].flag) ev[i].cv.wait(l);
        ev[i].flag = false;
        return true;
      };
      auto pass = [&](int j) {
        bip::scoped_lock<bip::interprocess_mutex> l(ev[j].m);
        ev[j].flag = true;
        ev[j].cv.notify_all();
        return true;
      };
      return ring_protocol(ctx, sh, wait, pass);
    }
    case Primitive::kCondition: {
      PthreadCondition* c = sh.as<PthreadCondition>();
      auto wait = [&](int i) {
        pthread_mutex_lock(&c->m);
        while (c->turn != i) pthread_cond_wait(&c->cv, &c->m);
        pthread_mutex_unlock(&c->m);
        return true;
      };
      auto pass = [&](int j) {
        pthread_mutex_lock(&c->m);
        c->turn = j;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->m);
        return true;
      };
      return ring_protocol(ctx, sh, wait, pass);
    }
    case Primitive::kBarrier: {
      auto* b = sh.as<pthread_barrier_t>();
      return barrier_protocol(ctx, sh, [&] {
        const int rc = pthread_barrier_wait(b);
        if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD) {
          ctx.fail(sys_error("pthread_barrier_wait", rc));
          return false;
        }
        return true;
      });
    }
  }
  return ctx.fail("unknown primitive");
}

// Makes the primitive in the region; "" or why not. `sems` owns any named semaphores.
std::string construct(SyncShared& sh, PeerKind peer, NamedSems& sems) {
  const int n = sh.parties;
  if (!process_peer(peer)) {
    switch (sh.primitive) {
      case Primitive::kMutex: new (sh.storage) std::mutex(); break;
      case Primitive::kRecursiveMutex: new (sh.storage) std::recursive_mutex(); break;
      case Primitive::kSemaphore:
      case Primitive::kBoundedSemaphore:
        for (int i = 0; i < n; ++i) new (sh.as<StdSem>() + i) StdSem();
        sh.as<StdSem>()[0].sem.release();  // the token starts at party 0
        sh.as<StdSem>()[0].value = 1;
        break;
      case Primitive::kEvent:
        for (int i = 0; i < n; ++i) new (sh.as<StdEvent>() + i) StdEvent();
        sh.as<StdEvent>()[0].flag = true;
        break;
      case Primitive::kCondition: new (sh.storage) StdCondition(); break;
      case Primitive::kBarrier: new (sh.storage) std::barrier<>(n); break;
    }
    return "";
  }
  try {
    switch (sh.primitive) {
      case Primitive::kMutex:
        if (int rc = sh.as<RobustMutex>()->init(false)) return sys_error("pthread_mutex_init (robust, shared)", rc);
        break;
      case Primitive::kRecursiveMutex: new (sh.storage) bip::interprocess_recursive_mutex(); break;
      case Primitive::kSemaphore:
        for (int i = 0; i < n; ++i) new (sh.as<BipSem>() + i) BipSem();
        sh.as<BipSem>()[0].sem.post();
        break;
      case Primitive::kBoundedSemaphore:
        for (int i = 0; i < n; ++i) {
          std::string name = "/";  // appended: g++ 12 warns falsely (-Wrestrict) on "/" + temporary
          name += unique_name("bsem" + std::to_string(i));
          IPCM_CHECK(name.size() < kSemNameBytes);
          std::memcpy(sh.sem_names[i], name.c_str(), name.size() + 1);
          if (std::string e = sems.create(name, i == 0 ? 1 : 0); !e.empty()) return e;
        }
        break;
      case Primitive::kEvent:
        for (int i = 0; i < n; ++i) new (sh.as<BipEvent>() + i) BipEvent();
        sh.as<BipEvent>()[0].flag = true;
        break;
      case Primitive::kCondition: {
        auto* c = new (sh.storage) PthreadCondition();
        pthread_mutexattr_t ma;
        pthread_mutexattr_init(&ma);
        pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
        int rc = pthread_mutex_init(&c->m, &ma);
        pthread_mutexattr_destroy(&ma);
        if (rc) return sys_error("pthread_mutex_init (shared)", rc);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
        rc = pthread_cond_init(&c->cv, &ca);
        pthread_condattr_destroy(&ca);
        if (rc) return sys_error("pthread_cond_init (shared)", rc);
        break;
      }
      case Primitive::kBarrier: {
        pthread_barrierattr_t ba;
        pthread_barrierattr_init(&ba);
        pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
        const int rc = pthread_barrier_init(sh.as<pthread_barrier_t>(), &ba, unsigned(n));
        pthread_barrierattr_destroy(&ba);
        if (rc) return sys_error("pthread_barrier_init (shared)", rc);
        break;
      }
    }
  } catch (const bip::interprocess_exception& e) {
    return std::string("Boost.Interprocess: ") + e.what();
  }
  return "";
}

// Only after every party has ended (or been killed). The primitive and the count are the
// plan's, not the region's copies, which a party process could have overwritten.
void destroy(SyncShared& sh, const SyncPlan& plan) {
  const int n = plan.parties;
  if (!process_peer(plan.peer)) {
    switch (plan.primitive) {
      case Primitive::kMutex: sh.as<std::mutex>()->~mutex(); break;
      case Primitive::kRecursiveMutex: sh.as<std::recursive_mutex>()->~recursive_mutex(); break;
      case Primitive::kSemaphore:
      case Primitive::kBoundedSemaphore:
        for (int i = 0; i < n; ++i) sh.as<StdSem>()[i].~StdSem();
        break;
      case Primitive::kEvent:
        for (int i = 0; i < n; ++i) sh.as<StdEvent>()[i].~StdEvent();
        break;
      case Primitive::kCondition: sh.as<StdCondition>()->~StdCondition(); break;
      case Primitive::kBarrier: sh.as<std::barrier<>>()->~barrier(); break;
    }
    return;
  }
  // Process-shared objects a killed party may have held are not destroyed (destroying a held
  // mutex is undefined); the region's unmapping frees their memory.
}

std::uint64_t expected_passes(std::uint64_t rounds, int parties, int i) {
  const std::uint64_t n = std::uint64_t(parties), idx = std::uint64_t(i);
  return rounds / n + (idx < rounds % n ? 1 : 0);
}

}  // namespace

const char* primitive_impl(Primitive p, PeerKind peer) {
  const bool proc = process_peer(peer);
  switch (p) {
    case Primitive::kMutex: return proc ? "pthread_mutex_t (process-shared, robust)" : "std::mutex";
    case Primitive::kRecursiveMutex: return proc ? "boost::interprocess::interprocess_recursive_mutex" : "std::recursive_mutex";
    case Primitive::kSemaphore: return proc ? "boost::interprocess::interprocess_semaphore" : "std::counting_semaphore";
    case Primitive::kBoundedSemaphore: return proc ? "named POSIX semaphore (sem_open) with a bound check" : "std::counting_semaphore with a bound check";
    case Primitive::kEvent: return proc ? "boost::interprocess mutex + condition + flag" : "std::mutex + std::condition_variable + flag";
    case Primitive::kCondition: return proc ? "pthread_cond_t + pthread_mutex_t (process-shared)" : "std::condition_variable + std::mutex";
    case Primitive::kBarrier: return proc ? "pthread_barrier_t (process-shared)" : "std::barrier";
  }
  return "?";
}

int sync_party(PartyContext& ctx) {
  auto* sh = reinterpret_cast<SyncShared*>(ctx.payload);
  // The party's own count must be the one the region was made for: the primitives' storage and
  // the samples are laid out for it.
  if (const int n = sh->parties; n != ctx.parties)
    return ctx.fail("sync shared word 'parties' = " + std::to_string(n) + ", expected " + std::to_string(ctx.parties));
  return process_peer(ctx.kind) ? process_party(ctx, *sh) : thread_party(ctx, *sh);
}

SyncResult run_sync(const SyncPlan& plan) {
  SyncResult res;
  IPCM_CHECK(plan.parties >= 1 && plan.parties <= kMaxParties && plan.rounds > 0);
  const std::size_t bytes =
      kGroupPayloadOffset + sizeof(SyncShared) + std::size_t(plan.parties) * kSyncSampleCap * sizeof(std::uint32_t);
  Made<ShmSegment> region = ShmSegment::create(bytes, "sync");
  if (!region) {
    res.error = region.error;
    return res;
  }
  auto* sh = new (region.value->data() + kGroupPayloadOffset) SyncShared();
  sh->primitive = plan.primitive;
  sh->parties = plan.parties;
  sh->rounds = plan.rounds;
  sh->last_owner = -1;
  NamedSems sems;
  if (std::string e = construct(*sh, plan.peer, sems); !e.empty()) {
    res.error = e;
    return res;
  }
  std::string err;
  {
    Made<PartyGroup> g = PartyGroup::start(plan.peer, "sync", *region.value, plan.parties);
    if (!g) {
      err = g.error;
    } else {
      err = g.value->wait_ready();
      if (err.empty()) {
        g.value->open_gate();
        if (plan.on_running) plan.on_running(g.value->pids());
        err = g.value->wait_done();
      }
      if (err.empty()) {
        res.seconds = TickClock::get().to_ns(g.value->last_finish_tick() - g.value->header().start_tick) * 1e-9;
        res.cpu_ns = g.value->cpu_ns();
      }
    }
  }
  destroy(*sh, plan);
  if (!err.empty()) {
    if (process_peer(plan.peer) && plan.primitive != Primitive::kMutex && err.find("killed") != std::string::npos)
      err += std::string("; ") + primitive_impl(plan.primitive, plan.peer) +
             " cannot recover from a dead party, so the run was stopped rather than left waiting";
    res.error = err;
    return res;
  }
  // Verification: every acquisition or pass happened exactly once.
  std::uint64_t total = 0;
  for (int i = 0; i < plan.parties; ++i) total += sh->count[i];
  if (is_lock(plan.primitive)) {
    if (sh->acquisitions != plan.rounds || total != plan.rounds)
      res.error = "lost acquisitions: counter " + std::to_string(sh->acquisitions) + ", parties counted " +
                  std::to_string(total) + ", expected " + std::to_string(plan.rounds);
  } else {
    for (int i = 0; i < plan.parties && res.error.empty(); ++i) {
      const std::uint64_t want =
          plan.primitive == Primitive::kBarrier ? plan.rounds : expected_passes(plan.rounds, plan.parties, i);
      if (sh->count[i] != want)
        res.error = "party " + std::to_string(i) + " counted " + std::to_string(sh->count[i]) + " rounds, expected " +
                    std::to_string(want);
    }
  }
  if (!res.error.empty()) return res;
  res.rounds = plan.rounds;
  const TickClock& clock = TickClock::get();
  for (int i = 0; i < plan.parties; ++i) {
    const std::uint64_t n = std::min<std::uint64_t>(sh->taken[i], kSyncSampleCap);
    const std::uint32_t* s = sh->samples(i);
    for (std::uint64_t k = 0; k < n; ++k) res.handoff_ns.record(clock.to_ns_fast(s[k]));
  }
  return res;
}

}  // namespace ipcm
