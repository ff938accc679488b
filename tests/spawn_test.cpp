// The spawn family's harness: every start method starts, is ready and is reaped; a missing
// exec helper refuses the helper methods with a reason while the *_self ones still run; the
// fork server shuts down when asked and when its client goes; the ballast is resident while
// held and released after; bad methods and sizes are refused with a reason; fork is refused
// while another thread is alive.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "harness/launch/forkserver.h"
#include "bench/spawn/rss.h"
#include "bench/spawn/spawn.h"
#include "harness/launch/workers.h"

namespace ipcm {
namespace {

constexpr int kStarts = 5;

// The test binary is built in tests/, not beside the helper: CMake says where the helper is.
const std::string kHelper = exec_helper_path(IPCM_EXEC_HELPER_DIR);

TEST(Spawn, EveryMethodStartsAndReapsItsChildren) {
  for (StartMethod m : kAllStartMethods) {
    SCOPED_TRACE(start_method_name(m));
    Made<Starter> s = Starter::make(m, kHelper);
    ASSERT_TRUE(s) << s.error;
    for (int i = 0; i < kStarts; ++i) {
      StartSample sample;
      std::string why;
      ASSERT_TRUE(s.value->start_once(sample, why)) << why;
      EXPECT_GT(sample.ready_ns, 0u);
      EXPECT_GE(sample.lifecycle_ns, sample.ready_ns);
    }
  }
  stop_shared_forkserver();
  EXPECT_TRUE(no_children_left());
}

TEST(Spawn, EveryMethodNameParsesBackAndHelperMethodsHaveASelfTwin) {
  int helper = 0, self = 0;
  for (StartMethod m : kAllStartMethods) {
    EXPECT_EQ(parse_start_method(start_method_name(m)), m);
    if (exec_target(m) == ExecTarget::kHelper) {
      ++helper;
      EXPECT_EQ(exec_target(*parse_start_method(std::string(start_method_name(m)) + "_self")), ExecTarget::kSelf);
    }
    self += exec_target(m) == ExecTarget::kSelf;
  }
  EXPECT_EQ(helper, 3);
  EXPECT_EQ(self, 3);
}

TEST(Spawn, MissingHelperRefusesHelperMethodsWithAReason) {
  const std::string missing = exec_helper_path("/nonexistent-ipcmeter-dir");
  for (StartMethod m : kAllStartMethods) {
    if (start_method_forks_caller(m) && !fork_unsafe_reason().empty()) continue;
    SCOPED_TRACE(start_method_name(m));
    Made<Starter> s = Starter::make(m, missing);
    if (exec_target(m) != ExecTarget::kHelper) {
      EXPECT_TRUE(s) << s.error;
      continue;
    }
    ASSERT_FALSE(s);
    EXPECT_NE(s.error.find(missing), std::string::npos) << s.error;
    EXPECT_NE(s.error.find("cmake --build"), std::string::npos) << s.error;
  }
  stop_shared_forkserver();
  EXPECT_TRUE(no_children_left());
}

TEST(Spawn, ForkServerExitsWhenStoppedAndIsReaped) {
  Made<ForkServer> fs = ForkServer::start();
  ASSERT_TRUE(fs) << fs.error;
  const pid_t pid = fs.value->pid();
  std::uint64_t tick = 0;
  std::string why;
  ASSERT_TRUE(fs.value->start_child(tick, why)) << why;
  fs.value.reset();
  EXPECT_EQ(kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  EXPECT_TRUE(no_children_left());
}

TEST(Spawn, BadMethodAndSizeAreRefusedWithAReason) {
  EXPECT_FALSE(parse_start_method("clone3"));
  Made<Starter> s = Starter::make("clone3");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error.find("unknown start method"), std::string::npos);
  Made<Ballast> zero = Ballast::make(0);
  ASSERT_FALSE(zero);
  EXPECT_NE(zero.error.find("at least 1"), std::string::npos);
  EXPECT_NE(ballast_refusal(4096, std::uint64_t(1) << 30).find("does not fit"), std::string::npos);
  EXPECT_EQ(ballast_refusal(1, std::uint64_t(64) << 30), "");
  Made<Ballast> huge = Ballast::make(std::size_t(1) << 24);  // 16 TiB
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.error.find("beyond any machine"), std::string::npos);
}

TEST(Spawn, BallastIsResidentWhileHeldAndReleasedAfter) {
  constexpr std::size_t kMib = 128;
  const auto before = resident_bytes();
  ASSERT_TRUE(before);
  {
    Made<Ballast> b = Ballast::make(kMib);
    ASSERT_TRUE(b) << b.error;
    EXPECT_GE(*resident_bytes(), *before + (kMib - 8) * kMiB);
    double cow = 0;
    std::string why;
    ASSERT_TRUE(measure_cow_ns_per_page(*b.value, cow, why)) << why;
    EXPECT_GT(cow, 0);
  }
  EXPECT_LT(*resident_bytes(), *before + 8 * kMiB);
  EXPECT_TRUE(no_children_left());
}

TEST(Spawn, ForkIsRefusedWhileAnotherThreadLives) {
  std::mutex mu;
  std::condition_variable cv;
  bool go = false;
  std::thread t([&] {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return go; });
  });
  for (StartMethod m : {StartMethod::kFork, StartMethod::kForkExec, StartMethod::kForkExecSelf}) {
    Made<Starter> s = Starter::make(m, kHelper);
    ASSERT_FALSE(s);
    EXPECT_NE(s.error.find("threads are alive"), std::string::npos);
  }
  {
    std::lock_guard<std::mutex> l(mu);
    go = true;
  }
  cv.notify_all();
  t.join();
}

}  // namespace
}  // namespace ipcm
