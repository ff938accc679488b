// The kernel's counts per message: known work done by a thread is counted (or the counter is
// absent with a sentence, never zero), the per-message arithmetic is right on recorded counts,
// and a link's two sides are both counted. No timing is asserted.
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <thread>

#include "bench/pingpong/pingpong.h"
#include "harness/core/histogram.h"
#include "harness/core/kernel_counters.h"
#include "harness/launch/session.h"

namespace ipcm {
namespace {

constexpr int kCalls = 1000;
// What start()/stop() and the test's own bracketing may add to a thread's system calls: the
// one disable counted on the measuring thread, a few more in reserve.
constexpr std::uint64_t kBracketSlack = 16;

std::size_t at(KCounter c) { return std::size_t(c); }

void do_syscalls(int n) {
  // The raw call: glibc may answer some calls without entering the kernel.
  for (int i = 0; i < n; ++i) syscall(SYS_getppid);
}

// A thread that does `work` when told, between the parent's start() and stop(), and nothing
// the kernel sees otherwise (it waits by spinning).
class Worker {
 public:
  template <class Work>
  explicit Worker(Work work)
      : thread_([this, work] {
          tid_.store(this_thread_task().tid);
          while (!go_.load()) {}
          work();
          done_.store(true);
          while (!leave_.load()) {}
        }) {
    while (tid_.load() < 0) {}
  }
  ~Worker() {
    go_.store(true);  // a worker never run does its work now, and leaves
    leave_.store(true);
    thread_.join();
  }
  TaskRef task() const { return {getpid(), tid_.load()}; }
  void run() {
    go_.store(true);
    while (!done_.load()) {}
  }

