// The sync family's protocols, counted instead of timed: every primitive between threads,
// forked and spawned processes hands off exactly as often as it should (a lost wake-up would
// hang and time out), a dead lock holder is recovered (robust mutex) or reported, never waited
// for, and nothing is left behind.
#include <gtest/gtest.h>
#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>

#include "harness/core/names.h"
#include "tests/support.h"
#include "harness/launch/party.h"
#include "bench/sync/sync.h"

namespace ipcm {
namespace {

struct SyncCase {
  Primitive primitive;
  PeerKind peer;
  int parties;
};

std::string case_name(const testing::TestParamInfo<SyncCase>& info) {
  return std::string(primitive_name(info.param.primitive)) + "_" + peer_name(info.param.peer) + "_" +
         std::to_string(info.param.parties);
}

std::vector<SyncCase> all_cases() {
  std::vector<SyncCase> v;
  for (Primitive p : kAllPrimitives)
    for (PeerKind k : kAllPeers)
      for (int n : {1, 2, 3}) v.push_back({p, k, n});
  return v;
}

class SyncProtocol : public testing::TestWithParam<SyncCase> {};

// An odd number of rounds over 3 parties: the last pass lands on a party other than 0.
constexpr std::uint64_t kRounds = 3001;

TEST_P(SyncProtocol, EveryHandOffHappensExactlyAndCleansUp) {
  const SyncCase& c = GetParam();
  const std::set<std::string> before = my_objects();
  SyncPlan plan;
  plan.primitive = c.primitive;
  plan.peer = c.peer;
  plan.parties = c.parties;
  plan.rounds = kRounds;
  const SyncResult r = run_sync(plan);
  if (expect_table_refusal(c.peer, PeerUse::kGroupParty, r.error)) return;
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.rounds, kRounds);
  EXPECT_GT(r.seconds, 0);
  if (!is_lock(c.primitive) || c.parties == 1) {
    // Ring and barrier hand off every round (the first pass has no predecessor).
    const std::uint64_t want = c.primitive == Primitive::kBarrier ? kRounds * std::uint64_t(c.parties) : kRounds - 1;
    EXPECT_EQ(r.handoff_ns.count(), want);
  }
  // Between locks a hand-off may not happen at all (the holder may re-take it every time).
  if (r.handoff_ns.count() > 0) EXPECT_GT(r.handoff_ns.quantile(0.5), 0);
  EXPECT_EQ(my_objects(), before) << "named objects left behind";
  EXPECT_TRUE(no_children_left());
}

INSTANTIATE_TEST_SUITE_P(All, SyncProtocol, testing::ValuesIn(all_cases()), case_name);

// Many rounds between two processes on the blocking primitives: a lost wake-up would stop the
// ring, and the group's timeout would turn that into an error.
TEST(SyncProtocol, NoLostWakeupsOverManyRounds) {
  for (Primitive p : {Primitive::kEvent, Primitive::kCondition, Primitive::kSemaphore}) {
    for (PeerKind k : {PeerKind::kThread, PeerKind::kFork}) {
      SyncPlan plan{p, k, 2, 200'000, {}};
      const SyncResult r = run_sync(plan);
      EXPECT_EQ(r.error, "") << primitive_name(p) << "/" << peer_name(k);
      EXPECT_EQ(r.rounds, plan.rounds);
    }
  }
}

// A party killed mid-run ends the run promptly with an error that names the signal, for
// every primitive between processes; nothing waits for the dead party.
TEST(SyncFaults, KilledPartyNeverHangsTheRun) {
  const std::set<std::string> before = my_objects();
  for (Primitive p : kAllPrimitives) {
    for (PeerKind k : {PeerKind::kFork, PeerKind::kSpawn}) {
      SyncPlan plan{p, k, 3, 1'000'000'000, {}};
      plan.on_running = [](const std::vector<pid_t>& pids) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        kill(pids[0], SIGKILL);
      };
      const auto t0 = std::chrono::steady_clock::now();
      const SyncResult r = run_sync(plan);
      const auto took = std::chrono::steady_clock::now() - t0;
      EXPECT_NE(r.error.find("killed by signal"), std::string::npos) << primitive_name(p) << ": " << r.error;
      EXPECT_LT(took, std::chrono::seconds(5)) << primitive_name(p);
    }
  }
  EXPECT_EQ(my_objects(), before);
  EXPECT_TRUE(no_children_left());
}

// The robust mutex: a holder that dies with it locked (exits, or is killed) hands the next
// locker EOWNERDEAD, which recovers it; afterwards it works as before.
TEST(SyncFaults, RobustMutexRecoversFromADeadHolder) {
  void* mem = mmap(nullptr, sizeof(RobustMutex) + sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* m = static_cast<RobustMutex*>(mem);
  ASSERT_EQ(m->init(false), 0);
  for (bool by_signal : {false, true}) {
    auto* locked = reinterpret_cast<volatile int*>(static_cast<char*>(mem) + sizeof(RobustMutex));
    *locked = 0;
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      if (m->lock() == RobustMutex::Locked::kFailed) _exit(1);
      *locked = 1;
      if (by_signal) pause();  // killed while holding it
      _exit(0);                // exits while holding it
    }
    while (*locked == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (by_signal) kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_EQ(m->lock(), RobustMutex::Locked::kRecovered);
    m->unlock();
    EXPECT_EQ(m->lock(), RobustMutex::Locked::kAcquired);
    m->unlock();
  }
  m->destroy();
  munmap(mem, sizeof(RobustMutex) + sizeof(int));
}

TEST(SyncNames, EveryPrimitiveHasItsContractName) {
  std::set<std::string> names;
  for (Primitive p : kAllPrimitives) {
    names.insert(primitive_name(p));
    EXPECT_EQ(parse_primitive(primitive_name(p)), p);
  }
  EXPECT_EQ(names, (std::set<std::string>{"mutex", "recursive_mutex", "semaphore", "bounded_semaphore", "event",
                                          "condition", "barrier"}));
}

}  // namespace
}  // namespace ipcm