 private:
  std::atomic<pid_t> tid_{-1};
  std::atomic<bool> go_{false}, done_{false}, leave_{false};
  std::thread thread_;
};

TEST(KernelCounters, CountsAnotherThreadsSyscallsOrSaysWhyNot) {
  Worker w([] { do_syscalls(kCalls); });
  KernelCounters kc({w.task()});
  kc.start();
  w.run();
  kc.stop();
  const KernelCounts n = kc.counts();
  if (!n[at(KCounter::kSyscalls)]) {
    EXPECT_FALSE(kc.why_absent(KCounter::kSyscalls).empty());
    GTEST_SKIP() << "syscalls absent: " << kc.why_absent(KCounter::kSyscalls);
  }
  EXPECT_TRUE(kc.why_absent(KCounter::kSyscalls).empty());
  EXPECT_GE(*n[at(KCounter::kSyscalls)], std::uint64_t(kCalls));
  // The worker spins otherwise: the count is its calls, not the parent's.
  EXPECT_LE(*n[at(KCounter::kSyscalls)], std::uint64_t(kCalls) + kBracketSlack);
}

TEST(KernelCounters, CountsOwnSyscallsWithOnlyTheDisableAdded) {
  KernelCounters kc({this_thread_task()});
  kc.start();
  do_syscalls(kCalls);
  kc.stop();
  const KernelCounts n = kc.counts();
  if (!n[at(KCounter::kSyscalls)]) GTEST_SKIP() << "syscalls absent: " << kc.why_absent(KCounter::kSyscalls);
  EXPECT_GE(*n[at(KCounter::kSyscalls)], std::uint64_t(kCalls));
  EXPECT_LE(*n[at(KCounter::kSyscalls)], std::uint64_t(kCalls) + 1);
}

TEST(KernelCounters, SleepsAreVoluntarySwitches) {
  constexpr int kSleeps = 50;
  Worker w([] {
    for (int i = 0; i < kSleeps; ++i) {
      const timespec ts{0, 200'000};
      nanosleep(&ts, nullptr);
    }
  });
  KernelCounters kc({w.task()});
  kc.start();
  w.run();
  kc.stop();
  const KernelCounts n = kc.counts();
  // /proc is read on every Linux: the split is always there.
  ASSERT_TRUE(n[at(KCounter::kVoluntarySwitches)]) << kc.why_absent(KCounter::kVoluntarySwitches);
  ASSERT_TRUE(n[at(KCounter::kInvoluntarySwitches)]) << kc.why_absent(KCounter::kInvoluntarySwitches);
  ASSERT_TRUE(n[at(KCounter::kCtxSwitches)]) << kc.why_absent(KCounter::kCtxSwitches);
  // Each sleep switches out, unless its timer has fired before the thread got to sleep (a
  // preemption or a host that stole the vCPU in between): most, not all, on a busy VM.
  EXPECT_GE(*n[at(KCounter::kVoluntarySwitches)], std::uint64_t(kSleeps / 2));
  EXPECT_GE(*n[at(KCounter::kCtxSwitches)], std::uint64_t(kSleeps / 2));
}

TEST(KernelCounters, FreshPagesAreFaults) {
  constexpr std::size_t kPages = 64;
  const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
  void* mem = mmap(nullptr, kPages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  // One fault per page, not one per huge page.
  madvise(mem, kPages * page, MADV_NOHUGEPAGE);
  KernelCounters kc({this_thread_task()});
  kc.start();
  for (std::size_t i = 0; i < kPages; ++i) static_cast<volatile char*>(mem)[i * page] = 1;
  kc.stop();
  munmap(mem, kPages * page);
  const KernelCounts n = kc.counts();
  ASSERT_TRUE(n[at(KCounter::kPageFaults)]) << kc.why_absent(KCounter::kPageFaults);
  EXPECT_GE(*n[at(KCounter::kPageFaults)], std::uint64_t(kPages));
}

TEST(KernelCounters, PerMessageDividesPresentCountsAndLeavesAbsentOnesOut) {
  KernelCounts n;
  n[at(KCounter::kSyscalls)] = 4000;
  n[at(KCounter::kCtxSwitches)] = 0;  // counted, and none happened: present as zero
  n[at(KCounter::kVoluntarySwitches)] = 1000;
  const auto rows = per_message(n, 2000);
  ASSERT_EQ(rows.size(), 3u);
  std::map<std::string, double> got(rows.begin(), rows.end());
  EXPECT_DOUBLE_EQ(got.at("syscalls_per_msg"), 2.0);
  EXPECT_DOUBLE_EQ(got.at("ctx_switches_per_msg"), 0.0);
  EXPECT_DOUBLE_EQ(got.at("voluntary_switches_per_msg"), 0.5);
  EXPECT_EQ(got.count("cycles_per_msg"), 0u);
  EXPECT_EQ(got.count("page_faults_per_msg"), 0u);
  EXPECT_TRUE(per_message(n, 0).empty());
}

TEST(KernelCounters, UnknownThreadsGiveAbsentCountersWithReasons) {
  pid_t gone;
  {
    Worker w([] {});
    gone = w.task().tid;
  }
  for (const std::vector<TaskRef>& tasks : {std::vector<TaskRef>{}, std::vector<TaskRef>{{getpid(), gone}}}) {
    KernelCounters kc(tasks);
    kc.start();
    kc.stop();
    const KernelCounts n = kc.counts();
    for (KCounter c : kAllKCounters) {
      EXPECT_FALSE(n[at(c)]) << kcounter_per_msg_name(c);
      EXPECT_FALSE(kc.why_absent(c).empty()) << kcounter_per_msg_name(c);
    }
    EXPECT_TRUE(per_message(n, 100).empty());
  }
}

TEST(KernelCounters, ResultsSectionNamesEveryCounter) {
  const nlohmann::json j = kernel_counters_json();
  ASSERT_TRUE(j.contains("perf_event_paranoid"));
  ASSERT_TRUE(j.contains("syscall_tracepoint_id"));
  for (KCounter c : kAllKCounters) {
    const auto& e = j["counters"][kcounter_per_msg_name(c)];
    ASSERT_TRUE(e["available"].is_boolean()) << kcounter_per_msg_name(c);
    // Absent somewhere: the sentence is there.
    if (!e["available"].get<bool>()) {
      EXPECT_TRUE(e["why_absent"].is_string()) << kcounter_per_msg_name(c);
    }
  }
}

// A pipe round trip: each side writes once and reads once per round trip, so at least two
// system calls per message over both sides (each message is one write and one read).
TEST(KernelCounters, PipeRoundTripsCountBothSides) {
  for (PeerKind peer : {PeerKind::kThread, PeerKind::kFork}) {
    SessionOptions o;
    o.transport = find_transport("pipe");
    o.peer = peer;
    o.role = Role::kEcho;
    o.cfg.msg_bytes = 64;
    o.cfg.depth = 1;
    o.cfg.wait = Wait::kBlock;
    Made<Session> s = Session::start(o);
    ASSERT_TRUE(s) << s.error;
    // The measuring thread and at least the peer's one.
    ASSERT_GE(s.value->counted_tasks().size(), 2u) << peer_name(peer);
    constexpr std::uint64_t kTrips = 200;
    MessageSet ms(64);
    Histogram h;
    std::uint64_t seq = 0, left = kTrips;
    KernelCounters kc(s.value->counted_tasks());
    kc.start();
    Status st = pingpong_loop(s.value->channel(), ms, h, s.value->progress(), 0, seq, [&] { return left-- > 0; });
    kc.stop();
    ASSERT_TRUE(st) << s.value->explain(st);
    ASSERT_TRUE(s.value->request_stop(ms, seq));
    ASSERT_TRUE(s.value->finish(ms, seq));
    const KernelCounts n = kc.counts();
    const auto rows = per_message(n, 2 * kTrips);
    std::map<std::string, double> got(rows.begin(), rows.end());
    ASSERT_TRUE(got.count("voluntary_switches_per_msg")) << peer_name(peer);
    ASSERT_TRUE(got.count("ctx_switches_per_msg")) << peer_name(peer);
    if (got.count("syscalls_per_msg")) {
      EXPECT_GE(got["syscalls_per_msg"], 2.0) << peer_name(peer);
      // The peer's own bookkeeping adds little: well under two more per message.
      EXPECT_LT(got["syscalls_per_msg"], 4.0) << peer_name(peer);
    } else {
      EXPECT_FALSE(kc.why_absent(KCounter::kSyscalls).empty());
    }
  }
}

}  // namespace
}  // namespace ipcm
